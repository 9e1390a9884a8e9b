/* The log callback from C: a line device over the simulated card at RK_LOG_TRACE
 * hands the callback decoded lines (the ATR, the PPS, each T=1 block) and each
 * request with its outcome; every line is NUL-terminated within RK_LOG_LINE_MAX
 * bytes, even for a 60 000-byte command of garbage. The callback runs inside a
 * call on the device: an rk_device_deinit of it from there is refused
 * RK_STATUS_DEVICE_BUSY, every time, and the device goes on working. */
#include <stdio.h>
#include <string.h>
#include "check.h"

static char seen[64][RK_LOG_LINE_MAX];
static uint32_t seen_level[64];
static int seen_count, longest;
static rk_device device;
/* Set while the device is initialised; how many deinits the callback tried. */
static int device_up, deinits_refused;

static void on_log(void *user, uint32_t level, const char *line)
{
    size_t n = strlen(line);
    CHECK(user == (void *)&seen);
    if ((int)n > longest) longest = (int)n;
    if (seen_count < 64) {
        memcpy(seen[seen_count], line, n + 1);
        seen_level[seen_count++] = level;
    }
    printf("log %u: %s\n", (unsigned)level, line);
    if (device_up) {
        CHECK_ST(rk_device_deinit(&device), RK_STATUS_DEVICE_BUSY);
        deinits_refused++;
    }
}

static int logged(uint32_t level, const char *start)
{
    int i;
    for (i = 0; i < seen_count; i++)
        if (seen_level[i] == level && strncmp(seen[i], start, strlen(start)) == 0) return 1;
    return 0;
}

static rk_sim_card card;

static rk_status line_reset(void *ctx, uint32_t reset, uint8_t *atr, size_t cap, size_t *len)
{
    rk_status st = rk_sim_power(&card, reset);
    (void)ctx;
    if (st != RK_STATUS_SUCCESS) return st;
    return rk_sim_read(&card, atr, cap, len);
}
static rk_status line_deactivate(void *ctx) { (void)ctx; return rk_sim_power(&card, RK_POWER_DOWN); }
static rk_status line_send(void *ctx, const uint8_t *bytes, size_t len)
{
    (void)ctx;
    return rk_sim_write(&card, bytes, len);
}
static rk_status line_receive(void *ctx, uint8_t *buf, size_t cap, uint32_t first_us, uint32_t next_us,
                              size_t *received)
{
    (void)ctx;
    (void)first_us;
    (void)next_us;
    return rk_sim_read(&card, buf, cap, received);
}
static rk_status line_set_timing(void *ctx, const rk_timing *timing)
{
    (void)ctx;
    (void)timing;
    return RK_STATUS_SUCCESS;
}

/* The line over the simulated card; no set_framing. */
static const rk_line_ops line = {line_reset, line_deactivate, line_send, line_receive, line_set_timing, NULL};
static uint8_t big[8 + 60000];

int main(void)
{
    rk_reader_caps caps;
    uint8_t out[300], in[64];
    uint32_t power = RK_POWER_COLD_RESET, protocol = RK_PROTOCOL_T1, hdr[2] = {RK_PROTOCOL_T1, 8};
    static const uint8_t apdu[] = {0x00, 0x84, 0x00, 0x00, 0x08};
    size_t n = 0;

    CHECK_ST(rk_log_set(on_log, &seen, 7), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_log_set(on_log, &seen, RK_LOG_TRACE), RK_STATUS_SUCCESS);
    rk_reader_caps_typical(&caps);
    CHECK_ST(rk_sim_init(&card, sizeof card, RK_SIM_PROFILE_T1), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init_line(&device, sizeof device, &line, NULL, NULL, &caps, NULL), RK_STATUS_SUCCESS);
    device_up = 1;
    rk_card_event(&device, RK_CARD_INSERTED);
    CHECK(rk_device_control(&device, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n) ==
          RK_STATUS_SUCCESS);
    CHECK(rk_device_control(&device, RK_IOCTL_SET_PROTOCOL, (const uint8_t *)&protocol, 4, out, sizeof out,
                            &n) == RK_STATUS_SUCCESS);
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, sizeof apdu);
    CHECK(rk_device_control(&device, RK_IOCTL_TRANSMIT, in, 8 + sizeof apdu, out, sizeof out, &n) ==
          RK_STATUS_SUCCESS);
    memcpy(big, hdr, 8);
    memset(big + 8, 0xEE, sizeof big - 8);
    (void)rk_device_control(&device, RK_IOCTL_TRANSMIT, big, sizeof big, out, sizeof out, &n);
    CHECK_ST(rk_log_set(NULL, NULL, RK_LOG_OFF), RK_STATUS_SUCCESS);
    device_up = 0;
    CHECK_ST(rk_device_deinit(&device), RK_STATUS_SUCCESS);
    rk_sim_deinit(&card);

    CHECK(logged(RK_LOG_TRACE, "<- ATR (cold reset) 3B 9B 96 81 71 FE 45"));
    CHECK(logged(RK_LOG_TRACE, "-> PPS request FF 11 95 7B : PPS T=1, PPS1 95 (F=512, D=16)"));
    CHECK(logged(RK_LOG_TRACE, "-> S(IFS request, 254)"));
    CHECK(logged(RK_LOG_TRACE, "-> I(N(S)=0, M=0) 5 bytes"));
    CHECK(logged(RK_LOG_TRACE, "<- I(N(S)=0, M=0) 10 bytes"));
    CHECK(logged(RK_LOG_DEBUG, "TRANSMIT T=1, 5 bytes: 00 84 00 00 08 -> success, 18 bytes in "));
    CHECK(logged(RK_LOG_INFO, "TRANSMIT T=1, 60000 bytes: EE EE"));
    CHECK(longest < RK_LOG_LINE_MAX);
    CHECK(deinits_refused > 0);
    return finish("log_test");
}
