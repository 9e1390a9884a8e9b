/*
 * client.exe — drives the readerkit sample driver (readerkit-vreader.sys) through the
 * real I/O manager path: SetupAPI finds GUID_DEVINTERFACE_SMARTCARD_READER, CreateFile
 * opens it, every check is a DeviceIoControl (overlapped). One line per check:
 *
 *   ok   <check>
 *   FAIL <check>: <what was seen>
 *
 * then "client: N passed, M failed". Exit status 0 only if every check passed.
 *
 *   client.exe run     all checks except removal, then TRANSMIT round trips per second
 *   client.exe remove  with a tracking request pending: DIF_REMOVE (surprise removal
 *                      and IRP_MN_REMOVE_DEVICE), then the interface must be gone
 *
 * Wine's winscard.dll is a stub, so this speaks the smart card IOCTLs directly, as the
 * Windows smart card service does.
 */
#include <windows.h>
#include <initguid.h>
#include <devguid.h>
#include <setupapi.h>
#include <winsmcrd.h>
#include <stdio.h>
#include <string.h>

#include "io.h"

static void check_string_attr(HANDLE h, const char *name, DWORD tag, const char *want)
{
    char got[64] = {0};
    DWORD n = 0;
    DWORD e = get_attr(h, tag, (BYTE *)got, sizeof got - 1, &n);
    check(!e && n == strlen(want) && !memcmp(got, want, n), name,
          "error %lu, %lu bytes \"%.*s\"", e, n, (int)n, got);
}

/* IS_PRESENT / IS_ABSENT must pend; returns 1 if it did (and is left in flight). */
static int pends(Async *a, HANDLE h, DWORD code, const char *name)
{
    start(a, h, code, NULL, 0, NULL, 0);
    DWORD e = 0, n = 0;
    int still = a->pending && !finish(a, 300, &e, &n);
    check(still, name, "DeviceIoControl gave %lu at once, then %lu", a->started, e);
    return still;
}

static void expect_completion(Async *a, DWORD want, const char *name)
{
    DWORD e = 0, n = 0;
    int came = finish(a, 5000, &e, &n);
    if (came)
        check(e == want, name, "completed with %lu", e);
    else
        check(0, name, "still pending after 5 s");
    if (!came) {
        CancelIo(a->h);
        finish(a, 5000, &e, &n);
    }
    done(a);
}

static void attributes(HANDLE h)
{
    check_string_attr(h, "GET_ATTRIBUTE VENDOR_NAME = readerkit", SCARD_ATTR_VENDOR_NAME,
                      "readerkit");
    check_string_attr(h, "GET_ATTRIBUTE VENDOR_IFD_TYPE = Virtual Reader",
                      SCARD_ATTR_VENDOR_IFD_TYPE, "Virtual Reader");
    check_string_attr(h, "GET_ATTRIBUTE VENDOR_IFD_SERIAL_NO = VREADER-0001",
                      SCARD_ATTR_VENDOR_IFD_SERIAL_NO, "VREADER-0001");
    DWORD types = 0, n = 0;
    DWORD e = get_attr(h, SCARD_ATTR_PROTOCOL_TYPES, (BYTE *)&types, sizeof types, &n);
    check(!e && n == 4 && (types & 3) == 3, "GET_ATTRIBUTE PROTOCOL_TYPES has T=0 and T=1",
          "error %lu, %lu bytes, %08lX", e, n, types);
}

static void refusals(HANDLE h)
{
    DWORD n = 0, e;
    e = ioctl(h, IOCTL_UNKNOWN, NULL, 0, NULL, 0, NULL);
    check(e == ERROR_INVALID_FUNCTION, "undefined smart card IOCTL -> ERROR_INVALID_FUNCTION",
          "error %lu", e);
    e = ioctl(h, SCARD_CTL_CODE(2050), NULL, 0, NULL, 0, NULL);
    check(e == ERROR_NOT_SUPPORTED, "vendor IOCTL the sample lacks -> ERROR_NOT_SUPPORTED",
          "error %lu", e);
    BYTE two[2];
    e = ioctl(h, IOCTL_SMARTCARD_GET_STATE, NULL, 0, two, sizeof two, &n);
    check(e == ERROR_INSUFFICIENT_BUFFER, "GET_STATE with a 2-byte output -> ERROR_INSUFFICIENT_BUFFER",
          "error %lu", e);
    DWORD unknown_attr = 0x00050999; /* class 5 is not defined */
    BYTE out[32];
    e = get_attr(h, unknown_attr, out, sizeof out, &n);
    check(e == ERROR_NOT_SUPPORTED, "GET_ATTRIBUTE unknown tag -> ERROR_NOT_SUPPORTED",
          "error %lu", e);
}

