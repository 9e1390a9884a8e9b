/* A C driver that deactivates the card itself, after a failed PPS, a failed T=1
 * resynchronisation or a T=0 exchange broken mid-way (sim_driver.h), tells the library so
 * (rk_protocol_report_deactivation, rk_transmit_report_deactivation): the card is
 * then taken for unpowered, TRANSMIT waits for a reset, and a warm reset is done
 * as a cold one. And the other way a card loses power: the reader's sleep
 * (rk_device_suspend / rk_device_resume), during which the device refuses what
 * needs the reader (RK_STATUS_DEVICE_NOT_READY). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "requests.h"
#include "sim_driver.h"

static rk_device dev;
static struct sim_driver drv;

static rk_status power(uint32_t action)
{
    return request_power(&dev, action);
}

static rk_status set_t1(void)
{
    return request_protocol(&dev, RK_PROTOCOL_T1);
}

static rk_status select_mf(void)
{
    return request_select_mf_t1(&dev);
}

static rk_status set_t0(void)
{
    return request_protocol(&dev, RK_PROTOCOL_T0);
}

/* A TRANSMIT of `apdu` under T=0, the response into `out_len` bytes. */
static rk_status transmit_t0(const uint8_t *apdu, size_t len, size_t out_len)
{
    uint8_t in[8 + 16], out[300];
    uint32_t hdr[2];
    size_t n = 0;
    hdr[0] = RK_PROTOCOL_T0;
    hdr[1] = 8;
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, len);
    return rk_device_control(&dev, RK_IOCTL_TRANSMIT, in, 8 + len, out, out_len, &n);
}

static rk_status select_mf_t0(void)
{
    static const uint8_t apdu[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00};
    return transmit_t0(apdu, sizeof apdu, 300);
}

/* GET DATA of the 8-byte serial number into a reply of `room` bytes after the
 * SCARD_IO_REQUEST header: too small for it, the exchange ends after 90 00. */
static rk_status get_data_t0(size_t room)
{
    static const uint8_t apdu[] = {0x00, 0xCA, 0x01, 0x01, 0x08};
    return transmit_t0(apdu, sizeof apdu, 8 + room);
}

static uint32_t state(void)
{
    uint32_t s = 0;
    CHECK_ST(rk_device_state(&dev, &s), RK_STATUS_SUCCESS);
    return s;
}

/* `request` with the driver's `fault` on fails, and the driver's deactivation
 * leaves the card unpowered: TRANSMIT waits for a reset. */
