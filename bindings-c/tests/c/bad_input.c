/* Every entry point refuses bad pointers and sizes with a status, never a crash. */
#include <stdio.h>
#include <string.h>
#include "check.h"

static rk_status no_power(void *ctx, uint32_t a, uint8_t *atr, size_t cap, size_t *len)
{
    (void)ctx; (void)a; (void)atr; (void)cap; (void)len;
    return RK_STATUS_IO_TIMEOUT;
}
static rk_status track(void *ctx, uint32_t wait) { (void)ctx; (void)wait; return RK_STATUS_SUCCESS; }

/* A line whose reset claims more ATR bytes than the buffer holds and whose
 * receive never returns a byte. */
static rk_status lying_reset(void *ctx, uint32_t reset, uint8_t *atr, size_t cap, size_t *len)
{
    (void)ctx; (void)reset; (void)atr;
    *len = cap + 1;
    return RK_STATUS_SUCCESS;
}
static rk_status line_ok(void *ctx) { (void)ctx; return RK_STATUS_SUCCESS; }
static rk_status line_send(void *ctx, const uint8_t *bytes, size_t len)
{
    (void)ctx; (void)bytes; (void)len;
    return RK_STATUS_SUCCESS;
}
static rk_status silent_receive(void *ctx, uint8_t *buf, size_t cap, uint32_t first_us,
                                uint32_t next_us, size_t *received)
{
    (void)ctx; (void)buf; (void)cap; (void)first_us; (void)next_us;
    *received = 0;
    return RK_STATUS_SUCCESS;
}
static rk_status line_timing(void *ctx, const rk_timing *timing) { (void)ctx; (void)timing; return RK_STATUS_SUCCESS; }
static rk_device line_dev;

