/*
 * install.exe — installs the readerkit sample driver as a root-enumerated PnP device,
 * the way devcon/devgen do on Windows, through SetupAPI and newdev:
 *
 *   install.exe add    PATH\readerkit-vreader.inf
 *   install.exe remove
 *
 * add:    SetupDiCreateDeviceInfo (class SmartCardReader, generated instance id), the
 *         hardware id property root\readerkit_vreader, DIF_REGISTERDEVICE, then
 *         UpdateDriverForPlugAndPlayDevices with the INF (copies the .sys, creates the
 *         service, starts the device: DriverEntry, AddDevice, IRP_MN_START_DEVICE).
 * remove: DIF_REMOVE on every device with that hardware id (the PnP manager sends
 *         IRP_MN_SURPRISE_REMOVAL under Wine, then IRP_MN_REMOVE_DEVICE).
 *
 * Built with x86_64-w64-mingw32-gcc by tools/wdm-wine.sh; run under Wine there. Exit
 * status 0 on success, 1 on failure, with one line on stderr saying which call failed.
 */
#include <windows.h>
#include <initguid.h>
#include <devguid.h>
#include <setupapi.h>
#include <newdev.h>
#include <stdio.h>
#include <wchar.h>

static const WCHAR HARDWARE_ID[] = L"root\\readerkit_vreader";

static int fail(const char *what)
{
    fprintf(stderr, "install: %s failed: error %lu\n", what, GetLastError());
    return 1;
}

static int add(const WCHAR *inf)
{
    WCHAR full[MAX_PATH];
    if (!GetFullPathNameW(inf, MAX_PATH, full, NULL))
        return fail("GetFullPathName");
    HDEVINFO set = SetupDiCreateDeviceInfoList(&GUID_DEVCLASS_SMARTCARDREADER, NULL);
    if (set == INVALID_HANDLE_VALUE)
        return fail("SetupDiCreateDeviceInfoList");
    SP_DEVINFO_DATA dev = {.cbSize = sizeof dev};
    if (!SetupDiCreateDeviceInfoW(set, L"SmartCardReader", &GUID_DEVCLASS_SMARTCARDREADER,
                                  NULL, NULL, DICD_GENERATE_ID, &dev))
        return fail("SetupDiCreateDeviceInfo");
    /* REG_MULTI_SZ: the id, then an empty string. */
    WCHAR ids[64] = {0};
    wcscpy(ids, HARDWARE_ID);
    DWORD bytes = (DWORD)((wcslen(HARDWARE_ID) + 2) * sizeof(WCHAR));
    if (!SetupDiSetDeviceRegistryPropertyW(set, &dev, SPDRP_HARDWAREID, (BYTE *)ids, bytes))
        return fail("SetupDiSetDeviceRegistryProperty(SPDRP_HARDWAREID)");
    if (!SetupDiCallClassInstaller(DIF_REGISTERDEVICE, set, &dev))
        return fail("SetupDiCallClassInstaller(DIF_REGISTERDEVICE)");
    SetupDiDestroyDeviceInfoList(set);
    BOOL reboot = FALSE;
    if (!UpdateDriverForPlugAndPlayDevicesW(NULL, HARDWARE_ID, full, INSTALLFLAG_FORCE, &reboot))
        return fail("UpdateDriverForPlugAndPlayDevices");
    printf("install: device root\\readerkit_vreader installed from %ls\n", full);
    return 0;
}

static int has_our_id(HDEVINFO set, SP_DEVINFO_DATA *dev)
{
    WCHAR ids[256];
    DWORD type = 0;
    if (!SetupDiGetDeviceRegistryPropertyW(set, dev, SPDRP_HARDWAREID, &type, (BYTE *)ids,
                                           sizeof ids - sizeof(WCHAR), NULL))
        return 0;
    ids[255] = 0;
    for (WCHAR *id = ids; *id; id += wcslen(id) + 1)
        if (!_wcsicmp(id, HARDWARE_ID))
            return 1;
    return 0;
}

static int remove_all(void)
{
    HDEVINFO set = SetupDiGetClassDevsW(&GUID_DEVCLASS_SMARTCARDREADER, NULL, NULL, 0);
    if (set == INVALID_HANDLE_VALUE)
        return fail("SetupDiGetClassDevs");
    int removed = 0;
    SP_DEVINFO_DATA dev = {.cbSize = sizeof dev};
    for (DWORD i = 0; SetupDiEnumDeviceInfo(set, i, &dev); i++) {
        if (!has_our_id(set, &dev))
            continue;
        if (!SetupDiCallClassInstaller(DIF_REMOVE, set, &dev))
            return fail("SetupDiCallClassInstaller(DIF_REMOVE)");
        removed++;
    }
    SetupDiDestroyDeviceInfoList(set);
    if (!removed) {
        fprintf(stderr, "install: no device root\\readerkit_vreader to remove\n");
        return 1;
    }
    printf("install: %d device(s) removed\n", removed);
    return 0;
}

int wmain(int argc, WCHAR **argv)
{
    if (argc == 3 && !wcscmp(argv[1], L"add"))
        return add(argv[2]);
    if (argc == 2 && !wcscmp(argv[1], L"remove"))
        return remove_all();
    fprintf(stderr, "usage: install.exe add FILE.inf | install.exe remove\n");
    return 2;
}