static void transmit_checks(HANDLE h, DWORD proto, const char *label)
{
    char name[128], a[256];
    BYTE r[300];
    DWORD n = 0, e;
    /* ECHO, case 4: data back, 9000 (under T=0 through GET RESPONSE). */
    snprintf(name, sizeof name, "TRANSMIT %s ECHO (case 4) -> AA BB CC 90 00", label);
    check_echo(h, proto, 0xAA, 0xBB, 0xCC, name);
    /* GET CHALLENGE, case 2: 8 bytes, 9000. */
    static const BYTE chal[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    e = transmit(h, proto, chal, sizeof chal, r, sizeof r, &n);
    hex(a, sizeof a, r, n);
    snprintf(name, sizeof name, "TRANSMIT %s GET CHALLENGE (case 2) -> 8 bytes 90 00", label);
    check(!e && n == 10 && ends_9000(r, n), name, "error %lu, %s", e, a);
    /* SELECT MF, case 3 (P2=0C): 9000. */
    static const BYTE sel[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00};
    e = transmit(h, proto, sel, sizeof sel, r, sizeof r, &n);
    hex(a, sizeof a, r, n);
    snprintf(name, sizeof name, "TRANSMIT %s SELECT MF (case 3) -> 90 00", label);
    check(!e && n == 2 && ends_9000(r, n), name, "error %lu, %s", e, a);
}

static void protocol_checks(HANDLE h)
{
    BYTE atr[64], attr[64];
    DWORD atrlen = 0, n = 0, e, state, sel;
    char a[256], b[256];

    e = get_state(h, &state);
    check(!e && state == SCARD_SWALLOWED, "GET_STATE at start = SWALLOWED (card in, unpowered)",
          "error %lu, state %lu", e, state);
    static const BYTE apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    BYTE r[64];
    e = transmit(h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n);
    check(e == ERROR_BAD_COMMAND, "TRANSMIT before POWER -> ERROR_BAD_COMMAND", "error %lu", e);

    e = power(h, SCARD_COLD_RESET, atr, &atrlen);
    hex(a, sizeof a, atr, atrlen);
    check(!e && atrlen == sizeof EXPECTED_ATR && !memcmp(atr, EXPECTED_ATR, atrlen),
          "POWER cold reset -> the card's ATR", "error %lu, ATR %s", e, a);
    e = get_attr(h, SCARD_ATTR_ATR_STRING, attr, sizeof attr, &n);
    hex(b, sizeof b, attr, n);
    check(!e && n == atrlen && !memcmp(attr, atr, n), "GET_ATTRIBUTE ATR_STRING = POWER's ATR",
          "error %lu, %s vs %s", e, b, a);
    e = get_state(h, &state);
    check(!e && state == SCARD_NEGOTIABLE, "GET_STATE after reset = NEGOTIABLE",
          "error %lu, state %lu", e, state);
    e = transmit(h, SCARD_PROTOCOL_T0, apdu, sizeof apdu, r, sizeof r, &n);
    check(e == ERROR_BAD_COMMAND, "TRANSMIT before SET_PROTOCOL -> ERROR_BAD_COMMAND",
          "error %lu", e);

    e = set_protocol(h, SCARD_PROTOCOL_T0, &sel);
    check(!e && sel == SCARD_PROTOCOL_T0, "SET_PROTOCOL T=0 -> T=0", "error %lu, selected %lu",
          e, sel);
    e = get_state(h, &state);
    check(!e && state == SCARD_SPECIFIC, "GET_STATE after SET_PROTOCOL = SPECIFIC",
          "error %lu, state %lu", e, state);
    transmit_checks(h, SCARD_PROTOCOL_T0, "T=0");

    /* Malformed SCARD_IO_REQUEST headers. */
    BYTE in[32], out[64];
    SCARD_IO_REQUEST bad = {SCARD_PROTOCOL_T0, 4};
    memcpy(in, &bad, sizeof bad);
    memcpy(in + sizeof bad, apdu, sizeof apdu);
    e = ioctl(h, IOCTL_SMARTCARD_TRANSMIT, in, sizeof bad + sizeof apdu, out, sizeof out, &n);
    check(e == ERROR_INVALID_PARAMETER, "TRANSMIT with cbPciLength 4 -> ERROR_INVALID_PARAMETER",
          "error %lu", e);
    bad.cbPciLength = 200;
    memcpy(in, &bad, sizeof bad);
    e = ioctl(h, IOCTL_SMARTCARD_TRANSMIT, in, sizeof bad + sizeof apdu, out, sizeof out, &n);
    check(e == ERROR_INVALID_PARAMETER,
          "TRANSMIT with cbPciLength past the input -> ERROR_INVALID_PARAMETER", "error %lu", e);
    e = ioctl(h, IOCTL_SMARTCARD_TRANSMIT, in, 3, out, sizeof out, &n);
    check(e == ERROR_INVALID_PARAMETER, "TRANSMIT with a 3-byte input -> ERROR_INVALID_PARAMETER",
          "error %lu", e);

    /* T=1: reset, then PPS to T=1. */
    e = power(h, SCARD_COLD_RESET, atr, &atrlen);
    check(!e, "POWER cold reset again", "error %lu", e);
    e = set_protocol(h, SCARD_PROTOCOL_T1, &sel);
    check(!e && sel == SCARD_PROTOCOL_T1, "SET_PROTOCOL T=1 -> T=1", "error %lu, selected %lu",
          e, sel);
    DWORD cur = 0;
    e = get_attr(h, SCARD_ATTR_CURRENT_PROTOCOL_TYPE, (BYTE *)&cur, sizeof cur, &n);
    check(!e && n == 4 && cur == SCARD_PROTOCOL_T1, "GET_ATTRIBUTE CURRENT_PROTOCOL_TYPE = T=1",
          "error %lu, %lu", e, cur);
    transmit_checks(h, SCARD_PROTOCOL_T1, "T=1");
}

static void tracking_checks(HANDLE h)
{
    Async a, b;
    DWORD e = 0, n = 0, state;

    start(&a, h, IOCTL_SMARTCARD_IS_PRESENT, NULL, 0, NULL, 0);
    int now = !a.started || (a.pending && finish(&a, 1000, &e, &n) && !e);
    check(now && !a.started, "IS_PRESENT with a card completes at once",
          "DeviceIoControl gave %lu, then %lu", a.started, e);
    done(&a);

    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT with a card pends")) {
        start(&b, h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0);
        DWORD e2 = b.started;
        if (b.pending) {
            finish(&b, 3000, &e2, &n);
        }
        check(e2 == ERROR_BUSY, "a second tracking request -> ERROR_BUSY", "error %lu", e2);
        done(&b);
        e = card(h, 0);
        check(!e, "vendor IOCTL: take the card out", "error %lu", e);
        expect_completion(&a, 0, "IS_ABSENT completes on removal");
    }
    e = get_state(h, &state);
    check(!e && state == SCARD_ABSENT, "GET_STATE without a card = ABSENT", "error %lu, state %lu",
          e, state);
    BYTE atr[64], r[64];
    DWORD atrlen;
    e = power(h, SCARD_COLD_RESET, atr, &atrlen);
    check(e == ERROR_NO_MEDIA_IN_DRIVE, "POWER without a card -> ERROR_NO_MEDIA_IN_DRIVE",
          "error %lu", e);
    static const BYTE apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    e = transmit(h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n);
    check(e == ERROR_NO_MEDIA_IN_DRIVE, "TRANSMIT without a card -> ERROR_NO_MEDIA_IN_DRIVE",
          "error %lu", e);
    start(&a, h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0);
    check(!a.started, "IS_ABSENT without a card completes at once", "error %lu", a.started);
    if (a.pending)
        CancelIo(h), finish(&a, 5000, &e, &n);
    done(&a);

    if (pends(&a, h, IOCTL_SMARTCARD_IS_PRESENT, "IS_PRESENT without a card pends")) {
        e = card(h, 1);
        check(!e, "vendor IOCTL: put the card back", "error %lu", e);
        expect_completion(&a, 0, "IS_PRESENT completes on insertion");
    }
    e = get_state(h, &state);
    check(!e && state == SCARD_SWALLOWED, "GET_STATE after insertion = SWALLOWED",
          "error %lu, state %lu", e, state);

    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends (to cancel)")) {
        CancelIo(h);
        expect_completion(&a, ERROR_OPERATION_ABORTED, "CancelIo -> ERROR_OPERATION_ABORTED");
    }
    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends again after the cancel")) {
        CancelIo(h);
        expect_completion(&a, ERROR_OPERATION_ABORTED, "second CancelIo -> ERROR_OPERATION_ABORTED");
    }
}

