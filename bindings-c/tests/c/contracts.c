/* The C ABI's contracts (issue 12, section 4): out-pointers and buffers that overlap
 * are refused before anything runs; a driver calling back into its device from a
 * callback gets an answer instead of a deadlock; card events from a callback work
 * and tracking may be re-armed from the completion; a card pulled during TRANSMIT
 * is answered like one pulled during POWER (the callback's success keeps its
 * answer, its failure becomes NO_MEDIA). An alarm turns a deadlock into a failure. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static const uint8_t ATR[] = {0x3B, 0xD0, 0x96, 0x00, 0x80, 0x31, 0xFE, 0x45, 0x4C};

enum inside { NOTHING, CALL_BACK, PULL_CARD };

struct driver {
    rk_device *dev;
    int power_calls, tracking_calls, completions;
    rk_status completed_with;
    enum inside inside_power, inside_transmit;
    int rearm_on_completion, process_in_hook, fail_next;
    rk_status rearmed;
    /* statuses of the calls made from inside the power callback */
    rk_status power_st, transmit_st, last_error_st, set_attr_st, is_present_st, deinit_st,
        get_state_st, state_st, events_st;
};

static rk_device dev;
static struct driver drv;

static rk_status control(uint32_t code, const void *in, size_t in_len, void *out, size_t out_len)
{
    size_t n = 0;
    return rk_device_control(&dev, code, (const uint8_t *)in, in_len, (uint8_t *)out, out_len, &n);
}

static void call_back(struct driver *d)
{
    uint8_t out[64];
    uint32_t power = 1, state = 0;
    static const uint8_t transmit[] = {2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08};
    static const uint8_t suppress_ifs[] = {0x07, 0x00, 0x08, 0x00, 1};
    d->power_st = control(RK_IOCTL_POWER, &power, 4, out, sizeof out);
    d->transmit_st = control(RK_IOCTL_TRANSMIT, transmit, sizeof transmit, out, sizeof out);
    d->last_error_st = control(RK_IOCTL_GET_LAST_ERROR, NULL, 0, out, sizeof out);
    d->set_attr_st = control(RK_IOCTL_SET_ATTRIBUTE, suppress_ifs, sizeof suppress_ifs, NULL, 0);
    d->is_present_st = control(RK_IOCTL_IS_PRESENT, NULL, 0, NULL, 0);
    d->get_state_st = control(RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out);
    d->deinit_st = rk_device_deinit(d->dev);
    d->state_st = rk_device_state(d->dev, &state);
    d->events_st = rk_process_events(d->dev);
}

static void act(struct driver *d, enum inside what)
{
    if (what == CALL_BACK) call_back(d);
    if (what == PULL_CARD) rk_card_event(d->dev, RK_CARD_REMOVED);
}

static rk_status drv_power(void *ctx, uint32_t action, uint8_t *atr, size_t cap, size_t *len)
{
    struct driver *d = (struct driver *)ctx;
    enum inside what = d->inside_power;
    d->power_calls++;
    d->inside_power = NOTHING;
    if (action != RK_POWER_DOWN) {
        if (cap < sizeof ATR) return RK_STATUS_BUFFER_TOO_SMALL;
        memcpy(atr, ATR, sizeof ATR);
        *len = sizeof ATR;
    }
    act(d, what);
    if (d->fail_next) { d->fail_next = 0; return RK_STATUS_IO_TIMEOUT; }
    return RK_STATUS_SUCCESS;
}

static rk_status drv_transmit(void *ctx, const rk_transmit_call *call, uint8_t *reply,
                              size_t cap, size_t *len)
{
    struct driver *d = (struct driver *)ctx;
    enum inside what = d->inside_transmit;
    (void)call;
    d->inside_transmit = NOTHING;
    act(d, what);
    if (d->fail_next) { d->fail_next = 0; return RK_STATUS_IO_TIMEOUT; }
    if (cap < 2) return RK_STATUS_BUFFER_TOO_SMALL;
    reply[0] = 0x90;
    reply[1] = 0x00;
    *len = 2;
    return RK_STATUS_SUCCESS;
}

