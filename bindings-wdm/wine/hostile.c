/*
 * hostile.exe — an untrusted caller of the sample driver (readerkit-vreader.sys). Any
 * program may open \\.\ a reader; this one sends what a careless or malicious one
 * would, and checks that the driver holds up: every request completes (10 s guard),
 * every refusal is one of smclib's documented statuses for that kind of request,
 * nothing is written past the caller's output length, and afterwards the reader still
 * answers GET_STATE, POWER and TRANSMIT correctly.
 *
 *   hostile.exe SEED [CALLS]
 *
 * SEED (decimal) drives every random choice; the same seed gives the same calls (the
 * thread phases also depend on timing). CALLS is the length of the storm (default
 * 3000). One line per check ("ok"/"FAIL", see io.h), a failed call printed with its
 * code, lengths and first input bytes, then "client: N passed, M failed".
 *
 * Phases: 1. a storm of DeviceIoControl calls (every METHOD_*, access bits, defined,
 * undefined and vendor functions, lengths 0..1 MiB, page-crossing buffers, NULL buffers
 * with zero lengths, random attribute tags, TRANSMIT headers), then the same from three
 * threads at once (seeds SEED+1..3, CALLS/3 calls each); 2. threads cancelling
 * their own requests with CancelIoEx at random points; 3. tracking requests from two
 * handles, cancelled and re-issued while another thread moves the card; 4. TRANSMIT
 * headers that lie; 5. the storm again (CALLS/2 calls) while another thread puts the
 * reader to sleep and wakes it (the sample's power control, IOCTL_VREADER_POWER, at
 * random, the card sometimes moved during a sleep): then a request that needs the
 * reader may also get ERROR_NOT_READY, the read-only ones (GET_STATE, GET_ATTRIBUTE,
 * GET_LAST_ERROR, GET_PERF_CNTR) may not; 6. a handle closed with requests in flight.
 */
#include <windows.h>
#include <winsmcrd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* ---- seeded randomness (xorshift64*), one state per thread ---- */

typedef struct {
    unsigned long long s;
} Rng;

static void rng_seed(Rng *r, unsigned long long seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!r->s)
        r->s = 1;
}

static DWORD rnd(Rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (DWORD)((r->s * 0x2545F4914F6CDD1DULL) >> 32);
}

static DWORD below(Rng *r, DWORD n)
{
    return rnd(r) % n;
}

/* ---- the request kinds and the Win32 errors smclib documents for each ---- */

#define ERROR_NO_MEDIA ERROR_NO_MEDIA_IN_DRIVE

enum {
    K_POWER,
    K_GET_ATTR,
    K_SET_ATTR,
    K_TRANSMIT,
    K_SET_PROTOCOL,
    K_GET_STATE,
    K_TRACKING,
    K_MECHANISM, /* EJECT, SWALLOW, CONFISCATE */
    K_INFO,      /* GET_LAST_ERROR, GET_PERF_CNTR */
    K_CARD,      /* the sample's vendor test control */
    K_VENDOR,    /* a vendor function the sample lacks */
    K_UNDEFINED, /* a smart card function no one defines, or access bits set */
    K_DIRECT,    /* METHOD_IN_DIRECT / OUT_DIRECT / NEITHER */
    KINDS
};

static const char *const KIND_NAME[KINDS] = {
    "POWER",     "GET_ATTRIBUTE", "SET_ATTRIBUTE",   "TRANSMIT",     "SET_PROTOCOL",
    "GET_STATE", "IS_PRESENT/IS_ABSENT", "EJECT/SWALLOW/CONFISCATE", "GET_LAST_ERROR/PERF_CNTR",
    "vendor card control", "other vendor", "undefined", "not METHOD_BUFFERED",
};

/* ERROR_NO_SYSTEM_RESOURCES (STATUS_INSUFFICIENT_RESOURCES) is the binding's answer to
 * an input longer than it copies (1024 bytes), for the requests that read all of their
 * input (TRANSMIT, SET_ATTRIBUTE, vendor); the others read at most a word of it. */
#define END 0xFFFFFFFF
static const DWORD EXPECTED[KINDS][12] = {
    [K_POWER] = {0, ERROR_INVALID_PARAMETER, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MEDIA,
                 ERROR_SEM_TIMEOUT, END},
    [K_GET_ATTR] = {0, ERROR_INVALID_PARAMETER, ERROR_INSUFFICIENT_BUFFER, ERROR_NOT_SUPPORTED,
                    ERROR_BAD_COMMAND, ERROR_NO_MEDIA, END},
    [K_SET_ATTR] = {0, ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED, ERROR_BAD_COMMAND,
                    ERROR_NO_SYSTEM_RESOURCES, END},
    [K_TRANSMIT] = {0, ERROR_INVALID_PARAMETER, ERROR_INSUFFICIENT_BUFFER, ERROR_BAD_COMMAND,
                    ERROR_NO_MEDIA, ERROR_IO_DEVICE, ERROR_MORE_DATA, ERROR_NO_SYSTEM_RESOURCES,
                    ERROR_SEM_TIMEOUT, END},
    [K_SET_PROTOCOL] = {0, ERROR_INVALID_PARAMETER, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MEDIA,
                        ERROR_BAD_COMMAND, ERROR_NOT_SUPPORTED, ERROR_INVALID_FUNCTION,
                        ERROR_IO_DEVICE, ERROR_SEM_TIMEOUT, END},
    [K_GET_STATE] = {0, ERROR_INSUFFICIENT_BUFFER, END},
    [K_TRACKING] = {0, ERROR_OPERATION_ABORTED, ERROR_BUSY, END},
    [K_MECHANISM] = {0, ERROR_NOT_SUPPORTED, ERROR_NO_MEDIA, END},
    [K_INFO] = {0, ERROR_INSUFFICIENT_BUFFER, ERROR_NOT_SUPPORTED, END},
    [K_CARD] = {0, ERROR_INVALID_PARAMETER, ERROR_NO_SYSTEM_RESOURCES, END},
    [K_VENDOR] = {ERROR_NOT_SUPPORTED, ERROR_NO_SYSTEM_RESOURCES, END},
    [K_UNDEFINED] = {ERROR_INVALID_FUNCTION, END},
    [K_DIRECT] = {ERROR_INVALID_FUNCTION, END},
};

