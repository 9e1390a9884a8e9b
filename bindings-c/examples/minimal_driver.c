/* A minimal reader driver in C on readerkit: copy it and replace the rk_sim_* calls
 * (the simulated card, test-only) with your hardware's power and I/O.
 *
 * Build (see bindings-c/README.md):
 *   cargo build -p readerkit-c --features sim
 *   gcc -std=c99 -DRK_FEATURE_SIM -Ibindings-c/include bindings-c/examples/minimal_driver.c \
 *       target/debug/libreaderkit_c.a -lpthread -ldl -lm -o minimal_driver
 */
#include <stdio.h>
#include <string.h>
#include "readerkit.h"

struct reader {
    rk_sim_card card; /* your UART / GPIO handles instead */
};

static rk_status power(void *ctx, uint32_t action, uint8_t *atr, size_t cap, size_t *len)
{
    struct reader *r = (struct reader *)ctx;
    if (action == RK_POWER_DOWN) return rk_sim_power_off(&r->card);
    if (action == RK_POWER_COLD_RESET) rk_sim_power_on(&r->card); else rk_sim_warm_reset(&r->card);
    return rk_sim_read(&r->card, atr, cap, len); /* the ATR */
}

static rk_status set_protocol(void *ctx, const rk_protocol_call *call, rk_timing *timing)
{
    struct reader *r = (struct reader *)ctx;
    uint8_t answer[8];
    size_t n = 0;
    if (call->pps_len == 0) { *timing = call->timing; return RK_STATUS_SUCCESS; }
    rk_sim_write(&r->card, call->pps, call->pps_len);
    rk_sim_read(&r->card, answer, sizeof answer, &n);
    return rk_pps_accept(call, answer, n, timing); /* then switch the UART to *timing */
}

/* T=0 through the library's engine: the driver only moves bytes. */
static rk_status transmit(void *ctx, const rk_transmit_call *call, uint8_t *reply, size_t cap, size_t *len)
{
    struct reader *r = (struct reader *)ctx;
    rk_t0_exchange ex;
    rk_t0_action a;
    uint8_t buf[260];
    rk_status st;
    if (call->protocol != RK_PROTOCOL_T0) return RK_STATUS_NOT_SUPPORTED;
    memset(&ex, 0, sizeof ex);
    st = rk_t0_begin(&ex, sizeof ex, call->apdu, call->apdu_len, reply, cap, NULL);
    if (st != RK_STATUS_SUCCESS) return st;
    for (;;) {
        rk_t0_action_get(&ex, &a);
        if (a.kind == RK_T0_SEND) {
            rk_sim_write(&r->card, a.data, a.len);
            rk_t0_sent(&ex);
        } else if (a.kind == RK_T0_RECEIVE) {
            size_t n = 0;
            rk_sim_read(&r->card, buf, a.len < sizeof buf ? a.len : sizeof buf, &n);
            if (n) rk_t0_feed(&ex, buf, n); else rk_t0_timeout(&ex);
        } else {
            st = a.kind == RK_T0_COMPLETE ? RK_STATUS_SUCCESS : a.status;
            *len = a.kind == RK_T0_COMPLETE ? a.len : 0;
            break;
        }
    }
    rk_t0_end(&ex);
    return st;
}

static rk_device device; /* RK_DEVICE_STORAGE_SIZE bytes, no heap */
static struct reader reader;

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    uint8_t out[300], in[64];
    uint32_t power_code = RK_POWER_COLD_RESET, protocol = RK_PROTOCOL_T0, hdr[2] = {RK_PROTOCOL_T0, 8};
    static const uint8_t apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08}; /* GET CHALLENGE */
    size_t n = 0;
    rk_status st;

    memset(&table, 0, sizeof table); /* NULL = not supported */
    table.power = power;
    table.set_protocol = set_protocol;
    table.transmit = transmit;
    rk_reader_caps_typical(&caps);
    rk_sim_init(&reader.card, sizeof reader.card, RK_SIM_PROFILE_T0);
    st = rk_device_init(&device, sizeof device, &table, &reader, &caps, NULL);
    if (st != RK_STATUS_SUCCESS) return 1;
    rk_card_inserted(&device); /* from your card-detect interrupt */

    st = rk_device_control(&device, RK_IOCTL_POWER, (const uint8_t *)&power_code, 4, out, sizeof out, &n);
    printf("power: %s, ATR %u bytes\n", rk_status_description(st), (unsigned)n);
    st = rk_device_control(&device, RK_IOCTL_SET_PROTOCOL, (const uint8_t *)&protocol, 4, out, sizeof out, &n);
    printf("set protocol: %s\n", rk_status_description(st));
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, sizeof apdu);
    st = rk_device_control(&device, RK_IOCTL_TRANSMIT, in, 8 + sizeof apdu, out, sizeof out, &n);
    printf("transmit: %s (NTSTATUS 0x%08x), %u response bytes\n", rk_status_description(st),
           (unsigned)rk_status_to_ntstatus(st), (unsigned)(n - 8));
    rk_device_deinit(&device);
    rk_sim_deinit(&reader.card);
    if (st != RK_STATUS_SUCCESS || n != 8 + 8 + 2) return 1;
    printf("minimal_driver: OK\n");
    return 0;
}