static rk_status drv_set_protocol(void *ctx, const rk_protocol_call *call, rk_timing *timing)
{
    (void)ctx;
    if (call->pps_len == 0) { *timing = call->timing; return RK_STATUS_SUCCESS; }
    /* the card echoes the PPS request */
    return rk_pps_accept(call, call->pps, call->pps_len, timing);
}

static rk_status drv_tracking(void *ctx, uint32_t wait)
{
    (void)wait;
    ((struct driver *)ctx)->tracking_calls++;
    return RK_STATUS_SUCCESS;
}

static void drv_complete(void *ctx, rk_status status)
{
    struct driver *d = (struct driver *)ctx;
    d->completions++;
    d->completed_with = status;
    if (d->rearm_on_completion) {
        d->rearm_on_completion = 0;
        d->rearmed = control(RK_IOCTL_IS_PRESENT, NULL, 0, NULL, 0);
    }
}

static void drv_events_pending(void *ctx)
{
    struct driver *d = (struct driver *)ctx;
    if (d->process_in_hook) rk_process_events(d->dev);
}

static uint32_t state_now(void)
{
    uint32_t state = 0;
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_SUCCESS);
    return state;
}

static void out_pointers(void)
{
    /* COLD_RESET in the first word of the input */
    size_t input[2] = {1, 0};
    size_t words[2] = {0, 0};
    size_t *misaligned = (size_t *)(void *)((uint8_t *)words + 1);
    uint8_t out[40];
    int calls = drv.power_calls;

    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)input, 4, out, sizeof out,
                               misaligned), RK_STATUS_INVALID_PARAMETER);
    CHECK(words[0] == 0 && words[1] == 0);
    /* bytes_written inside the input: written first, it turned COLD_RESET into
     * POWER_DOWN */
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)input, 4, out, sizeof out,
                               &input[0]), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)input, 4, out, sizeof out,
                               (size_t *)(void *)(out + 8)), RK_STATUS_INVALID_PARAMETER);
    CHECK(input[0] == 1);
    CHECK(drv.power_calls == calls);
    CHECK(state_now() == 3); /* present, unpowered */
}

static void engines(void)
{
    static const uint8_t apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    rk_t0_exchange ex;
    rk_action a;
    rk_t1_engine engine;
    rk_t1_transaction tx;
    rk_t1_config cfg;
    uint8_t buf[64];

    memset(&ex, 0, sizeof ex);
    memcpy(buf, apdu, sizeof apdu);
    /* the APDU inside the response buffer */
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, buf, sizeof apdu, buf, sizeof buf, NULL, &a),
             RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, buf, sizeof apdu, buf + 2, 20, NULL, &a),
             RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, buf, sizeof apdu, buf + 8, 20, NULL, &a), RK_STATUS_SUCCESS);
    CHECK(a.kind == RK_ACTION_SEND);
    CHECK_ST(rk_t0_sent(&ex, &a), RK_STATUS_SUCCESS);
    CHECK(a.kind == RK_ACTION_RECEIVE);
    /* card bytes "received" into the response buffer the exchange holds */
    CHECK_ST(rk_t0_feed(&ex, buf + 8, 1, &a), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_feed(&ex, (const uint8_t *)&ex + 16, 1, &a), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_end(&ex), RK_STATUS_SUCCESS);

    memset(&engine, 0, sizeof engine);
    memset(&tx, 0, sizeof tx);
    CHECK_ST(rk_t1_config_default(&cfg, 32, RK_EDC_LRC), RK_STATUS_SUCCESS);
    cfg.send_ifs_request = 0;
    CHECK_ST(rk_t1_init(&engine, sizeof engine, &cfg), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t1_begin(&tx, sizeof tx, &engine, buf, sizeof apdu, buf + 4, 32, &a),
             RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_begin(&tx, sizeof tx, &engine, buf, sizeof apdu, buf + 8, 32, &a),
             RK_STATUS_SUCCESS);
    CHECK(a.kind == RK_ACTION_SEND);
    /* the engine's own block fed back as the card's */
    CHECK_ST(rk_t1_receive(&tx, a.data, a.len, &a), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_receive(&tx, buf + 8, 4, &a), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_end(&tx), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t1_deinit(&engine), RK_STATUS_SUCCESS);
}

