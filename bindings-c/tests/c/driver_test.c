/* The whole path through the C API: a C reader driver on the simulated card. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "sim_driver.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int completions;
static rk_status completed_with;

static rk_status drv_tracking(void *ctx, uint32_t wait)
{
    struct sim_driver *d = (struct sim_driver *)ctx;
    (void)wait;
    d->tracking_calls++;
    return RK_STATUS_SUCCESS;
}

static void drv_complete(void *ctx, rk_status status)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    completions++;
    completed_with = status;
    pthread_mutex_unlock(&lock);
}

static rk_device dev;
static struct sim_driver drv;

static void *inserter(void *arg)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    (void)arg;
    nanosleep(&ts, NULL);
    rk_card_event(&dev, RK_CARD_INSERTED); /* as an interrupt handler would */
    return NULL;
}

static rk_status control(uint32_t code, const void *in, size_t in_len, uint8_t *out, size_t out_len,
                         size_t *written)
{
    return rk_device_control(&dev, code, (const uint8_t *)in, in_len, out, out_len, written);
}

static void transmit(uint32_t protocol, const uint8_t *apdu, size_t apdu_len, const uint8_t *want,
                     size_t want_len)
{
    uint8_t in[64], out[300];
    size_t n = 0;
    uint32_t hdr[2];
    hdr[0] = protocol;
    hdr[1] = 8;
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, apdu_len);
    CHECK_ST(control(RK_IOCTL_TRANSMIT, in, 8 + apdu_len, out, sizeof out, &n), RK_STATUS_SUCCESS);
    if (n != 8 + want_len) fprintf(stderr, "n=%u want %u\n", (unsigned)n, (unsigned)(8 + want_len));
    CHECK(n == 8 + want_len);
    if (n == 8 + want_len) CHECK(memcmp(out + 8, want, want_len) == 0);
}