static void deactivated_by(int *fault, rk_status (*request)(void), const char *what)
{
    rk_status st;
    *fault = 1;
    st = request();
    *fault = 0;
    printf("%s: %s\n", what, rk_status_description(st));
    CHECK(st != RK_STATUS_SUCCESS);
    CHECK(state() == STATE_SWALLOWED);
    CHECK_ST(select_mf(), RK_STATUS_INVALID_DEVICE_STATE);
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    rk_status st;

    sim_driver_table(&table);
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &drv, &caps, NULL), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_init(&drv.card, sizeof drv.card, RK_SIM_PROFILE_T1), RK_STATUS_SUCCESS);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(power(RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK(state() == STATE_NEGOTIABLE);

    /* The card's PPS answer is corrupted: the driver deactivates the card. */
    deactivated_by(&drv.corrupt_pps, set_t1, "failed PPS");
    CHECK_ST(power(RK_POWER_WARM_RESET), RK_STATUS_SUCCESS);
    CHECK(drv.last_power == RK_POWER_COLD_RESET);
    CHECK(state() == STATE_NEGOTIABLE);

    /* The card falls silent mid-session: T=1 resynchronisation fails. */
    CHECK_ST(set_t1(), RK_STATUS_SUCCESS);
    CHECK(state() == STATE_SPECIFIC);
    CHECK_ST(select_mf(), RK_STATUS_SUCCESS);
    deactivated_by(&drv.silent, select_mf, "failed resynchronisation");
    CHECK(!drv.t1_ready);

    /* A reset brings the card back. */
    CHECK_ST(power(RK_POWER_WARM_RESET), RK_STATUS_SUCCESS);
    CHECK(drv.last_power == RK_POWER_COLD_RESET);
    CHECK_ST(set_t1(), RK_STATUS_SUCCESS);
    CHECK_ST(select_mf(), RK_STATUS_SUCCESS);

    /* A T=0 card falls silent after a command's header: the card may still be
     * inside the exchange (rk_t0_out_of_step), and T=0 has no way back but a
     * reset. A command refused before it went out leaves it in step. */
    CHECK_ST(power(RK_POWER_DOWN), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_deinit(&drv.card), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_init(&drv.card, sizeof drv.card, RK_SIM_PROFILE_T0), RK_STATUS_SUCCESS);
    CHECK_ST(power(RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK_ST(set_t0(), RK_STATUS_SUCCESS);
    CHECK_ST(select_mf_t0(), RK_STATUS_SUCCESS);
    CHECK_ST(get_data_t0(4), RK_STATUS_BUFFER_TOO_SMALL);
    CHECK(state() == STATE_SPECIFIC);
    CHECK_ST(select_mf_t0(), RK_STATUS_SUCCESS);
    drv.silent = 1;
    st = select_mf_t0();
    drv.silent = 0;
    printf("T=0 exchange broken mid-way: %s\n", rk_status_description(st));
    CHECK_ST(st, RK_STATUS_IO_TIMEOUT);
    CHECK(state() == STATE_SWALLOWED);
    CHECK_ST(select_mf_t0(), RK_STATUS_INVALID_DEVICE_STATE);
    CHECK_ST(power(RK_POWER_WARM_RESET), RK_STATUS_SUCCESS);
    CHECK(drv.last_power == RK_POWER_COLD_RESET);
    CHECK_ST(set_t0(), RK_STATUS_SUCCESS);
    CHECK_ST(select_mf_t0(), RK_STATUS_SUCCESS);

    /* Outside a callback there is no call to report on. */
    CHECK_ST(rk_transmit_report_deactivation(NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_protocol_report_deactivation(NULL), RK_STATUS_INVALID_PARAMETER);

    /* System sleep: the card is powered down; on waking it may be another card. */
    {
        bool card_before = false;
        uint32_t before = 0, after = 0;
        CHECK_ST(rk_device_card_insertions(&dev, &before), RK_STATUS_SUCCESS);
        bool asleep = false;
        CHECK_ST(rk_device_suspend(&dev, &card_before), RK_STATUS_SUCCESS);
        CHECK(card_before);
        CHECK_ST(rk_device_asleep(&dev, &asleep), RK_STATUS_SUCCESS);
        CHECK(asleep);
        CHECK(drv.last_power == RK_POWER_DOWN);
        CHECK(state() == STATE_SWALLOWED);
        /* Asleep, the device itself refuses what needs the reader: the driver
         * asks nothing and its POWER callback is not called. */
        CHECK_ST(power(RK_POWER_COLD_RESET), RK_STATUS_DEVICE_NOT_READY);
        CHECK(drv.last_power == RK_POWER_DOWN);
        CHECK_ST(set_t1(), RK_STATUS_DEVICE_NOT_READY);
        CHECK(state() == STATE_SWALLOWED);
        CHECK_ST(rk_device_resume(&dev, true), RK_STATUS_SUCCESS);
        CHECK_WOKEN_AS_SWAPPED(&dev, before);
        /* Awake: a second resume reports no swap. */
        CHECK_ST(rk_device_resume(&dev, true), RK_STATUS_SUCCESS);
        CHECK_ST(rk_device_card_insertions(&dev, &after), RK_STATUS_SUCCESS);
        CHECK(after == before + 1);
        CHECK_ST(power(RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
        CHECK(state() == STATE_NEGOTIABLE);
    }

    CHECK_ST(power(RK_POWER_DOWN), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_deinit(&drv.card), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    return finish("deactivation_test");
}