/* Powered card, T=1 selected, ECHO answered: the reader works (after a wake). */
static void powered_t1(HANDLE h, const char *when)
{
    char name[160];
    BYTE atr[64];
    DWORD atrlen = 0, sel = 0, e;
    e = power(h, SCARD_COLD_RESET, atr, &atrlen);
    if (!e)
        e = set_protocol(h, SCARD_PROTOCOL_T1, &sel);
    snprintf(name, sizeof name, "%s: POWER cold reset, SET_PROTOCOL T=1", when);
    check(!e && sel == SCARD_PROTOCOL_T1, name, "error %lu, selected %lu", e, sel);
    snprintf(name, sizeof name, "%s: TRANSMIT T=1 ECHO -> 11 22 33 90 00", when);
    check_echo(h, SCARD_PROTOCOL_T1, 0x11, 0x22, 0x33, name);
}

static void expect_state(HANDLE h, DWORD want, const char *name)
{
    DWORD state = 0, e = get_state(h, &state);
    check(!e && state == want, name, "error %lu, state %lu", e, state);
}

/* What the reader refuses asleep (Device::suspend's rule: STATUS_DEVICE_NOT_READY),
 * each changing nothing. */
static void refused_asleep(HANDLE h)
{
    static const BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 0x42, 0x00};
    BYTE atr[64], r[64];
    DWORD n = 0, e, sel = 0;
    e = transmit(h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n);
    check(e == ERROR_NOT_READY, "asleep: TRANSMIT -> ERROR_NOT_READY", "error %lu", e);
    e = power(h, SCARD_COLD_RESET, atr, &n);
    check(e == ERROR_NOT_READY, "asleep: POWER cold reset -> ERROR_NOT_READY", "error %lu", e);
    e = set_protocol(h, SCARD_PROTOCOL_T1, &sel);
    check(e == ERROR_NOT_READY, "asleep: SET_PROTOCOL -> ERROR_NOT_READY", "error %lu", e);
    e = card(h, 0);
    check(e == ERROR_NOT_READY, "asleep: vendor IOCTL (take the card out) -> ERROR_NOT_READY",
          "error %lu", e);
    e = ioctl(h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0, NULL);
    check(e == ERROR_NOT_READY, "asleep: a new IS_ABSENT -> ERROR_NOT_READY", "error %lu", e);
    e = ioctl(h, IOCTL_SMARTCARD_IS_PRESENT, NULL, 0, NULL, 0, NULL);
    check(e == ERROR_NOT_READY, "asleep: a new IS_PRESENT -> ERROR_NOT_READY", "error %lu", e);
}