/* Set while phase 5's sleeper thread runs: the reader may be asleep, and then
 * refuses what needs it with STATUS_DEVICE_NOT_READY (the core's rule) before the
 * answers above; it still answers the read-only kinds. */
static volatile LONG sleep_racing;
/* Calls refused ERROR_NOT_READY while sleep_racing: the sleeps were seen. */
static volatile LONG not_ready_seen;

static int expected(int kind, DWORD error)
{
    if (error == ERROR_NOT_READY && sleep_racing)
        switch (kind) {
        case K_POWER:
        case K_SET_ATTR:
        case K_TRANSMIT:
        case K_SET_PROTOCOL:
        case K_TRACKING:
        case K_MECHANISM:
        case K_CARD:
        case K_VENDOR:
            InterlockedIncrement(&not_ready_seen);
            return 1;
        default:
            return 0;
        }
    for (int i = 0; EXPECTED[kind][i] != END; i++)
        if (EXPECTED[kind][i] == error)
            return 1;
    return 0;
}

/* (kind, error) pairs seen, with counts. */
typedef struct {
    DWORD error, count;
} Seen;
static Seen seen[KINDS][16];
static CRITICAL_SECTION seen_lock;

static void note(int kind, DWORD error)
{
    EnterCriticalSection(&seen_lock);
    for (int i = 0; i < 16; i++) {
        if (seen[kind][i].count == 0 || seen[kind][i].error == error) {
            seen[kind][i].error = error;
            seen[kind][i].count++;
            break;
        }
    }
    LeaveCriticalSection(&seen_lock);
}

static void print_seen(void)
{
    for (int k = 0; k < KINDS; k++) {
        char line[256];
        int at = snprintf(line, sizeof line, "note seen %s:", KIND_NAME[k]);
        for (int i = 0; i < 16 && seen[k][i].count && at < (int)sizeof line - 24; i++)
            at += snprintf(line + at, sizeof line - at, " %lu x%lu", seen[k][i].error,
                           seen[k][i].count);
        printf("%s\n", line);
    }
}

/* ---- one call, described ---- */

#define SC_CODE(access, function, method) \
    ((DWORD)(FILE_DEVICE_SMARTCARD << 16 | (access) << 14 | (function) << 2 | (method)))

typedef struct {
    DWORD code;
    int kind;
    BYTE *in, *out;
    DWORD inlen, outlen;
} Call;

static void describe(char *text, size_t cap, const Call *c)
{
    char bytes[80];
    hex(bytes, sizeof bytes, c->in, c->in && c->inlen < 16 ? c->inlen : (c->in ? 16 : 0));
    snprintf(text, cap, "%s code %08lX in %s%lu out %s%lu, input %s", KIND_NAME[c->kind], c->code,
             c->in ? "" : "NULL ", c->inlen, c->out ? "" : "NULL ", c->outlen, bytes);
}

/* The outcome of a call: error (0 = success), bytes reported, completed at all. */
typedef struct {
    DWORD error, bytes;
    int completed;
} Result;

/* Issue a call; a tracking request that pends is cancelled after `cancel_ms`. */
static Result issue(HANDLE h, const Call *c, DWORD cancel_ms)
{
    Result r = {0, 0, 1};
    Async a;
    start(&a, h, c->code, c->in, c->inlen, c->out, c->outlen);
    if (a.started && !a.pending) {
        r.error = a.started;
        done(&a);
        return r;
    }
    if (!finish(&a, cancel_ms, &r.error, &r.bytes)) {
        CancelIoEx(h, &a.ov);
        if (!finish(&a, 10000, &r.error, &r.bytes)) {
            r.completed = 0;
            CancelIo(h);
            /* The event and OVERLAPPED stay alive: the request may yet complete. */
            return r;
        }
    }
    done(&a);
    return r;
}

/* ---- phase 1: the storm ---- */

static const DWORD ATTRS[] = {
    SCARD_ATTR_VENDOR_NAME,       SCARD_ATTR_VENDOR_IFD_TYPE,     SCARD_ATTR_VENDOR_IFD_VERSION,
    SCARD_ATTR_VENDOR_IFD_SERIAL_NO, SCARD_ATTR_CHANNEL_ID,       SCARD_ATTR_PROTOCOL_TYPES,
    SCARD_ATTR_DEFAULT_CLK,       SCARD_ATTR_MAX_CLK,             SCARD_ATTR_DEFAULT_DATA_RATE,
    SCARD_ATTR_MAX_DATA_RATE,     SCARD_ATTR_MAX_IFSD,            SCARD_ATTR_POWER_MGMT_SUPPORT,
    SCARD_ATTR_CURRENT_PROTOCOL_TYPE, SCARD_ATTR_CURRENT_CLK,     SCARD_ATTR_CURRENT_F,
    SCARD_ATTR_CURRENT_D,         SCARD_ATTR_CURRENT_N,           SCARD_ATTR_CURRENT_W,
    SCARD_ATTR_CURRENT_IFSC,      SCARD_ATTR_CURRENT_IFSD,        SCARD_ATTR_CURRENT_BWT,
    SCARD_ATTR_CURRENT_CWT,       SCARD_ATTR_CURRENT_EBC_ENCODING, SCARD_ATTR_ATR_STRING,
    SCARD_ATTR_ICC_TYPE_PER_ATR,  SCARD_ATTR_ICC_PRESENCE,        SCARD_ATTR_ICC_INTERFACE_STATUS,
    SCARD_ATTR_DEVICE_UNIT,       SCARD_ATTR_DEVICE_IN_USE,       SCARD_ATTR_SUPRESS_T1_IFS_REQUEST,
    SCARD_ATTR_USER_TO_CARD_AUTH_DEVICE, SCARD_ATTR_ESC_RESET,    SCARD_ATTR_MAXINPUT,
};

