/* A minimal reader driver in C on readerkit, for a reader that reaches the card byte
 * by byte (a UART wired to a card interface chip): the driver writes only the line
 * (reset, send, receive with time limits, UART speed); the library runs power, PPS,
 * T=0 and T=1. Copy it and replace the rk_sim_* calls (the simulated card,
 * test-only) with your hardware's.
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
    rk_timing timing; /* what the UART runs at: baud = clock / (F / D) */
};

static rk_status line_reset(void *ctx, uint32_t reset, uint8_t *atr, size_t cap, size_t *len)
{
    struct reader *r = (struct reader *)ctx;
    rk_status st = rk_sim_power(&r->card, reset); /* RK_POWER_COLD_RESET or _WARM_RESET */
    if (st != RK_STATUS_SUCCESS) return st;
    return rk_sim_read(&r->card, atr, cap, len); /* the ATR */
}

static rk_status line_deactivate(void *ctx)
{
    return rk_sim_power(&((struct reader *)ctx)->card, RK_POWER_DOWN);
}

static rk_status line_send(void *ctx, const uint8_t *bytes, size_t len)
{
    return rk_sim_write(&((struct reader *)ctx)->card, bytes, len);
}

/* A UART would wait up to first_us for the first byte and next_us for each further
 * one, and return what arrived; the simulated card answers at once. */
static rk_status line_receive(void *ctx, uint8_t *buf, size_t cap, uint32_t first_us,
                              uint32_t next_us, size_t *received)
{
    (void)first_us;
    (void)next_us;
    return rk_sim_read(&((struct reader *)ctx)->card, buf, cap, received);
}

static rk_status line_set_timing(void *ctx, const rk_timing *timing)
{
    ((struct reader *)ctx)->timing = *timing; /* reprogram the UART's baud rate here */
    return RK_STATUS_SUCCESS;
}

static rk_device device; /* RK_DEVICE_STORAGE_SIZE bytes, no heap */
static struct reader reader;

/* Power the card up, select `protocol`, send GET CHALLENGE: 0 on success. */
static int run(uint32_t profile, uint32_t protocol, const char *name)
{
    rk_line_ops line;
    rk_reader_caps caps;
    uint8_t out[300], in[64];
    uint32_t power_code = RK_POWER_COLD_RESET, hdr[2];
    static const uint8_t apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08}; /* GET CHALLENGE */
    size_t n = 0;
    rk_status st;

    memset(&line, 0, sizeof line); /* set_framing NULL: the UART frames by itself */
    line.reset = line_reset;
    line.deactivate = line_deactivate;
    line.send = line_send;
    line.receive = line_receive;
    line.set_timing = line_set_timing;
    rk_reader_caps_typical(&caps);
    rk_sim_init(&reader.card, sizeof reader.card, profile);
    st = rk_device_init_line(&device, sizeof device, &line, NULL, &reader, &caps, NULL);
    if (st != RK_STATUS_SUCCESS) return 1;
    rk_card_event(&device, RK_CARD_INSERTED); /* from your card-detect interrupt */

    st = rk_device_control(&device, RK_IOCTL_POWER, (const uint8_t *)&power_code, 4, out, sizeof out, &n);
    printf("%s: power: %s, ATR %u bytes\n", name, rk_status_description(st), (unsigned)n);
    st = rk_device_control(&device, RK_IOCTL_SET_PROTOCOL, (const uint8_t *)&protocol, 4, out, sizeof out, &n);
    printf("%s: set protocol: %s, F=%u D=%u\n", name, rk_status_description(st),
           (unsigned)reader.timing.f, (unsigned)reader.timing.d);
    hdr[0] = protocol; /* SCARD_IO_REQUEST, then the APDU */
    hdr[1] = 8;
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, sizeof apdu);
    st = rk_device_control(&device, RK_IOCTL_TRANSMIT, in, 8 + sizeof apdu, out, sizeof out, &n);
    printf("%s: transmit: %s (NTSTATUS 0x%08x), %u response bytes\n", name, rk_status_description(st),
           (unsigned)rk_status_to_ntstatus(st), (unsigned)(n >= 8 ? n - 8 : 0));
    rk_device_deinit(&device);
    rk_sim_deinit(&reader.card);
    return st != RK_STATUS_SUCCESS || n != 8 + 8 + 2 || out[n - 2] != 0x90;
}

int main(void)
{
    if (run(RK_SIM_PROFILE_T0, RK_PROTOCOL_T0, "T=0")) return 1;
    if (run(RK_SIM_PROFILE_T1, RK_PROTOCOL_T1, "T=1")) return 1;
    printf("minimal_driver: OK\n");
    return 0;
}