/* What the reader answers asleep: the read-only requests, from what the device keeps
 * (the card as it was at sleep, powered down). */
static void answered_asleep(HANDLE h)
{
    BYTE b = 0xFF, out[64];
    DWORD n = 0, e;
    expect_state(h, SCARD_SWALLOWED, "asleep: GET_STATE = SWALLOWED (card in, powered down)");
    e = get_attr(h, SCARD_ATTR_ICC_PRESENCE, &b, 1, &n);
    check(!e && n == 1 && b == 2, "asleep: GET_ATTRIBUTE ICC_PRESENCE = 2 (in position)",
          "error %lu, %lu bytes, %u", e, n, b);
    e = get_attr(h, SCARD_ATTR_ICC_INTERFACE_STATUS, &b, 1, &n);
    check(!e && n == 1 && b == 0, "asleep: GET_ATTRIBUTE ICC_INTERFACE_STATUS = 0 (unpowered)",
          "error %lu, %lu bytes, %u", e, n, b);
    check_string_attr(h, "asleep: GET_ATTRIBUTE VENDOR_NAME = readerkit",
                      SCARD_ATTR_VENDOR_NAME, "readerkit");
    e = get_attr(h, SCARD_ATTR_ATR_STRING, out, sizeof out, &n);
    check(e == ERROR_BAD_COMMAND,
          "asleep: GET_ATTRIBUTE ATR_STRING -> ERROR_BAD_COMMAND (the ATR went with the power)",
          "error %lu, %lu bytes", e, n);
    e = ioctl(h, IOCTL_SMARTCARD_GET_LAST_ERROR, NULL, 0, out, 4, &n);
    check(!e && n == 4, "asleep: GET_LAST_ERROR answered", "error %lu, %lu bytes", e, n);
    e = ioctl(h, IOCTL_SMARTCARD_GET_PERF_CNTR, NULL, 0, out, sizeof out, &n);
    check(!e && n > 0, "asleep: GET_PERF_CNTR answered", "error %lu, %lu bytes", e, n);
}