/* storage with room to misalign */
static union { rk_device dev; uint8_t bytes[sizeof(rk_device) + 16]; } raw;
static rk_device dev, copy;
static rk_sim_card sim;

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    rk_vendor_attrs vendor;
    uint8_t out[64];
    size_t n = 0;
    uint32_t state = 0, power = 1;
    rk_atr_info info;
    static const uint8_t bad_atr[] = {0x3B, 0xFF};
    static const uint8_t good_atr[] = {0x3B, 0x00};
    rk_t0_exchange ex;
    rk_t1_engine engine;
    rk_t1_transaction tx;
    rk_t1_config cfg;
    rk_action act;
    uint8_t resp[16];
    static const uint8_t apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    rk_device *misaligned = (rk_device *)(void *)(raw.bytes + 1);

    memset(&table, 0, sizeof table);
    table.power = no_power;
    rk_reader_caps_typical(&caps);

    /* init: NULL pointers, short or misaligned storage, bad table or caps */
    CHECK_ST(rk_device_init(NULL, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_init(&dev, sizeof dev, NULL, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, NULL, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_init(&dev, 16, &table, NULL, &caps, NULL), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_device_init(misaligned, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    table.card_tracking = track; /* without tracking_complete */
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    table.card_tracking = NULL;
    caps.max_ifsd = 0;
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    caps.max_ifsd = 255;
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    rk_reader_caps_typical(&caps);
    caps.protocols = RK_PROTOCOL_DEFAULT; /* a modifier bit, no protocol */
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
    rk_reader_caps_typical(&caps);
    memset(&vendor, 0, sizeof vendor);
    vendor.vendor_name = "a vendor name that is longer than thirty-two bytes";
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, &vendor), RK_STATUS_INVALID_PARAMETER);

    /* calls on a device never initialised (zeroed), NULL, misaligned */
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_control(NULL, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(misaligned, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_card_event(NULL, RK_CARD_REMOVED), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_process_events(NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_cancel_tracking(&dev, NULL), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_deinit(NULL), RK_STATUS_INVALID_PARAMETER);

    /* an initialised device: bad buffers */
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, NULL, &caps, NULL), RK_STATUS_DEVICE_BUSY);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_GET_STATE, NULL, 0, out, 2, &n), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_GET_STATE, NULL, 0, NULL, 4, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, NULL, 4, out, sizeof out, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)&power, 2, out, sizeof out, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, 0x12345678u, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_DEVICE_REQUEST);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n), RK_STATUS_NO_MEDIA);
    /* input and output overlapping (one METHOD_BUFFERED-style buffer): refused */
    memcpy(out, &power, 4);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, out, 4, out, sizeof out, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, out + 2, 4, out, 4, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, out, 4, out + 4, sizeof out - 4, &n), RK_STATUS_NO_MEDIA);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, NULL), RK_STATUS_SUCCESS);
    /* unknown card events (0x101 would be "inserted" if cut to a byte): refused, no card */
    CHECK_ST(rk_card_event(&dev, 0), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_card_event(&dev, 4), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_card_event(&dev, 0x100 | RK_CARD_INSERTED), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_state(&dev, &state), RK_STATUS_SUCCESS);
    CHECK(state == 1); /* absent */
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_IS_PRESENT, NULL, 0, NULL, 0, &n), RK_STATUS_NOT_SUPPORTED);
    CHECK_ST(rk_device_state(&dev, NULL), RK_STATUS_INVALID_PARAMETER);
    /* a callback failing, and a copied device */
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n), RK_STATUS_IO_TIMEOUT);
    memcpy(&copy, &dev, sizeof dev);
    CHECK_ST(rk_device_control(&copy, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_GET_STATE, NULL, 0, out, sizeof out, &n), RK_STATUS_INVALID_DEVICE_STATE);

    /* ATR parser */
    CHECK_ST(rk_atr_parse(NULL, 2, &info), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_atr_parse(good_atr, sizeof good_atr, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_atr_parse(bad_atr, sizeof bad_atr, &info), RK_STATUS_UNRECOGNIZED_MEDIA);
    CHECK_ST(rk_atr_parse(good_atr, sizeof good_atr, &info), RK_STATUS_SUCCESS);

    /* T=0 engine */
    memset(&ex, 0, sizeof ex);
    CHECK_ST(rk_t0_sent(&ex, &act), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, NULL, 5, resp, sizeof resp, NULL, &act), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, apdu, sizeof apdu, resp, sizeof resp, NULL, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, apdu, sizeof apdu, resp, 1, NULL, &act), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_t0_begin(&ex, 8, apdu, sizeof apdu, resp, sizeof resp, NULL, &act), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, apdu, sizeof apdu, resp, sizeof resp, NULL, &act), RK_STATUS_SUCCESS);
    CHECK(act.kind == RK_ACTION_SEND && act.len == sizeof apdu);
    CHECK_ST(rk_t0_begin(&ex, sizeof ex, apdu, sizeof apdu, resp, sizeof resp, NULL, &act), RK_STATUS_DEVICE_BUSY);
    CHECK_ST(rk_t0_sent(&ex, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_feed(&ex, NULL, 3, &act), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t0_end(&ex), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t0_end(&ex), RK_STATUS_INVALID_DEVICE_STATE);

    /* T=1 engine */
    memset(&engine, 0, sizeof engine);
    memset(&tx, 0, sizeof tx);
    CHECK_ST(rk_t1_config_default(&cfg, 32, 7), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_config_default(&cfg, 32, RK_EDC_LRC), RK_STATUS_SUCCESS);
    cfg.ifsc = 0;
    CHECK_ST(rk_t1_init(&engine, sizeof engine, &cfg), RK_STATUS_INVALID_PARAMETER);
    cfg.ifsc = 32;
    CHECK_ST(rk_t1_begin(&tx, sizeof tx, &engine, apdu, sizeof apdu, resp, sizeof resp, &act), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_t1_init(&engine, 8, &cfg), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_t1_init(&engine, sizeof engine, &cfg), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t1_begin(&tx, 4, &engine, apdu, sizeof apdu, resp, sizeof resp, &act), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(rk_t1_begin(&tx, sizeof tx, &engine, apdu, 0, resp, sizeof resp, &act), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_begin(&tx, sizeof tx, &engine, apdu, sizeof apdu, resp, sizeof resp, &act), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t1_deinit(&engine), RK_STATUS_DEVICE_BUSY);
    CHECK_ST(rk_t1_receive(&tx, NULL, 4, &act), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_timeout(&tx, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_end(&tx), RK_STATUS_SUCCESS);
    CHECK_ST(rk_t1_end(&tx), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(rk_t1_deinit(&engine), RK_STATUS_SUCCESS);

    /* a device over a line: NULL or incomplete line tables, a table that would
     * override the line, callbacks that claim more bytes than the buffer */
    {
        rk_line_ops line;
        rk_reader_functions extra;
        memset(&line, 0, sizeof line);
        memset(&extra, 0, sizeof extra);
        CHECK_ST(rk_device_init_line(&line_dev, sizeof line_dev, NULL, NULL, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
        line.reset = lying_reset;
        line.deactivate = line_ok;
        line.send = line_send;
        line.set_timing = line_timing;
        CHECK_ST(rk_device_init_line(&line_dev, sizeof line_dev, &line, NULL, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
        line.receive = silent_receive;
        extra.power = no_power;
        CHECK_ST(rk_device_init_line(&line_dev, sizeof line_dev, &line, &extra, NULL, &caps, NULL), RK_STATUS_INVALID_PARAMETER);
        CHECK_ST(rk_device_init_line(&line_dev, 16, &line, NULL, NULL, &caps, NULL), RK_STATUS_BUFFER_TOO_SMALL);
        CHECK_ST(rk_device_state(&line_dev, &state), RK_STATUS_INVALID_DEVICE_STATE);
        CHECK_ST(rk_device_init_line(&line_dev, sizeof line_dev, &line, NULL, NULL, &caps, NULL), RK_STATUS_SUCCESS);
        CHECK_ST(rk_device_init_line(&line_dev, sizeof line_dev, &line, NULL, NULL, &caps, NULL), RK_STATUS_DEVICE_BUSY);
        CHECK_ST(rk_card_event(&line_dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
        CHECK_ST(rk_device_control(&line_dev, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n), RK_STATUS_BUFFER_OVERFLOW);
        CHECK_ST(rk_device_state(&line_dev, &state), RK_STATUS_SUCCESS);
        if (state != 3) { fprintf(stderr, "line device state %u after a lying reset, want 3\n", (unsigned)state); failures++; }
        CHECK_ST(rk_device_control(&line_dev, RK_IOCTL_IS_ABSENT, NULL, 0, NULL, 0, &n), RK_STATUS_NOT_SUPPORTED);
        /* protocol options: a class outside -2..=255 and NULL refused */
        {
            rk_line_config cfg;
            CHECK_ST(rk_line_config_default(NULL), RK_STATUS_INVALID_PARAMETER);
            CHECK_ST(rk_line_config_default(&cfg), RK_STATUS_SUCCESS);
            CHECK(cfg.t0_envelope == 0 && cfg.t0_get_response_class == -1);
            CHECK_ST(rk_device_set_line_config(&line_dev, NULL), RK_STATUS_INVALID_PARAMETER);
            cfg.t0_get_response_class = 256;
            CHECK_ST(rk_device_set_line_config(&line_dev, &cfg), RK_STATUS_INVALID_PARAMETER);
            cfg.t0_get_response_class = 0xA0; /* GSM SIM class */
            cfg.t0_envelope = 1;
            CHECK_ST(rk_device_set_line_config(&line_dev, &cfg), RK_STATUS_SUCCESS);
            CHECK_ST(rk_device_set_line_config(NULL, &cfg), RK_STATUS_INVALID_PARAMETER);
        }
        CHECK_ST(rk_device_deinit(&line_dev), RK_STATUS_SUCCESS);
    }

    /* simulated card: NULL, an unknown power action (the card stays unpowered) */
    CHECK_ST(rk_sim_read(NULL, resp, sizeof resp, &n), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_sim_power(NULL, RK_POWER_COLD_RESET), RK_STATUS_INVALID_PARAMETER);
    memset(&sim, 0, sizeof sim);
    CHECK_ST(rk_sim_init(&sim, sizeof sim, RK_SIM_PROFILE_T0), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_power(&sim, 3), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_sim_read(&sim, resp, sizeof resp, &n), RK_STATUS_SUCCESS);
    CHECK(n == 0);
    CHECK_ST(rk_sim_power(&sim, RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_read(&sim, resp, sizeof resp, &n), RK_STATUS_SUCCESS);
    CHECK(n >= 2 && resp[0] == 0x3B);
    CHECK_ST(rk_sim_deinit(&sim), RK_STATUS_SUCCESS);

    return finish("bad_input");
}
