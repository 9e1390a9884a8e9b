/*
 * io.c — see io.h.
 */
#include <windows.h>
#include <initguid.h>
#include <setupapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

DEFINE_GUID(READER_INTERFACE, 0x50dd5230, 0xba8a, 0x11d1, 0xbf, 0x5d, 0x00, 0x00, 0xf8, 0x05,
            0xf5, 0x30);

/* Profile::t0_t1 of card-sim: T=0 (default) and T=1 offered. */
const BYTE EXPECTED_ATR[20] = {0x3B, 0x9B, 0x96, 0x80, 0x71, 0xFE, 0x45, 0x00, 0x80, 0x65,
                               0x52, 0x4B, 0x53, 0x49, 0x4D, 0x73, 0x10, 0x21, 0x40, 0xEE};

volatile LONG passed, failed;
WCHAR path[512];

void check(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("ok   %s\n", name);
        InterlockedIncrement(&passed);
        return;
    }
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s\n", name, why); /* one call: lines of threads do not mix */
    InterlockedIncrement(&failed);
}

void hex(char *out, size_t cap, const BYTE *b, DWORD n)
{
    size_t at = 0;
    out[0] = 0;
    for (DWORD i = 0; i < n && at + 4 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02X ", b[i]);
}

/* Find the reader's interface path; waits up to `ms` for it to appear. */
int find_reader(DWORD ms)
{
    for (DWORD waited = 0;; waited += 100) {
        HDEVINFO set = SetupDiGetClassDevsW(&READER_INTERFACE, NULL, NULL,
                                            DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
        if (set != INVALID_HANDLE_VALUE) {
            SP_DEVICE_INTERFACE_DATA itf = {.cbSize = sizeof itf};
            if (SetupDiEnumDeviceInterfaces(set, NULL, &READER_INTERFACE, 0, &itf)) {
                BYTE buf[sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W) + sizeof path];
                SP_DEVICE_INTERFACE_DETAIL_DATA_W *detail = (void *)buf;
                detail->cbSize = sizeof *detail;
                if (SetupDiGetDeviceInterfaceDetailW(set, &itf, detail, sizeof buf, NULL, NULL)) {
                    wcsncpy(path, detail->DevicePath, 511);
                    SetupDiDestroyDeviceInfoList(set);
                    return 1;
                }
            }
            SetupDiDestroyDeviceInfoList(set);
        }
        if (waited >= ms)
            return 0;
        Sleep(100);
    }
}

HANDLE open_reader(void)
{
    return CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                       FILE_FLAG_OVERLAPPED, NULL);
}

void start(Async *a, HANDLE h, DWORD code, const void *in, DWORD inlen, void *out,
           DWORD outlen)
{
    memset(a, 0, sizeof *a);
    a->h = h;
    a->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (DeviceIoControl(h, code, (void *)in, inlen, out, outlen, NULL, &a->ov)) {
        a->started = 0;
    } else {
        a->started = GetLastError();
        a->pending = a->started == ERROR_IO_PENDING;
    }
}

/* Wait up to `ms`; returns 1 and the result if it completed. */
int finish(Async *a, DWORD ms, DWORD *error, DWORD *bytes)
{
    if (WaitForSingleObject(a->ov.hEvent, ms) != WAIT_OBJECT_0)
        return 0;
    *bytes = 0;
    *error = GetOverlappedResult(a->h, &a->ov, bytes, FALSE) ? 0 : GetLastError();
    return 1;
}

void done(Async *a)
{
    CloseHandle(a->ov.hEvent);
}

/* A request, waited for (10 s hang guard). Returns the Win32 error (0 = success). */
DWORD ioctl(HANDLE h, DWORD code, const void *in, DWORD inlen, void *out, DWORD outlen,
            DWORD *bytes)
{
    Async a;
    DWORD error = 0, n = 0;
    start(&a, h, code, in, inlen, out, outlen);
    if (a.started && !a.pending) {
        done(&a);
        if (bytes)
            *bytes = 0;
        return a.started;
    }
    if (!finish(&a, 10000, &error, &n)) {
        CancelIo(h);
        finish(&a, 10000, &error, &n);
        error = WAIT_TIMEOUT;
    }
    done(&a);
    if (bytes)
        *bytes = n;
    return error;
}