static const DWORD LENGTHS[] = {0,   1,   2,   3,    4,    5,    7,    8,    9,    10,  12,
                                13,  31,  33,  63,   255,  259,  263,  271,  272,  273, 1023,
                                1024, 1025, 4095, 4096, 4097, 65544 + 8, 1 << 20};

static DWORD pick_len(Rng *r)
{
    if (below(r, 4) == 0)
        return 1 + 2 * below(r, 300); /* odd */
    return LENGTHS[below(r, sizeof LENGTHS / sizeof *LENGTHS)];
}

static void put32(BYTE *p, DWORD v)
{
    memcpy(p, &v, 4);
}

/* A TRANSMIT the card answers when T=0 or T=1 is selected and named: the sample's ECHO
 * (80 EE) filling `inlen` bytes, case 1, 2, 4 or extended 4 by its length, random Le. */
static void well_formed_echo(Rng *r, BYTE *in, DWORD inlen)
{
    DWORD n = inlen - 8;
    put32(in, 1 + below(r, 2));
    put32(in + 4, 8);
    BYTE *apdu = in + 8;
    apdu[0] = 0x80, apdu[1] = 0xEE, apdu[2] = 0, apdu[3] = 0;
    if (n == 5) {
        apdu[4] = (BYTE)rnd(r); /* case 2: Le */
    } else if (n >= 6 && n <= 261) {
        apdu[4] = (BYTE)(n - 6); /* case 4: Lc, data, Le (n = 6 gives Lc 0: malformed, refused) */
        apdu[n - 1] = (BYTE)rnd(r);
    } else if (n > 261) {
        DWORD lc = n - 9; /* extended case 4: 00 Lc Lc, data, Le Le */
        apdu[4] = 0, apdu[5] = (BYTE)(lc >> 8), apdu[6] = (BYTE)lc;
        apdu[n - 2] = (BYTE)rnd(r), apdu[n - 1] = (BYTE)rnd(r);
    }
}

/* A random call of a random kind into the buffers `inbase`/`outbase`. */
static void make_call(Rng *r, Call *c, BYTE *inbase, BYTE *outbase, DWORD page)
{
    static const int FUNCTIONS[] = {1, 2, 3, 5, 12, 14, 10, 11, 4, 6, 7, 15, 16};
    static const int KIND_OF[] = {K_POWER,   K_GET_ATTR, K_SET_ATTR, K_TRANSMIT, K_SET_PROTOCOL,
                                  K_GET_STATE, K_TRACKING, K_TRACKING, K_MECHANISM, K_MECHANISM,
                                  K_MECHANISM, K_INFO, K_INFO};
    DWORD function, method = METHOD_BUFFERED, access = FILE_ANY_ACCESS;
    DWORD dice = below(r, 100);
    if (dice < 70) {
        DWORD i = below(r, sizeof FUNCTIONS / sizeof *FUNCTIONS);
        function = FUNCTIONS[i];
        c->kind = KIND_OF[i];
    } else if (dice < 76) {
        function = 2048;
        c->kind = K_CARD;
    } else if (dice < 82) {
        function = 2050 + below(r, 2046); /* 2048, 2049: the sample's test controls */
        c->kind = K_VENDOR;
    } else if (dice < 90) {
        static const DWORD UNDEFINED[] = {0, 8, 9, 13, 17, 99, 500, 2047};
        function = below(r, 2) ? UNDEFINED[below(r, 8)] : below(r, 2048);
        c->kind = K_UNDEFINED;
        for (DWORD i = 0; i < sizeof FUNCTIONS / sizeof *FUNCTIONS; i++)
            if ((DWORD)FUNCTIONS[i] == function)
                function = 13;
    } else if (dice < 95) {
        /* A defined function with access bits: a different code, no smart card IOCTL. */
        function = FUNCTIONS[below(r, sizeof FUNCTIONS / sizeof *FUNCTIONS)];
        access = 1 + below(r, 3);
        c->kind = K_UNDEFINED;
    } else {
        function = FUNCTIONS[below(r, sizeof FUNCTIONS / sizeof *FUNCTIONS)];
        method = 1 + below(r, 3);
        c->kind = K_DIRECT;
    }
    c->code = SC_CODE(access, function, method);
    c->inlen = pick_len(r);
    c->outlen = pick_len(r);
    /* Not-buffered methods get small buffers: Wine maps direct buffers per page. */
    if (c->kind == K_DIRECT) {
        c->inlen %= 64;
        c->outlen %= 64;
    }
    /* Buffers end at a random offset into a page, so many of them cross pages. */
    DWORD skew = below(r, page);
    c->in = inbase + skew;
    c->out = outbase + skew;
    for (DWORD i = 0; i < c->inlen && i < 1200; i++)
        c->in[i] = (BYTE)rnd(r);
    switch (c->kind) {
    case K_POWER:
        if (c->inlen >= 4)
            put32(c->in, below(r, 4) ? below(r, 4) : rnd(r));
        break;
    case K_GET_ATTR:
    case K_SET_ATTR:
        if (c->inlen >= 4)
            put32(c->in, below(r, 3) ? ATTRS[below(r, sizeof ATTRS / sizeof *ATTRS)]
                                      : (below(r, 16) << 16 | below(r, 0x400)));
        break;
    case K_SET_PROTOCOL:
        if (c->inlen >= 4) {
            static const DWORD MASKS[] = {1, 2, 3, 4, 0x10000, 0x80000001, 0x80000002, 0x80000000,
                                          0};
            put32(c->in, below(r, 4) ? MASKS[below(r, 9)] : rnd(r));
        }
        break;
    case K_TRANSMIT:
        if (c->inlen >= 12 && c->inlen <= 8 + 9 + 65535 && below(r, 3) == 0) {
            well_formed_echo(r, c->in, c->inlen);
        } else if (c->inlen >= 8) {
            static const DWORD PROTOCOLS[] = {0, 1, 2, 3, 4, 0x10000, 0x80000002, 0xFFFFFFFF};
            DWORD lies[] = {0, 4, 7, 8, 8, 8, 9, 12, c->inlen, c->inlen + 1, 0x7FFFFFFF,
                            0xFFFFFFFF};
            put32(c->in, PROTOCOLS[below(r, 8)]);
            put32(c->in + 4, lies[below(r, 12)]);
        }
        break;
    case K_CARD:
        if (c->inlen >= 1 && below(r, 4))
            c->in[0] = (BYTE)below(r, 2);
        break;
    default:
        break;
    }
    /* Zero lengths sometimes come with NULL pointers. */
    if (!c->inlen && below(r, 2))
        c->in = NULL;
    if (!c->outlen && below(r, 2))
        c->out = NULL;
    if (c->out)
        memset(c->out, 0xA5, c->outlen + 16);
}