/* A sleep, then a wake with power control byte `wake`. */
static void sleep_then_wake(HANDLE h, BYTE wake, const char *name)
{
    DWORD e = power_control(h, 0);
    if (!e)
        e = power_control(h, wake);
    check(!e, name, "error %lu", e);
}

/* Sleep and wake through the sample's power control, which does what a system
 * SET_POWER does (Wine sends no power IRPs): WdmReader::set_system_power. */
static void sleep_checks(HANDLE h)
{
    Async a;
    DWORD e, n = 0;
    BYTE bad[2] = {0, 0};
    e = power_control(h, 4);
    check(e == ERROR_INVALID_PARAMETER, "power control byte 4 -> ERROR_INVALID_PARAMETER",
          "error %lu", e);
    e = ioctl(h, IOCTL_VREADER_POWER, bad, 2, NULL, 0, NULL);
    check(e == ERROR_INVALID_PARAMETER, "power control with 2 bytes -> ERROR_INVALID_PARAMETER",
          "error %lu", e);
    e = ioctl(h, IOCTL_VREADER_POWER, NULL, 0, NULL, 0, NULL);
    check(e == ERROR_INVALID_PARAMETER, "power control without input -> ERROR_INVALID_PARAMETER",
          "error %lu", e);
    powered_t1(h, "before sleep");

    e = power_control(h, 0);
    check(!e, "power control: sleep", "error %lu", e);
    answered_asleep(h);
    refused_asleep(h);
    e = power_control(h, 0);
    check(!e, "power control: sleep a second time", "error %lu", e);
    expect_state(h, SCARD_SWALLOWED, "asleep twice: GET_STATE = SWALLOWED");
    refused_asleep(h);
    e = power_control(h, 1);
    check(!e, "power control: wake", "error %lu", e);
    expect_state(h, SCARD_SWALLOWED, "after the wake: GET_STATE = SWALLOWED (power-up needed)");
    static const BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 0x42, 0x00};
    BYTE r[64];
    e = transmit(h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n);
    check(e == ERROR_BAD_COMMAND, "after the wake: TRANSMIT before POWER -> ERROR_BAD_COMMAND",
          "error %lu", e);
    powered_t1(h, "after the wake");
    e = power_control(h, 1);
    check(!e, "power control: wake a second time", "error %lu", e);
    expect_state(h, SCARD_SPECIFIC, "a second wake changes nothing: GET_STATE = SPECIFIC");
    e = power_control(h, 2);
    check(!e, "power control: wake, card taken out, on an awake reader", "error %lu", e);
    expect_state(h, SCARD_SPECIFIC, "... moves no card: GET_STATE = SPECIFIC");

    /* A tracking request pending from before the sleep. */
    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends before the sleep")) {
        e = power_control(h, 0);
        check(!e, "power control: sleep with IS_ABSENT pending", "error %lu", e);
        check(!finish(&a, 300, &e, &n), "asleep: the IS_ABSENT from before the sleep stays pending",
              "it completed with %lu", e);
        e = ioctl(h, IOCTL_SMARTCARD_IS_PRESENT, NULL, 0, NULL, 0, NULL);
        check(e == ERROR_BUSY, "asleep: a second tracking request -> ERROR_BUSY", "error %lu", e);
        e = power_control(h, 1);
        check(!e, "power control: wake, the card still in", "error %lu", e);
        expect_completion(&a, 0, "the wake completes it (the card may have been swapped)");
        expect_state(h, SCARD_SWALLOWED, "after the wake: GET_STATE = SWALLOWED");
    }

    /* The card taken out during the sleep: the wake reports it absent. */
    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends before a sleep")) {
        sleep_then_wake(h, 2, "power control: sleep, then wake with the card taken out");
        expect_completion(&a, 0, "the wake completes the IS_ABSENT");
    }
    expect_state(h, SCARD_ABSENT, "the card taken out asleep: GET_STATE = ABSENT");
    BYTE atr[64];
    e = power(h, SCARD_COLD_RESET, atr, &n);
    check(e == ERROR_NO_MEDIA_IN_DRIVE, "... POWER -> ERROR_NO_MEDIA_IN_DRIVE", "error %lu", e);
    e = ioctl(h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0, NULL);
    check(!e, "... IS_ABSENT completes at once", "error %lu", e);

    /* No card before or after: an IS_PRESENT stays pending across the sleep; a card
     * put in during the sleep completes it. */
    if (pends(&a, h, IOCTL_SMARTCARD_IS_PRESENT, "IS_PRESENT pends before a sleep")) {
        sleep_then_wake(h, 1, "power control: sleep, then wake without a card");
        check(!finish(&a, 300, &e, &n), "no card before or after: IS_PRESENT still pending",
              "it completed with %lu", e);
        sleep_then_wake(h, 3, "power control: sleep, then wake with a card put in");
        expect_completion(&a, 0, "the wake completes the IS_PRESENT");
    }
    expect_state(h, SCARD_SWALLOWED, "a card put in asleep: GET_STATE = SWALLOWED");
    powered_t1(h, "after the sleeps");
}

