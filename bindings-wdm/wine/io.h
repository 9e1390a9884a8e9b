/*
 * io.h — what the Win32 programs that drive the sample driver share (client.c,
 * hostile.c): the reader's interface, one line per check, overlapped DeviceIoControl
 * with a hang guard, and the smart card requests the checks use.
 */
#ifndef READERKIT_WINE_IO_H
#define READERKIT_WINE_IO_H
#include <windows.h>
#include <winsmcrd.h>

/* GUID_DEVINTERFACE_SMARTCARD_READER has the value of the class GUID. */
extern const GUID READER_INTERFACE;

/* The sample's test control: input 0 = take the card out, 1 = put it back. */
#define IOCTL_VREADER_CARD SCARD_CTL_CODE(2048)
/* The sample's power test control, served ahead of the core (so also while asleep):
 * input 0 = system sleep, 1 = wake with the slot as it was, 2 = wake, the card taken
 * out during the sleep, 3 = wake, a card put in during the sleep. */
#define IOCTL_VREADER_POWER SCARD_CTL_CODE(2049)
/* A function code no one defines. */
#define IOCTL_UNKNOWN SCARD_CTL_CODE(99)

/* Profile::t0_t1 of card-sim: T=0 (default) and T=1 offered. */
extern const BYTE EXPECTED_ATR[20];

#define STATUS_CANCELLED_NT 0xC0000120UL

/* Checks passed and failed so far (check() counts them; threads may call it). */
extern volatile LONG passed, failed;
/* The reader interface's path, once find_reader() found it. */
extern WCHAR path[512];

/* A request in flight. */
typedef struct {
    OVERLAPPED ov;
    HANDLE h;
    DWORD started; /* 0, or the error DeviceIoControl gave at once */
    int pending;
} Async;

/* "ok   <name>", or "FAIL <name>: <printf of fmt>", and count it. */
void check(int ok, const char *name, const char *fmt, ...);
void hex(char *out, size_t cap, const BYTE *b, DWORD n);
/* Find the reader's interface path; waits up to `ms` for it to appear. */
int find_reader(DWORD ms);
HANDLE open_reader(void);
void start(Async *a, HANDLE h, DWORD code, const void *in, DWORD inlen, void *out,
           DWORD outlen);
/* Wait up to `ms`; returns 1 and the result if it completed. */
int finish(Async *a, DWORD ms, DWORD *error, DWORD *bytes);
void done(Async *a);

/* A request, waited for (10 s hang guard). Returns the Win32 error (0 = success). */
DWORD ioctl(HANDLE h, DWORD code, const void *in, DWORD inlen, void *out, DWORD outlen,
            DWORD *bytes);
DWORD get_state(HANDLE h, DWORD *state);
DWORD power(HANDLE h, DWORD action, BYTE *atr, DWORD *atrlen);
DWORD set_protocol(HANDLE h, DWORD mask, DWORD *selected);
DWORD card(HANDLE h, BYTE in);
/* IOCTL_VREADER_POWER with the one byte `in`. */
DWORD power_control(HANDLE h, BYTE in);
/* The most bytes transmit_request sends after the 8-byte header: an extended APDU of
 * 65535 data bytes (7 + 65535 + 2) and 16 bytes of PCI. */
#define TRANSMIT_MAX_APDU (7 + 65535 + 2 + 16)
/* TRANSMIT as a caller writes it, lies included: a SCARD_IO_REQUEST header of
 * dwProtocol `protocol` and cbPciLength `pci`, then `len` bytes of `apdu` (any PCI
 * bytes after the header among them; NULL for none); the driver's output (header +
 * response) in `out`, `outlen` bytes at most, its length in `*n`. More than
 * TRANSMIT_MAX_APDU bytes are refused with ERROR_INSUFFICIENT_BUFFER, nothing sent.
 * Returns the Win32 error. */
DWORD transmit_request(HANDLE h, DWORD protocol, DWORD pci, const BYTE *apdu, DWORD len,
                       BYTE *out, DWORD outlen, DWORD *n);
/* TRANSMIT with a true header (cbPciLength 8): the response without the header in
 * `resp`, `cap` bytes at most (a longer one: ERROR_INSUFFICIENT_BUFFER), its length in
 * `*resplen`. An APDU over TRANSMIT_MAX_APDU bytes is refused as transmit_request does. */
DWORD transmit(HANDLE h, DWORD protocol, const BYTE *apdu, DWORD len, BYTE *resp, DWORD cap,
               DWORD *resplen);
int ends_9000(const BYTE *r, DWORD n);
DWORD get_attr(HANDLE h, DWORD tag, BYTE *out, DWORD cap, DWORD *n);
/* Check the sample card's ECHO (80 EE 00 00 03 x y z 00): x y z 90 00 back. */
void check_echo(HANDLE h, DWORD protocol, BYTE x, BYTE y, BYTE z, const char *name);

#endif