/* Bytes written past `outlen` (the 16 after it were set to A5). */
static int overrun(const Call *c)
{
    if (!c->out)
        return 0;
    for (DWORD i = 0; i < 16; i++)
        if (c->out[c->outlen + i] != 0xA5)
            return 1;
    return 0;
}

static int storm(HANDLE h, unsigned long long seed, int calls, const char *label)
{
    char name[128];
    Rng r;
    rng_seed(&r, seed);
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    DWORD page = si.dwPageSize;
    SIZE_T cap = (1 << 20) + 2 * page + 64;
    BYTE *inbase = VirtualAlloc(NULL, cap, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    BYTE *outbase = VirtualAlloc(NULL, cap, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    int hung = 0, unexpected = 0, overruns = 0, answered = 0, printed = 0;
    char text[256];
    for (int i = 0; i < calls && hung == 0; i++) {
        if (i % 40 == 0) {
            /* Now and then the card is put back, reset and a protocol selected, so that
             * well-formed TRANSMITs reach the card (answers checked after the storm). */
            BYTE atr[64];
            DWORD n, sel;
            card(h, 1);
            power(h, SCARD_COLD_RESET, atr, &n);
            set_protocol(h, 1 + below(&r, 2), &sel);
        }
        Call c;
        make_call(&r, &c, inbase, outbase, page);
        Result res = issue(h, &c, below(&r, 30));
        if (!res.completed) {
            describe(text, sizeof text, &c);
            snprintf(name, sizeof name, "%s: every call completes", label);
            check(0, name, "call %d still pending 10 s after CancelIoEx: %s", i, text);
            hung++;
            break;
        }
        note(c.kind, res.error);
        answered++;
        int bad_error = !expected(c.kind, res.error);
        /* Information beyond the output, or bytes past it (a success's or an overflow
         * warning's bytes are the only ones allowed). */
        int bad_bytes = res.bytes > c.outlen || overrun(&c) ||
                        (res.error && res.error != ERROR_MORE_DATA && res.bytes);
        if ((bad_error || bad_bytes) && printed++ < 20) {
            describe(text, sizeof text, &c);
            snprintf(name, sizeof name, "%s: %s", label,
                     bad_error ? "error is a documented one for the request"
                               : "nothing reported or written past the output");
            check(0, name,
                  "call %d: %s -> error %lu, %lu bytes", i, text, res.error, res.bytes);
        }
        unexpected += bad_error;
        overruns += bad_bytes;
    }
    printf("note %s: seed %llu, %d of %d calls answered\n", label, seed, answered, calls);
    snprintf(name, sizeof name, "%s: every call completes (10 s guard)", label);
    check(!hung && answered == calls, name, "%d of %d", answered, calls);
    snprintf(name, sizeof name, "%s: every error is a documented mapping for its request", label);
    check(!unexpected, name, "%d calls answered otherwise (first ones above)", unexpected);
    snprintf(name, sizeof name, "%s: no byte reported or written past the output length", label);
    check(!overruns, name, "%d calls (first ones above)", overruns);
    VirtualFree(inbase, 0, MEM_RELEASE);
    VirtualFree(outbase, 0, MEM_RELEASE);
    return !hung;
}

/* The storm from three threads at once (seeds SEED+1..3, CALLS/3 calls each). */
typedef struct {
    HANDLE h;
    unsigned long long seed;
    int calls, ok;
    char label[48];
} StormThread;

static DWORD WINAPI storm_thread(void *arg)
{
    StormThread *t = arg;
    t->ok = storm(t->h, t->seed, t->calls, t->label);
    return 0;
}

static int concurrent_storm(HANDLE h, unsigned long long seed, int calls)
{
    StormThread t[3];
    HANDLE th[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (StormThread){.h = h, .seed = seed + 1 + i, .calls = calls / 3 + 1};
        snprintf(t[i].label, sizeof t[i].label, "storm thread %d of 3", i + 1);
        th[i] = CreateThread(NULL, 0, storm_thread, &t[i], 0, NULL);
    }
    DWORD wait = WaitForMultipleObjects(3, th, TRUE, 240000);
    for (int i = 0; i < 3; i++)
        CloseHandle(th[i]);
    check(wait == WAIT_OBJECT_0, "the storm from 3 threads at once ends", "wait %lu", wait);
    return wait == WAIT_OBJECT_0 && t[0].ok && t[1].ok && t[2].ok;
}

/* ---- the reader still works ---- */

static void still_works(HANDLE h, const char *after)
{
    char name[160], a[256];
    BYTE atr[64];
    DWORD n = 0, state = 0, sel = 0, e;
    card(h, 1);
    e = power(h, SCARD_COLD_RESET, atr, &n);
    hex(a, sizeof a, atr, n);
    snprintf(name, sizeof name, "after %s: POWER cold reset -> the card's ATR", after);
    check(!e && n == sizeof EXPECTED_ATR && !memcmp(atr, EXPECTED_ATR, n), name,
          "error %lu, ATR %s", e, a);
    e = get_state(h, &state);
    snprintf(name, sizeof name, "after %s: GET_STATE = NEGOTIABLE", after);
    check(!e && state == SCARD_NEGOTIABLE, name, "error %lu, state %lu", e, state);
    e = set_protocol(h, SCARD_PROTOCOL_T1, &sel);
    snprintf(name, sizeof name, "after %s: SET_PROTOCOL T=1", after);
    check(!e && sel == SCARD_PROTOCOL_T1, name, "error %lu, selected %lu", e, sel);
    snprintf(name, sizeof name, "after %s: TRANSMIT T=1 ECHO -> 5A C3 3C 90 00", after);
    check_echo(h, SCARD_PROTOCOL_T1, 0x5A, 0xC3, 0x3C, name);
}

/* ---- phase 2: requests cancelled at random points from several threads ---- */

typedef struct {
    HANDLE h;
    unsigned long long seed;
    int rounds, index;
    LONG hung, wrong, answered, cancelled;
} Worker;

/* Wait `ms` for a request a worker started, then cancel it (if `cancel`) and wait
 * 10 s more; count its answer. Returns 0 if it hung. */
static int await(Worker *w, Async *a, int kind, DWORD ms, int cancel, Result *res)
{
    res->error = a->started;
    res->bytes = 0;
    res->completed = 1;
    if ((!a->started || a->pending) && !finish(a, ms, &res->error, &res->bytes)) {
        if (cancel)
            CancelIoEx(w->h, &a->ov);
        if (!finish(a, 10000, &res->error, &res->bytes)) {
            InterlockedIncrement(&w->hung);
            return 0;
        }
    }
    done(a);
    InterlockedIncrement(&w->answered);
    note(kind, res->error);
    w->cancelled += res->error == ERROR_OPERATION_ABORTED;
    return 1;
}

static DWORD WINAPI canceller(void *arg)
{
    Worker *w = arg;
    Rng r;
    rng_seed(&r, w->seed);
    for (int i = 0; i < w->rounds; i++) {
        BYTE in[32], out[64];
        DWORD what = below(&r, 4), code, inlen = 0, outlen = sizeof out;
        int kind;
        if (what < 2) {
            SCARD_IO_REQUEST hdr = {SCARD_PROTOCOL_T1, sizeof hdr};
            BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x02, (BYTE)w->index, (BYTE)i, 0x00};
            memcpy(in, &hdr, sizeof hdr);
            memcpy(in + sizeof hdr, apdu, sizeof apdu);
            code = IOCTL_SMARTCARD_TRANSMIT, inlen = sizeof hdr + sizeof apdu, kind = K_TRANSMIT;
        } else if (what == 2) {
            code = IOCTL_SMARTCARD_GET_STATE, outlen = 4, kind = K_GET_STATE;
        } else {
            code = below(&r, 2) ? IOCTL_SMARTCARD_IS_ABSENT : IOCTL_SMARTCARD_IS_PRESENT;
            outlen = 0, kind = K_TRACKING;
        }
        Async a;
        Result res;
        start(&a, w->h, code, in, inlen, out, outlen);
        DWORD when = below(&r, 4); /* cancel at once, after 0-2 ms, or (tracking only) not */
        if (!await(w, &a, kind, when ? below(&r, 3) : 0, when != 3 || kind == K_TRACKING, &res))
            return 0;
        /* A cancel may come too late: then the request's own answer, which must be its
         * own (its tag and round echoed). */
        int ok = res.error == ERROR_OPERATION_ABORTED ||
                 (kind == K_TRANSMIT && !res.error && res.bytes == 12 && out[8] == (BYTE)w->index &&
                  out[9] == (BYTE)i && out[10] == 0x90) ||
                 (kind == K_GET_STATE && !res.error && res.bytes == 4) ||
                 (kind == K_TRACKING && (!res.error || res.error == ERROR_BUSY));
        if (!ok && InterlockedIncrement(&w->wrong) <= 5)
            printf("FAIL-detail worker %d round %d: %s -> error %lu, %lu bytes\n", w->index, i,
                   KIND_NAME[kind], res.error, res.bytes);
    }
    return 0;
}

static void run_workers(Worker *w, int count, LPTHREAD_START_ROUTINE body, const char *name)
{
    HANDLE th[8];
    for (int i = 0; i < count; i++)
        th[i] = CreateThread(NULL, 0, body, &w[i], 0, NULL);
    DWORD wait = WaitForMultipleObjects(count, th, TRUE, 120000);
    LONG hung = 0, wrong = 0, answered = 0, cancelled = 0;
    for (int i = 0; i < count; i++) {
        CloseHandle(th[i]);
        hung += w[i].hung, wrong += w[i].wrong, answered += w[i].answered;
        cancelled += w[i].cancelled;
    }
    printf("note %s: %ld requests answered, %ld of them cancelled\n", name, answered, cancelled);
    char text[200];
    snprintf(text, sizeof text, "%s: every request completes (10 s guard)", name);
    check(wait == WAIT_OBJECT_0 && !hung, text, "wait %lu, %ld requests hung", wait, hung);
    snprintf(text, sizeof text, "%s: each answer is its own, or ERROR_OPERATION_ABORTED", name);
    check(!wrong, text, "%ld wrong answers (first ones above)", wrong);
}

static void cancel_phase(HANDLE h, unsigned long long seed)
{
    Worker w[3];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 3; i++)
        w[i] = (Worker){.h = h, .seed = seed + 100 + i, .rounds = 300, .index = 0x31 + i};
    run_workers(w, 3, canceller, "CancelIoEx from 3 threads");
    still_works(h, "the cancels");
}

