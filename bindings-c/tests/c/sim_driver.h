/* A small reader driver in C, its callbacks backed by the simulated card
 * (rk_sim_*, test-only), using the library's T=0 and T=1 engines for TRANSMIT.
 * As ISO/IEC 7816-3 asks, it deactivates the card after a failed PPS and after a
 * failed T=1 resynchronisation, and after a T=0 exchange that left the card out of
 * step (as the library's line devices do), and tells the library so. After each
 * T=1 exchange it hands the engine's information field sizes in force to the
 * library (rk_t1_field_sizes, rk_transmit_report_ifsc / _ifsd). */
#ifndef SIM_DRIVER_H
#define SIM_DRIVER_H
#include <string.h>
#include "readerkit.h"

struct sim_driver {
    rk_sim_card card;
    rk_t1_engine t1;
    int t1_ready;
    int tracking_calls;
    int vendor_calls;
    /* Faults a test injects: the card's PPS answer arrives corrupted / the card
     * stops answering (the driver reads nothing from it). */
    int corrupt_pps;
    int silent;
    /* The last POWER action the driver was asked for. */
    uint32_t last_power;
    /* A test's IFSC to report after the next T=1 exchange instead of the
     * engine's (0: the engine's), and the status the last IFSC report got. */
    uint32_t ifsc_override;
    rk_status ifsc_report;
};

/* Tell the library the field sizes in force after a T=1 exchange (the card may
 * have sent an S(IFS request), acknowledged the IFSD, or resynchronised). */
static void drv_report_sizes(struct sim_driver *d, const rk_transmit_call *call)
{
    uint8_t ifsc = 0, ifsd = 0;
    if (rk_t1_field_sizes(&d->t1, &ifsc, &ifsd) != RK_STATUS_SUCCESS) return;
    d->ifsc_report = rk_transmit_report_ifsc(call, d->ifsc_override ? d->ifsc_override : ifsc);
    d->ifsc_override = 0;
    rk_transmit_report_ifsd(call, ifsd);
}

/* Deactivate the card's contacts: the engine's state goes with it. */
static void drv_deactivate(struct sim_driver *d)
{
    if (d->t1_ready) { rk_t1_deinit(&d->t1); d->t1_ready = 0; }
    rk_sim_power(&d->card, RK_POWER_DOWN);
}

/* What the card sent, unless the test made it silent. */
static void drv_read(struct sim_driver *d, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (!d->silent) rk_sim_read(&d->card, buf, cap, n);
}

static rk_status drv_power(void *ctx, uint32_t action, uint8_t *atr, size_t cap, size_t *len)
{
    struct sim_driver *d = (struct sim_driver *)ctx;
    rk_status st;
    d->last_power = action;
    if (d->t1_ready) { rk_t1_deinit(&d->t1); d->t1_ready = 0; }
    st = rk_sim_power(&d->card, action);
    if (st != RK_STATUS_SUCCESS || action == RK_POWER_DOWN) return st;
    return rk_sim_read(&d->card, atr, cap, len);
}

static rk_status drv_set_protocol(void *ctx, const rk_protocol_call *call, rk_timing *timing)
{
    struct sim_driver *d = (struct sim_driver *)ctx;
    uint8_t answer[8];
    size_t n = 0;
    rk_status st;
    if (call->pps_len == 0) { *timing = call->timing; return RK_STATUS_SUCCESS; }
    st = rk_sim_write(&d->card, call->pps, call->pps_len);
    if (st != RK_STATUS_SUCCESS) return st;
    drv_read(d, answer, sizeof answer, &n);
    if (d->corrupt_pps && n > 1) answer[1] ^= 0x01;
    st = rk_pps_accept(call, answer, n, timing);
    if (st != RK_STATUS_SUCCESS) {
        /* A failed PPS: deactivate the card (ISO/IEC 7816-3 9.3) and say so. */
        drv_deactivate(d);
        rk_protocol_report_deactivation(call);
    }
    return st;
}