/* Close a handle with a tracking request pending: the request must complete as
 * cancelled (Windows: IRP_MJ_CLEANUP; Wine sends only IRP_MJ_CLOSE), the reader must
 * open again, and its tracking slot must be free. */
static void close_checks(void)
{
    HANDLE h = open_reader();
    check(h != INVALID_HANDLE_VALUE, "open the reader", "error %lu", GetLastError());
    if (h == INVALID_HANDLE_VALUE)
        return;
    Async a;
    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends (then the handle closes)")) {
        CloseHandle(h);
        int came = WaitForSingleObject(a.ov.hEvent, 5000) == WAIT_OBJECT_0;
        const char *name = "closing the handle cancels the pending tracking request";
        if (came)
            check(a.ov.Internal == STATUS_CANCELLED_NT, name, "completed with NTSTATUS %08lX",
                  (unsigned long)a.ov.Internal);
        else
            check(0, name, "still pending 5 s after the close");
        CloseHandle(a.ov.hEvent);
    } else {
        CloseHandle(h);
    }
    h = open_reader();
    check(h != INVALID_HANDLE_VALUE, "the reader opens again after the close", "error %lu",
          GetLastError());
    if (h == INVALID_HANDLE_VALUE)
        return;
    if (pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "the tracking slot is free after the close")) {
        CancelIo(h);
        expect_completion(&a, ERROR_OPERATION_ABORTED, "CancelIo -> ERROR_OPERATION_ABORTED");
    }
    CloseHandle(h);
}

/* Exclusivity: the driver refuses a second open (STATUS_ACCESS_DENIED). Windows fails
 * the CreateFile; Wine 8 ignores the create status and hands out a handle anyway, whose
 * close then reaches the driver. That close must not undo the first handle's open: the
 * first handle keeps working, and a third open is refused again. */
static void exclusivity_checks(HANDLE h)
{
    Async a;
    int pending = pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends on the first handle");
    HANDLE second = open_reader();
    DWORD error = GetLastError();
    if (second == INVALID_HANDLE_VALUE) {
        check(error == ERROR_ACCESS_DENIED, "a second open is refused", "error %lu", error);
    } else {
        printf("note a second open got a handle (Wine ignores the create status)\n");
        CloseHandle(second);
    }
    DWORD state, e = 0, n = 0;
    if (pending) {
        check(!finish(&a, 300, &e, &n),
              "the second handle's close leaves the first handle's request pending",
              "it completed with %lu", e);
        CancelIo(h);
        expect_completion(&a, ERROR_OPERATION_ABORTED, "CancelIo -> ERROR_OPERATION_ABORTED");
    }
    e = get_state(h, &state);
    check(!e, "the first handle works after the second one's close", "error %lu", e);
}

typedef struct {
    HANDLE h;
    BYTE tag;
    int ok, answered, rounds;
} Hammer;

static DWORD WINAPI hammer(void *arg)
{
    Hammer *t = arg;
    for (int i = 0; i < t->rounds; i++) {
        BYTE r[16], apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x02, t->tag, (BYTE)i, 0x00};
        DWORD n = 0, state;
        if (i % 4 == 3) {
            if (!get_state(t->h, &state)) {
                t->answered++;
                t->ok += state == SCARD_SPECIFIC;
            }
            continue;
        }
        if (!transmit(t->h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n)) {
            t->answered++;
            t->ok += n == 4 && r[0] == t->tag && r[1] == (BYTE)i && ends_9000(r, n);
        }
    }
    return 0;
}