/* ---- phase 3: tracking requests from two handles while the card moves ---- */

static volatile LONG stop_mover;

static DWORD WINAPI tracker(void *arg)
{
    Worker *w = arg;
    Rng r;
    rng_seed(&r, w->seed);
    for (int i = 0; i < w->rounds; i++) {
        DWORD code = below(&r, 2) ? IOCTL_SMARTCARD_IS_ABSENT : IOCTL_SMARTCARD_IS_PRESENT;
        Async a;
        Result res;
        start(&a, w->h, code, NULL, 0, NULL, 0);
        /* Cancelled after 0-19 ms, or left 200 ms for the card to move first. */
        if (!await(w, &a, K_TRACKING, below(&r, 3) ? below(&r, 20) : 200, 1, &res))
            return 0;
        if (res.error && res.error != ERROR_OPERATION_ABORTED && res.error != ERROR_BUSY &&
            InterlockedIncrement(&w->wrong) <= 5)
            printf("FAIL-detail tracker %d round %d: error %lu\n", w->index, i, res.error);
    }
    return 0;
}

static DWORD WINAPI mover(void *arg)
{
    Worker *w = arg;
    Rng r;
    rng_seed(&r, w->seed);
    for (int i = 0; !stop_mover; i++) {
        DWORD e = card(w->h, (BYTE)(i & 1));
        InterlockedIncrement(&w->answered);
        if (e && InterlockedIncrement(&w->wrong) <= 5)
            printf("FAIL-detail card control %d: error %lu\n", i & 1, e);
        Sleep(below(&r, 5));
    }
    return 0;
}