static rk_status drv_t0(struct sim_driver *d, const rk_transmit_call *call, uint8_t *reply,
                        size_t cap, size_t *len)
{
    rk_t0_exchange ex;
    rk_action a;
    uint8_t buf[300];
    rk_status st;
    memset(&ex, 0, sizeof ex);
    st = rk_t0_begin(&ex, sizeof ex, call->apdu, call->apdu_len, reply, cap, NULL, &a);
    if (st != RK_STATUS_SUCCESS) return st;
    while (st == RK_STATUS_SUCCESS && a.kind != RK_ACTION_DONE) {
        if (a.kind == RK_ACTION_SEND) {
            st = rk_sim_write(&d->card, a.data, a.len);
            if (st == RK_STATUS_SUCCESS) st = rk_t0_sent(&ex, &a);
        } else { /* RK_ACTION_RECEIVE */
            size_t n = 0, want = a.len < sizeof buf ? a.len : sizeof buf;
            drv_read(d, buf, want, &n);
            st = n ? rk_t0_feed(&ex, buf, n, &a) : rk_t0_timeout(&ex, &a);
        }
    }
    if (st == RK_STATUS_SUCCESS) *len = a.len;
    if (st != RK_STATUS_SUCCESS) {
        bool mid = false;
        if (rk_t0_out_of_step(&ex, &mid) == RK_STATUS_SUCCESS && mid) {
            /* The card may still be sending or waiting: T=0 has no way back into
             * step but a reset. Deactivate it and say so. */
            drv_deactivate(d);
            rk_transmit_report_deactivation(call);
        }
    }
    rk_t0_end(&ex);
    return st;
}

static rk_status drv_t1(struct sim_driver *d, const rk_transmit_call *call, uint8_t *reply,
                        size_t cap, size_t *len)
{
    rk_t1_transaction tx;
    rk_action a;
    uint8_t block[300];
    rk_status st;
    if (!d->t1_ready) {
        rk_t1_config cfg;
        st = rk_t1_config_default(&cfg, call->ifsc, call->edc);
        if (st != RK_STATUS_SUCCESS) return st;
        cfg.ifsd = call->ifsd;
        cfg.send_ifs_request = !call->suppress_t1_ifs_request;
        memset(&d->t1, 0, sizeof d->t1);
        st = rk_t1_init(&d->t1, sizeof d->t1, &cfg);
        if (st != RK_STATUS_SUCCESS) return st;
        d->t1_ready = 1;
    }
    memset(&tx, 0, sizeof tx);
    st = rk_t1_begin(&tx, sizeof tx, &d->t1, call->apdu, call->apdu_len, reply, cap, &a);
    while (st == RK_STATUS_SUCCESS && a.kind == RK_ACTION_SEND) {
        size_t n = 0;
        st = rk_sim_write(&d->card, a.data, a.len);
        if (st != RK_STATUS_SUCCESS) break;
        drv_read(d, block, sizeof block, &n);
        st = n ? rk_t1_receive(&tx, block, n, &a) : rk_t1_timeout(&tx, &a);
    }
    if (st == RK_STATUS_SUCCESS) *len = a.len;
    rk_t1_end(&tx);
    if (st != RK_STATUS_SUCCESS) {
        bool failed = false;
        if (rk_t1_resynch_failed(&d->t1, &failed) == RK_STATUS_SUCCESS && failed) {
            /* Rule 6.4: resynchronisation failed; deactivate the card, say so. */
            drv_deactivate(d);
            rk_transmit_report_deactivation(call);
            return st;
        }
    }
    drv_report_sizes(d, call);
    return st;
}

static rk_status drv_transmit(void *ctx, const rk_transmit_call *call, uint8_t *reply, size_t cap,
                              size_t *len)
{
    struct sim_driver *d = (struct sim_driver *)ctx;
    if (call->protocol == RK_PROTOCOL_T0) return drv_t0(d, call, reply, cap, len);
    if (call->protocol == RK_PROTOCOL_T1) return drv_t1(d, call, reply, cap, len);
    return RK_STATUS_NOT_SUPPORTED;
}

static rk_status drv_vendor(void *ctx, uint32_t code, const uint8_t *in, size_t in_len,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
    struct sim_driver *d = (struct sim_driver *)ctx;
    (void)code;
    d->vendor_calls++;
    if (in_len > out_cap) return RK_STATUS_BUFFER_TOO_SMALL;
    if (in_len) memcpy(out, in, in_len);
    *out_len = in_len;
    return RK_STATUS_SUCCESS;
}

/* The driver's callback table: power, TRANSMIT, SET_PROTOCOL and the vendor IOCTL;
 * every other callback NULL, for the test to set. */
static void sim_driver_table(rk_reader_functions *table)
{
    memset(table, 0, sizeof *table);
    table->power = drv_power;
    table->transmit = drv_transmit;
    table->set_protocol = drv_set_protocol;
    table->vendor_ioctl = drv_vendor;
}
#endif