static void reentry(void)
{
    uint32_t power = 1;
    uint8_t out[40];
    drv.inside_power = CALL_BACK;
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, sizeof out), RK_STATUS_SUCCESS);
    CHECK_ST(drv.power_st, RK_STATUS_DEVICE_BUSY);
    CHECK_ST(drv.transmit_st, RK_STATUS_DEVICE_BUSY);
    CHECK_ST(drv.set_attr_st, RK_STATUS_DEVICE_BUSY);
    CHECK_ST(drv.is_present_st, RK_STATUS_DEVICE_BUSY);
    CHECK_ST(drv.deinit_st, RK_STATUS_DEVICE_BUSY);
    CHECK_ST(drv.last_error_st, RK_STATUS_SUCCESS);
    CHECK_ST(drv.get_state_st, RK_STATUS_SUCCESS);
    CHECK_ST(drv.state_st, RK_STATUS_SUCCESS);
    CHECK_ST(drv.events_st, RK_STATUS_SUCCESS);
    CHECK(drv.tracking_calls == 0);
    CHECK(state_now() == 5); /* negotiable */
    CHECK(strstr(rk_status_description(RK_STATUS_DEVICE_BUSY), "callbacks") != NULL);
}

static void pulled_during_transmit(void)
{
    uint32_t t1 = RK_PROTOCOL_T1, power = 1;
    uint8_t out[64];
    static const uint8_t transmit[] = {2, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x84, 0x00, 0x00, 0x08};
    CHECK_ST(control(RK_IOCTL_SET_PROTOCOL, &t1, 4, out, 4), RK_STATUS_SUCCESS);
    CHECK_ST(control(RK_IOCTL_TRANSMIT, transmit, sizeof transmit, out, sizeof out), RK_STATUS_SUCCESS);
    CHECK_ST(control(RK_IOCTL_IS_ABSENT, NULL, 0, NULL, 0), RK_STATUS_PENDING);
    drv.inside_transmit = PULL_CARD;
    drv.fail_next = 1;
    drv.process_in_hook = 1;
    drv.rearm_on_completion = 1;
    /* the card leaves during TRANSMIT, which then fails; the events hook processes
     * the removal at once; the completion arms IS_PRESENT again */
    CHECK_ST(control(RK_IOCTL_TRANSMIT, transmit, sizeof transmit, out, sizeof out), RK_STATUS_NO_MEDIA);
    CHECK(drv.completions == 1 && drv.completed_with == RK_STATUS_SUCCESS);
    CHECK_ST(drv.rearmed, RK_STATUS_PENDING);
    CHECK(drv.tracking_calls == 2);
    CHECK(state_now() == 1);
    drv.process_in_hook = 0;
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(rk_process_events(&dev), RK_STATUS_SUCCESS);
    CHECK(drv.completions == 2 && drv.completed_with == RK_STATUS_SUCCESS);
    /* the same during POWER: the same answer */
    drv.inside_power = PULL_CARD;
    drv.fail_next = 1;
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, 33), RK_STATUS_NO_MEDIA);
    /* callbacks that succeeded before the card left keep their answer, POWER and
     * TRANSMIT alike; nothing is recorded for the card that left */
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    drv.inside_power = PULL_CARD;
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, 33), RK_STATUS_SUCCESS);
    CHECK(state_now() == 1);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(control(RK_IOCTL_POWER, &power, 4, out, 33), RK_STATUS_SUCCESS);
    CHECK_ST(control(RK_IOCTL_SET_PROTOCOL, &t1, 4, out, 4), RK_STATUS_SUCCESS);
    drv.inside_transmit = PULL_CARD;
    CHECK_ST(control(RK_IOCTL_TRANSMIT, transmit, sizeof transmit, out, sizeof out), RK_STATUS_SUCCESS);
    CHECK(state_now() == 1);
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;

    alarm(120); /* a deadlock fails the test instead of hanging it */
    memset(&table, 0, sizeof table);
    table.power = drv_power;
    table.transmit = drv_transmit;
    table.set_protocol = drv_set_protocol;
    table.card_tracking = drv_tracking;
    table.tracking_complete = drv_complete;
    table.events_pending = drv_events_pending;
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    drv.dev = &dev;
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &drv, &caps, NULL), RK_STATUS_SUCCESS);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);

    out_pointers();
    engines();
    reentry();
    pulled_during_transmit();

    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    return finish("contracts");
}