static void tracking_phase(HANDLE h, unsigned long long seed)
{
    /* A second handle: Windows fails this CreateFile (the driver refuses a second
     * open); Wine hands out a handle anyway, whose requests reach the driver. */
    HANDLE h2 = open_reader();
    Worker w[3];
    memset(w, 0, sizeof w);
    w[0] = (Worker){.h = h, .seed = seed + 200, .rounds = 200, .index = 1};
    w[1] = (Worker){.h = h2 != INVALID_HANDLE_VALUE ? h2 : h, .seed = seed + 201, .rounds = 200,
                    .index = 2};
    w[2] = (Worker){.h = h, .seed = seed + 202, .index = 3};
    stop_mover = 0;
    HANDLE th[3];
    th[0] = CreateThread(NULL, 0, tracker, &w[0], 0, NULL);
    th[1] = CreateThread(NULL, 0, tracker, &w[1], 0, NULL);
    th[2] = CreateThread(NULL, 0, mover, &w[2], 0, NULL);
    DWORD wait = WaitForMultipleObjects(2, th, TRUE, 120000);
    InterlockedExchange(&stop_mover, 1);
    if (WaitForSingleObject(th[2], 20000) != WAIT_OBJECT_0)
        wait = WAIT_TIMEOUT;
    for (int i = 0; i < 3; i++)
        CloseHandle(th[i]);
    printf("note tracking from 2 handles, card moved %ld times: %ld requests answered, %ld "
           "cancelled\n",
           w[2].answered, w[0].answered + w[1].answered, w[0].cancelled + w[1].cancelled);
    check(wait == WAIT_OBJECT_0 && !w[0].hung && !w[1].hung,
          "tracking storm: every request completes (10 s guard)", "wait %lu, hung %ld + %ld",
          wait, w[0].hung, w[1].hung);
    check(!w[0].wrong && !w[1].wrong && !w[2].wrong,
          "tracking storm: answers are success, ERROR_OPERATION_ABORTED or ERROR_BUSY",
          "%ld + %ld + %ld others (above)", w[0].wrong, w[1].wrong, w[2].wrong);

    /* The slot is free and tracks again: card in -> IS_PRESENT at once, IS_ABSENT pends
     * until the card leaves. */
    DWORD e = card(h, 1), n;
    Async a;
    start(&a, h, IOCTL_SMARTCARD_IS_PRESENT, NULL, 0, NULL, 0);
    e = a.started;
    if (a.pending && !finish(&a, 5000, &e, &n))
        e = WAIT_TIMEOUT;
    done(&a);
    check(!e, "after the tracking storm: IS_PRESENT with a card completes at once", "error %lu",
          e);
    start(&a, h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0);
    int pending = a.pending && !finish(&a, 300, &e, &n);
    check(pending, "after the tracking storm: IS_ABSENT pends (the slot is free)",
          "gave %lu at once, then %lu", a.started, e);
    if (pending) {
        card(h, 0);
        e = WAIT_TIMEOUT;
        finish(&a, 5000, &e, &n);
        check(!e, "after the tracking storm: IS_ABSENT completes on removal", "error %lu", e);
        if (e == WAIT_TIMEOUT) {
            CancelIo(h);
            finish(&a, 5000, &e, &n);
        }
    }
    done(&a);
    card(h, 1);

    /* The second handle closes with its request pending: it completes cancelled. */
    if (h2 != INVALID_HANDLE_VALUE) {
        start(&a, h2, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0);
        if (a.pending && !finish(&a, 300, &e, &n)) {
            CloseHandle(h2);
            int came = WaitForSingleObject(a.ov.hEvent, 5000) == WAIT_OBJECT_0;
            check(came && a.ov.Internal == STATUS_CANCELLED_NT,
                  "the other handle's close cancels its pending tracking request",
                  came ? "completed with NTSTATUS %08lX" : "still pending 5 s after the close%.0lu",
                  (unsigned long)a.ov.Internal);
        } else {
            check(0, "IS_ABSENT pends on the other handle", "gave %lu, then %lu", a.started, e);
            CloseHandle(h2);
        }
        CloseHandle(a.ov.hEvent);
    }
    still_works(h, "the tracking storm");
}

/* ---- phase 4: TRANSMIT headers that lie ---- */

/* Under T=0 the card, not the APDU, decides the direction: a case 2 command (80 EE 00
 * 00 C7, expecting 0xC7 bytes) to the ECHO, which takes P3 as the length of data it is
 * to receive, leaves the card waiting for data the reader never sends: the TRANSMIT
 * times out (STATUS_IO_TIMEOUT), and as T=0 has no way back into step but a reset,
 * the card is deactivated: GET_STATE says SWALLOWED and every TRANSMIT is refused
 * (STATUS_INVALID_DEVICE_STATE) until a POWER reset. Found by the storm (seed 5, 20,000
 * calls). */