static void serialization_checks(HANDLE h)
{
    Hammer t[2] = {{h, 0x11, 0, 0, 400}, {h, 0x22, 0, 0, 400}};
    HANDLE th[2];
    for (int i = 0; i < 2; i++)
        th[i] = CreateThread(NULL, 0, hammer, &t[i], 0, NULL);
    DWORD w = WaitForMultipleObjects(2, th, TRUE, 60000);
    for (int i = 0; i < 2; i++)
        CloseHandle(th[i]);
    check(w == WAIT_OBJECT_0 && t[0].ok == 400 && t[1].ok == 400,
          "two threads, 400 requests each (TRANSMIT + GET_STATE): all answered, each its own",
          "wait %lu, thread 1 %d/%d right, thread 2 %d/%d right", w, t[0].ok, t[0].answered,
          t[1].ok, t[1].answered);
}

static void throughput(HANDLE h)
{
    static const BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00};
    BYTE r[16];
    DWORD n;
    LARGE_INTEGER f, t0, t1;
    const int rounds = 3000;
    int good = 0;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&t0);
    for (int i = 0; i < rounds; i++)
        good += !transmit(h, SCARD_PROTOCOL_T1, apdu, sizeof apdu, r, sizeof r, &n) && n == 6;
    QueryPerformanceCounter(&t1);
    double s = (double)(t1.QuadPart - t0.QuadPart) / (double)f.QuadPart;
    check(good == rounds, "throughput run: every TRANSMIT answered", "%d of %d", good, rounds);
    printf("figure TRANSMIT round trips through DeviceIoControl under Wine: %d in %.3f s = %.0f/s\n",
           rounds, s, rounds / s);
}

static int run(void)
{
    int found = find_reader(15000);
    check(found, "reader interface GUID_DEVINTERFACE_SMARTCARD_READER present", "not found in 15 s");
    if (!found)
        return 1;
    printf("note interface %ls\n", path);
    HANDLE h = open_reader();
    check(h != INVALID_HANDLE_VALUE, "open the reader", "error %lu", GetLastError());
    if (h == INVALID_HANDLE_VALUE)
        return 1;
    attributes(h);
    refusals(h);
    protocol_checks(h);
    exclusivity_checks(h);
    serialization_checks(h);
    throughput(h);
    tracking_checks(h);
    sleep_checks(h);
    CloseHandle(h);
    close_checks();
    return failed != 0;
}

static int remove_device(void)
{
    HDEVINFO set = SetupDiGetClassDevsW(&GUID_DEVCLASS_SMARTCARDREADER, NULL, NULL, 0);
    int removed = 0;
    SP_DEVINFO_DATA dev = {.cbSize = sizeof dev};
    for (DWORD i = 0; set != INVALID_HANDLE_VALUE && SetupDiEnumDeviceInfo(set, i, &dev); i++) {
        WCHAR ids[256] = {0};
        if (SetupDiGetDeviceRegistryPropertyW(set, &dev, SPDRP_HARDWAREID, NULL, (BYTE *)ids,
                                              sizeof ids - 4, NULL) &&
            !_wcsicmp(ids, L"root\\readerkit_vreader"))
            removed += SetupDiCallClassInstaller(DIF_REMOVE, set, &dev) != 0;
    }
    if (set != INVALID_HANDLE_VALUE)
        SetupDiDestroyDeviceInfoList(set);
    return removed;
}

/* Requests on the open handle while the device is removed under it. */
typedef struct {
    HANDLE h;
    volatile LONG stop;
    LONG answered, after, hung, wrong;
    int deleted; /* ERROR_INVALID_FUNCTION seen: the device object is gone */
    char errors[128];
} Racer;

/* After the surprise removal the driver answers STATUS_DELETE_PENDING
 * (ERROR_ACCESS_DENIED); once the device is deleted, Wine's server fails the request
 * itself with STATUS_INVALID_DEVICE_REQUEST (ERROR_INVALID_FUNCTION). Nothing else,
 * and not in the other order. */
static int removal_error(Racer *r, DWORD e)
{
    if (e == ERROR_ACCESS_DENIED)
        return !r->deleted;
    if (e == ERROR_INVALID_FUNCTION)
        return r->deleted = 1;
    return 0;
}