DWORD get_state(HANDLE h, DWORD *state)
{
    DWORD n = 0;
    *state = 0;
    DWORD e = ioctl(h, IOCTL_SMARTCARD_GET_STATE, NULL, 0, state, sizeof *state, &n);
    return e ? e : (n == 4 ? 0 : ERROR_INVALID_DATA);
}

DWORD power(HANDLE h, DWORD action, BYTE *atr, DWORD *atrlen)
{
    return ioctl(h, IOCTL_SMARTCARD_POWER, &action, sizeof action, atr, atr ? 64 : 0, atrlen);
}

DWORD set_protocol(HANDLE h, DWORD mask, DWORD *selected)
{
    DWORD n = 0;
    *selected = 0;
    return ioctl(h, IOCTL_SMARTCARD_SET_PROTOCOL, &mask, sizeof mask, selected, sizeof *selected,
                 &n);
}

DWORD card(HANDLE h, BYTE in)
{
    return ioctl(h, IOCTL_VREADER_CARD, &in, 1, NULL, 0, NULL);
}

DWORD power_control(HANDLE h, BYTE in)
{
    return ioctl(h, IOCTL_VREADER_POWER, &in, 1, NULL, 0, NULL);
}

DWORD transmit_request(HANDLE h, DWORD protocol, DWORD pci, const BYTE *apdu, DWORD len,
                       BYTE *out, DWORD outlen, DWORD *n)
{
    *n = 0;
    if (len > TRANSMIT_MAX_APDU)
        return ERROR_INSUFFICIENT_BUFFER;
    /* Its own buffer: client.c transmits from several threads at once. */
    BYTE *in = malloc(8 + len);
    if (!in)
        return ERROR_NOT_ENOUGH_MEMORY;
    memcpy(in, &protocol, 4);
    memcpy(in + 4, &pci, 4);
    if (len) /* apdu may be NULL for none, and memcpy from NULL is undefined even for 0 */
        memcpy(in + 8, apdu, len);
    DWORD e = ioctl(h, IOCTL_SMARTCARD_TRANSMIT, in, 8 + len, out, outlen, n);
    free(in);
    return e;
}

DWORD transmit(HANDLE h, DWORD protocol, const BYTE *apdu, DWORD len, BYTE *resp, DWORD cap,
               DWORD *resplen)
{
    BYTE out[300];
    SCARD_IO_REQUEST hdr = {protocol, sizeof hdr};
    DWORD n = 0;
    *resplen = 0;
    DWORD e = transmit_request(h, hdr.dwProtocol, hdr.cbPciLength, apdu, len, out, sizeof out,
                               &n);
    if (e)
        return e;
    if (n < sizeof hdr)
        return ERROR_INVALID_DATA;
    if (n - sizeof hdr > cap)
        return ERROR_INSUFFICIENT_BUFFER;
    *resplen = n - sizeof hdr;
    if (*resplen) /* resp may be NULL when cap is 0 */
        memcpy(resp, out + sizeof hdr, *resplen);
    return 0;
}

int ends_9000(const BYTE *r, DWORD n)
{
    return n >= 2 && r[n - 2] == 0x90 && r[n - 1] == 0x00;
}

DWORD get_attr(HANDLE h, DWORD tag, BYTE *out, DWORD cap, DWORD *n)
{
    return ioctl(h, IOCTL_SMARTCARD_GET_ATTRIBUTE, &tag, sizeof tag, out, cap, n);
}


void check_echo(HANDLE h, DWORD protocol, BYTE x, BYTE y, BYTE z, const char *name)
{
    const BYTE echo[] = {0x80, 0xEE, 0x00, 0x00, 0x03, x, y, z, 0x00};
    BYTE r[300];
    char a[256];
    DWORD n = 0;
    DWORD e = transmit(h, protocol, echo, sizeof echo, r, sizeof r, &n);
    hex(a, sizeof a, r, n);
    check(!e && n == 5 && r[0] == x && r[1] == y && r[2] == z && ends_9000(r, n), name,
          "error %lu, %s", e, a);
}