static void t0_wrong_direction(HANDLE h)
{
    BYTE atr[64], r[300];
    DWORD n = 0, sel = 0;
    power(h, SCARD_COLD_RESET, atr, &n);
    DWORD e = set_protocol(h, SCARD_PROTOCOL_T0, &sel);
    check(!e && sel == SCARD_PROTOCOL_T0, "SET_PROTOCOL T=0", "error %lu", e);
    static const BYTE wrong[] = {0x80, 0xEE, 0x00, 0x00, 0xC7};
    e = transmit(h, SCARD_PROTOCOL_T0, wrong, sizeof wrong, r, sizeof r, &n);
    check(e == ERROR_SEM_TIMEOUT, "T=0 case 2 to a case 3 INS -> ERROR_SEM_TIMEOUT", "error %lu",
          e);
    static const BYTE challenge[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    e = transmit(h, SCARD_PROTOCOL_T0, challenge, sizeof challenge, r, sizeof r, &n);
    check(e == ERROR_BAD_COMMAND, "... then TRANSMIT is refused (card deactivated) -> ERROR_BAD_COMMAND",
          "error %lu", e);
    DWORD state = 0;
    e = get_state(h, &state);
    check(!e && state == SCARD_SWALLOWED, "... and GET_STATE = SWALLOWED (card deactivated)",
          "error %lu, state %lu", e, state);
    e = power(h, SCARD_COLD_RESET, atr, &n);
    DWORD e2 = set_protocol(h, SCARD_PROTOCOL_T0, &sel);
    check(!e && !e2, "... until POWER cold reset and SET_PROTOCOL T=0", "errors %lu, %lu", e, e2);
    check_echo(h, SCARD_PROTOCOL_T0, 0x01, 0x02, 0x03, "... after which the T=0 ECHO works");
}

static void lying_headers(HANDLE h)
{
    static BYTE out[65600];
    static const BYTE echo[] = {0x80, 0xEE, 0x00, 0x00, 0x02, 0x77, 0x88, 0x00};
    const DWORD len = sizeof echo;
    struct {
        DWORD protocol, pci, len, want;
        const char *name;
    } cases[] = {
        {SCARD_PROTOCOL_T1, 0, len, ERROR_INVALID_PARAMETER, "cbPciLength 0"},
        {SCARD_PROTOCOL_T1, 7, len, ERROR_INVALID_PARAMETER, "cbPciLength 7 (smaller than the header)"},
        {SCARD_PROTOCOL_T1, 8 + len + 1, len, ERROR_INVALID_PARAMETER, "cbPciLength past the input"},
        {SCARD_PROTOCOL_T1, 8 + len, len, ERROR_INVALID_PARAMETER, "cbPciLength = the input (no APDU)"},
        {SCARD_PROTOCOL_T1, 0x7FFFFFFF, len, ERROR_INVALID_PARAMETER, "cbPciLength 0x7FFFFFFF"},
        {SCARD_PROTOCOL_T1, 0xFFFFFFFF, len, ERROR_INVALID_PARAMETER, "cbPciLength 0xFFFFFFFF"},
        {SCARD_PROTOCOL_T1, 8, 0, ERROR_INVALID_PARAMETER, "a zero-length APDU"},
        {SCARD_PROTOCOL_T0, 8, len, ERROR_INVALID_PARAMETER, "dwProtocol T=0 while T=1 is selected"},
        {0, 8, len, ERROR_INVALID_PARAMETER, "dwProtocol 0"},
        {SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, 8, len, ERROR_INVALID_PARAMETER,
         "dwProtocol T=0|T=1"},
        {SCARD_PROTOCOL_RAW, 8, len, ERROR_INVALID_PARAMETER, "dwProtocol RAW"},
        {0xFFFFFFFF, 8, len, ERROR_INVALID_PARAMETER, "dwProtocol 0xFFFFFFFF"},
    };
    char name[200], a[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        DWORD n = 0;
        /* No APDU (NULL) for the zero-length case: the header alone goes out. */
        const BYTE *apdu = cases[i].len ? echo : NULL;
        DWORD e = transmit_request(h, cases[i].protocol, cases[i].pci, apdu, cases[i].len, out, 64, &n);
        snprintf(name, sizeof name, "TRANSMIT with %s -> error %lu, then ECHO works", cases[i].name,
                 cases[i].want);
        BYTE r[16];
        DWORD rn = 0;
        DWORD after = transmit(h, SCARD_PROTOCOL_T1, echo, len, r, sizeof r, &rn);
        check(e == cases[i].want && !after && rn == 4 && r[0] == 0x77, name,
              "error %lu (%lu bytes), the ECHO after it: error %lu, %lu bytes", e, n, after, rn);
    }
    /* PCI bytes after the header are allowed and skipped. */
    BYTE padded[4 + sizeof echo];
    memset(padded, 0, 4);
    memcpy(padded + 4, echo, sizeof echo);
    DWORD n = 0;
    DWORD e = transmit_request(h, SCARD_PROTOCOL_T1, 12, padded, sizeof padded, out, 64, &n);
    hex(a, sizeof a, out, n);
    check(!e && n == 12 && out[8] == 0x77 && out[9] == 0x88 && out[10] == 0x90,
          "TRANSMIT with 4 bytes of PCI after the header (cbPciLength 12) -> the ECHO",
          "error %lu, %s", e, a);
    /* An extended APDU of 65 KiB: Lc = 65535 (00 FF FF), data, Le = 00 00. */
    static BYTE big[7 + 65535 + 2];
    big[0] = 0x80, big[1] = 0xEE, big[2] = 0, big[3] = 0, big[4] = 0, big[5] = 0xFF, big[6] = 0xFF;
    memset(big + 7, 0x42, 65535);
    n = 0;
    e = transmit_request(h, SCARD_PROTOCOL_T1, 8, big, sizeof big, out, sizeof out, &n);
    check(e == ERROR_NO_SYSTEM_RESOURCES || e == ERROR_MORE_DATA || e == ERROR_INVALID_PARAMETER,
          "TRANSMIT of a 65 KiB extended APDU -> refused with a documented error",
          "error %lu, %lu bytes", e, n);
    printf("note 65 KiB extended APDU: error %lu\n", e);
    /* The program's own bounds: an APDU longer than transmit sends, or a response
     * longer than the caller's buffer, is refused, not copied past the end. */
    static BYTE huge[TRANSMIT_MAX_APDU + 1];
    BYTE small[4];
    DWORD rn = 1;
    e = transmit(h, SCARD_PROTOCOL_T1, huge, sizeof huge, small, sizeof small, &rn);
    check(e == ERROR_INSUFFICIENT_BUFFER && rn == 0,
          "transmit of an APDU over TRANSMIT_MAX_APDU bytes -> refused, nothing sent",
          "error %lu, %lu bytes", e, rn);
    e = transmit(h, SCARD_PROTOCOL_T1, echo, sizeof echo, small, 3, &rn);
    check(e == ERROR_INSUFFICIENT_BUFFER && rn == 0,
          "transmit of the ECHO (4 bytes back) into 3 bytes -> refused, nothing copied",
          "error %lu, %lu bytes", e, rn);
    t0_wrong_direction(h);
    still_works(h, "the lying headers");
}

/* ---- phase 5: the storm while the reader sleeps and wakes ---- */

typedef struct {
    HANDLE h;
    unsigned long long seed;
    volatile LONG stop;
    LONG sleeps, wakes, failed;
    DWORD first_error;
} Sleeper;

/* Sleep or wake at random (a wake moves the card now and then) until told to stop. */
static DWORD WINAPI sleeper(void *arg)
{
    Sleeper *s = arg;
    Rng r;
    rng_seed(&r, s->seed);
    while (!s->stop) {
        BYTE b = below(&r, 2) ? 0 : (BYTE)(1 + (below(&r, 4) ? 0 : 1 + below(&r, 2)));
        DWORD e = power_control(s->h, b);
        if (e && !s->failed++)
            s->first_error = e;
        if (b)
            s->wakes++;
        else
            s->sleeps++;
        Sleep(below(&r, 4));
    }
    return 0;
}

static void sleep_phase(HANDLE h, unsigned long long seed, int calls)
{
    Sleeper s = {.h = h, .seed = seed + 11};
    InterlockedExchange(&sleep_racing, 1);
    HANDLE th = CreateThread(NULL, 0, sleeper, &s, 0, NULL);
    storm(h, seed + 7, calls / 2, "storm racing sleep and wake");
    InterlockedExchange(&s.stop, 1);
    DWORD wait = WaitForSingleObject(th, 20000);
    CloseHandle(th);
    printf("note sleeper: %ld sleeps, %ld wakes during the storm, %ld calls refused "
           "ERROR_NOT_READY\n", s.sleeps, s.wakes, not_ready_seen);
    check(not_ready_seen > 0, "the storm met the reader asleep (some calls ERROR_NOT_READY)",
          "no call was refused");
    check(wait == WAIT_OBJECT_0 && !s.failed && s.sleeps && s.wakes,
          "power control racing the storm: every sleep and wake succeeds",
          "wait %lu, %ld sleeps, %ld wakes, %ld failed (first error %lu)", wait, s.sleeps,
          s.wakes, s.failed, s.first_error);
    DWORD e = power_control(h, 1);
    InterlockedExchange(&sleep_racing, 0);
    check(!e, "wake after the race", "error %lu", e);
    still_works(h, "sleep and wake racing the storm");
}

/* ---- phase 6: a handle closed with requests in flight ---- */

static DWORD WINAPI flood(void *arg)
{
    Worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        DWORD state;
        DWORD e = get_state(w->h, &state);
        InterlockedIncrement(&w->answered);
        if (e == ERROR_INVALID_HANDLE || e == ERROR_OPERATION_ABORTED)
            break;
        if (e && InterlockedIncrement(&w->wrong) <= 5)
            printf("FAIL-detail flood round %d: error %lu\n", i, e);
    }
    return 0;
}