static void run_profile(uint32_t profile, uint32_t protocol)
{
    uint8_t out[300];
    size_t n = 0;
    uint32_t power = 1, mask = protocol, state = 0;
    rk_atr_info info;
    static const uint8_t select_mf[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00};
    static const uint8_t sw_ok[] = {0x90, 0x00};
    static const uint8_t echo[] = {0x80, 0xEE, 0x00, 0x00, 0x03, 0x11, 0x22, 0x33, 0x00};
    static const uint8_t echo_reply[] = {0x11, 0x22, 0x33, 0x90, 0x00};

    memset(&drv.card, 0, sizeof drv.card);
    CHECK_ST(rk_sim_init(&drv.card, sizeof drv.card, profile), RK_STATUS_SUCCESS);

    /* power up: ATR back, state negotiable (or specific) */
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, sizeof out, &n), RK_STATUS_SUCCESS);
    CHECK(n >= 2 && n <= 33);
    CHECK_ST(rk_atr_parse(out, n, &info), RK_STATUS_SUCCESS);
    CHECK(info.usable == RK_STATUS_SUCCESS);
    CHECK(info.len == n && memcmp(info.bytes, out, n) == 0);
    CHECK((info.protocols & protocol) != 0);
    printf("profile %u: ATR %u bytes, protocols 0x%x, %u historical bytes\n", (unsigned)profile,
           (unsigned)info.len, (unsigned)info.protocols, (unsigned)info.historical_len);

    /* set protocol (with a PPS exchange when the card offers one) */
    CHECK_ST(control(RK_IOCTL_SET_PROTOCOL, &mask, 4, out, sizeof out, &n), RK_STATUS_SUCCESS);
    CHECK(n == 4);
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_SUCCESS);
    CHECK(state == 6);

    transmit(protocol, select_mf, sizeof select_mf, sw_ok, sizeof sw_ok);
    transmit(protocol, echo, sizeof echo, echo_reply, sizeof echo_reply);
    transmit(protocol, echo, sizeof echo, echo_reply, sizeof echo_reply);

    power = 0;
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, sizeof out, &n), RK_STATUS_SUCCESS);
    if (drv.t1_ready) { CHECK_ST(rk_t1_deinit(&drv.t1), RK_STATUS_SUCCESS); drv.t1_ready = 0; }
    CHECK_ST(rk_sim_deinit(&drv.card), RK_STATUS_SUCCESS);
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    rk_vendor_attrs vendor;
    pthread_t thread;
    uint8_t out[64];
    size_t n = 99;
    uint32_t state = 0;
    int i;

    sim_driver_table(&table);
    table.card_tracking = drv_tracking;
    table.tracking_complete = drv_complete;
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    memset(&vendor, 0, sizeof vendor);
    vendor.vendor_name = "readerkit";
    vendor.ifd_type = "C test reader";
    vendor.ifd_version = 0x01000000;

    CHECK(sizeof(rk_device) == RK_DEVICE_STORAGE_SIZE);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &drv, &caps, &vendor), RK_STATUS_SUCCESS);

    /* no card yet: IS_PRESENT pends; another thread inserts the card */
    CHECK_ST(control(RK_IOCTL_IS_PRESENT, NULL, 0, NULL, 0, &n), RK_STATUS_PENDING);
    CHECK(drv.tracking_calls == 1);
    CHECK(pthread_create(&thread, NULL, inserter, NULL) == 0);
    for (i = 0; i < 2000; i++) {
        int done;
        struct timespec ts = {0, 1000 * 1000};
        rk_process_events(&dev);
        pthread_mutex_lock(&lock);
        done = completions;
        pthread_mutex_unlock(&lock);
        if (done) break;
        nanosleep(&ts, NULL);
    }
    pthread_join(thread, NULL);
    CHECK(completions == 1);
    CHECK(completed_with == RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_SUCCESS);
    if (state != 2) fprintf(stderr, "state %u\n", (unsigned)state);
    CHECK(state == 2 || state == 3); /* present (3: swallowed = present, unpowered) */
    printf("tracking: completed from another thread's insertion\n");

    /* IS_ABSENT pends, then cancelled */
    CHECK_ST(control(RK_IOCTL_IS_ABSENT, NULL, 0, NULL, 0, &n), RK_STATUS_PENDING);
    {
        bool was = false;
        CHECK_ST(rk_cancel_tracking(&dev, &was), RK_STATUS_SUCCESS);
        CHECK(was);
        CHECK(completions == 2 && completed_with == RK_STATUS_CANCELLED);
    }

    run_profile(RK_SIM_PROFILE_T0, RK_PROTOCOL_T0);
    run_profile(RK_SIM_PROFILE_T1, RK_PROTOCOL_T1);
    run_profile(RK_SIM_PROFILE_T1_CRC, RK_PROTOCOL_T1);

    /* vendor IOCTL (function 2048) and an unsupported callback */
    CHECK_ST(control(0x00310000u | (2048u << 2), "abc", 3, out, sizeof out, &n), RK_STATUS_SUCCESS);
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0 && drv.vendor_calls == 1);
    CHECK_ST(control(RK_IOCTL_EJECT, NULL, 0, NULL, 0, &n), RK_STATUS_NOT_SUPPORTED);

    /* removal, then a request without a card */
    CHECK_ST(rk_card_event(&dev, RK_CARD_REMOVED), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_SUCCESS);
    CHECK(state == 1);

    /* status mappings */
    CHECK(rk_status_to_ntstatus(RK_STATUS_NO_MEDIA) == 0xC0000178u);
    CHECK(rk_status_to_win32(RK_STATUS_NO_MEDIA) == 1112);
    CHECK(rk_status_to_ifd(RK_STATUS_NO_MEDIA) == 616);
    CHECK(rk_status_to_scard(RK_STATUS_NO_MEDIA) == 0x8010000Cu);
    CHECK(rk_status_to_ntstatus(RK_STATUS_PENDING) == 0x103);
    CHECK(rk_status_from_ntstatus(0xC0000184u) == RK_STATUS_INVALID_DEVICE_STATE);

    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    return finish("driver_test");
}