static DWORD WINAPI race(void *arg)
{
    Racer *r = arg;
    static const BYTE echo[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 0x00, 0x00};
    for (int i = 0; !r->stop; i++) {
        BYTE apdu[sizeof echo], resp[16];
        DWORD e, n = 0, state;
        memcpy(apdu, echo, sizeof echo);
        apdu[5] = (BYTE)i;
        Async a;
        if (i % 2) {
            start(&a, r->h, IOCTL_SMARTCARD_GET_STATE, NULL, 0, &state, sizeof state);
        } else {
            BYTE in[32];
            SCARD_IO_REQUEST hdr = {SCARD_PROTOCOL_T1, sizeof hdr};
            memcpy(in, &hdr, sizeof hdr);
            memcpy(in + sizeof hdr, apdu, sizeof apdu);
            start(&a, r->h, IOCTL_SMARTCARD_TRANSMIT, in, sizeof hdr + sizeof apdu, resp,
                  sizeof resp);
        }
        e = a.started;
        if ((!a.started || a.pending) && !finish(&a, 10000, &e, &n)) {
            r->hung++;
            return 0;
        }
        done(&a);
        r->answered++;
        r->after += r->after || e;
        /* Before the removal: GET_STATE's state, the ECHO of this round's byte (the
         * earlier programs left T=1 selected). */
        int right = i % 2 ? !e && n == 4 : !e && n == 11 && resp[8] == (BYTE)i && resp[9] == 0x90;
        right = right || removal_error(r, e);
        if (!right && r->wrong++ < 3)
            printf("note racing request %d (%s): error %lu, %lu bytes\n", i,
                   i % 2 ? "GET_STATE" : "TRANSMIT", e, n);
        char tag[16];
        snprintf(tag, sizeof tag, " %lu", e);
        if (e && !strstr(r->errors, tag) && strlen(r->errors) + strlen(tag) < sizeof r->errors)
            strcat(r->errors, tag);
        if (e == ERROR_INVALID_HANDLE)
            break;
    }
    return 0;
}

static int removal(void)
{
    int found = find_reader(15000);
    check(found, "reader interface present before removal", "not found");
    if (!found)
        return 1;
    HANDLE h = open_reader();
    check(h != INVALID_HANDLE_VALUE, "open the reader", "error %lu", GetLastError());
    Async a;
    int pending = h != INVALID_HANDLE_VALUE &&
                  pends(&a, h, IOCTL_SMARTCARD_IS_ABSENT, "IS_ABSENT pends before the removal");
    Racer racer = {.h = h};
    HANDLE th = h != INVALID_HANDLE_VALUE ? CreateThread(NULL, 0, race, &racer, 0, NULL) : NULL;
    while (th && !racer.answered)
        Sleep(1);
    int removed = remove_device();
    check(removed == 1, "DIF_REMOVE of the device", "%d removed, error %lu", removed,
          GetLastError());
    if (th) {
        InterlockedExchange(&racer.stop, 1);
        DWORD wait = WaitForSingleObject(th, 30000);
        CloseHandle(th);
        printf("note requests racing the removal: %ld answered, %ld after the first failure; "
               "errors seen:%s\n",
               racer.answered, racer.after, racer.errors);
        check(wait == WAIT_OBJECT_0 && !racer.hung,
              "TRANSMIT and GET_STATE racing the removal: every one completes (10 s guard)",
              "wait %lu, %ld hung", wait, racer.hung);
        check(!racer.wrong,
              "... each a right answer, or STATUS_DELETE_PENDING / the device gone",
              "%ld otherwise (%s)", racer.wrong, racer.errors);
    }
    if (pending)
        expect_completion(&a, ERROR_OPERATION_ABORTED,
                          "the removal cancels the pending tracking request");
    if (h != INVALID_HANDLE_VALUE) {
        DWORD state;
        DWORD e = get_state(h, &state);
        check(e != 0, "a request on the old handle after removal fails", "error %lu", e);
        CloseHandle(h);
    }
    WCHAR old[512];
    wcscpy(old, path);
    check(!find_reader(0), "the reader interface is gone", "still listed: %ls", path);
    h = CreateFileW(old, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    check(h == INVALID_HANDLE_VALUE, "the old interface path no longer opens", "it opened");
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    return failed != 0;
}

int wmain(int argc, WCHAR **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int rc;
    if (argc == 2 && !wcscmp(argv[1], L"run"))
        rc = run();
    else if (argc == 2 && !wcscmp(argv[1], L"remove"))
        rc = removal();
    else {
        fprintf(stderr, "usage: client.exe run | client.exe remove\n");
        return 2;
    }
    printf("client: %ld passed, %ld failed\n", passed, failed);
    return rc || failed;
}