static HANDLE close_in_flight(HANDLE h)
{
    Worker w = {.h = h, .rounds = 100000};
    HANDLE th = CreateThread(NULL, 0, flood, &w, 0, NULL);
    Async a;
    start(&a, h, IOCTL_SMARTCARD_IS_ABSENT, NULL, 0, NULL, 0);
    Sleep(50);
    CloseHandle(h);
    int came = WaitForSingleObject(a.ov.hEvent, 5000) == WAIT_OBJECT_0;
    check(came && a.ov.Internal == STATUS_CANCELLED_NT,
          "close with a tracking request and a GET_STATE flood in flight: the tracking request "
          "completes cancelled",
          came ? "completed with NTSTATUS %08lX" : "still pending 5 s after the close%.0lu",
          (unsigned long)a.ov.Internal);
    DWORD wait = WaitForSingleObject(th, 20000);
    check(wait == WAIT_OBJECT_0, "the flood thread ends after the close (no request hangs)",
          "wait %lu after %ld requests", wait, w.answered);
    check(!w.wrong, "the flood's requests before the close all succeeded", "%ld failed", w.wrong);
    CloseHandle(th);
    CloseHandle(a.ov.hEvent);
    h = open_reader();
    check(h != INVALID_HANDLE_VALUE, "the reader opens again", "error %lu", GetLastError());
    if (h != INVALID_HANDLE_VALUE)
        still_works(h, "the close in flight");
    return h;
}

int wmain(int argc, WCHAR **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: hostile.exe SEED [CALLS]\n");
        return 2;
    }
    unsigned long long seed = _wcstoui64(argv[1], NULL, 10);
    int calls = argc > 2 ? _wtoi(argv[2]) : 3000;
    InitializeCriticalSection(&seen_lock);
    printf("note seed %llu (rerun: hostile.exe %llu %d)\n", seed, seed, calls);
    int found = find_reader(15000);
    check(found, "reader interface present", "not found in 15 s");
    HANDLE h = found ? open_reader() : INVALID_HANDLE_VALUE;
    check(h != INVALID_HANDLE_VALUE, "open the reader", "error %lu", GetLastError());
    if (h == INVALID_HANDLE_VALUE) {
        printf("client: %ld passed, %ld failed\n", passed, failed);
        return 1;
    }
    int calm = storm(h, seed, calls, "storm");
    if (calm)
        still_works(h, "the storm");
    calm = calm && concurrent_storm(h, seed, calls);
    print_seen();
    if (calm) {
        still_works(h, "the storm from 3 threads");
        cancel_phase(h, seed);
        tracking_phase(h, seed);
        lying_headers(h);
        sleep_phase(h, seed, calls);
        h = close_in_flight(h);
    }
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    printf("client: %ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
