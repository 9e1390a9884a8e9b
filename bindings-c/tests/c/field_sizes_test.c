/* A C driver running its own T=1 engine (sim_driver.h) hands the information
 * field sizes in force to the library after each exchange (rk_t1_field_sizes,
 * rk_transmit_report_ifsc / rk_transmit_report_ifsd), and GET_ATTRIBUTE
 * SCARD_ATTR_CURRENT_IFSC / CURRENT_IFSD answers them (ISO/IEC 7816-3:2006
 * 11.4.2): the IFSD the card acknowledged, ISO's initial 32 when the reader's
 * S(IFS request) is suppressed, a size reported until the next report or reset;
 * sizes outside 1..=254 refused. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "requests.h"
#include "sim_driver.h"

#define ATTR_CURRENT_IFSC 0x00080207u
#define ATTR_CURRENT_IFSD 0x00080208u
#define ATTR_SUPPRESS_T1_IFS_REQUEST 0x7FFF0007u

static rk_device dev;
static struct sim_driver drv;

/* A DWORD attribute (the request checked to succeed). */
static uint32_t dword_attribute(uint32_t tag)
{
    uint8_t out[300];
    size_t n = 0;
    uint32_t value = 0;
    CHECK_ST(request(&dev, RK_IOCTL_GET_ATTRIBUTE, &tag, sizeof tag, out, sizeof out, &n),
             RK_STATUS_SUCCESS);
    CHECK(n == 4);
    memcpy(&value, out, 4);
    return value;
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    uint32_t suppress[2];
    uint8_t both = 0;

    sim_driver_table(&table);
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &drv, &caps, NULL), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_init(&drv.card, sizeof drv.card, RK_SIM_PROFILE_T1), RK_STATUS_SUCCESS);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(request_power(&dev, RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK_ST(request_protocol(&dev, RK_PROTOCOL_T1), RK_STATUS_SUCCESS);

    /* TA3 = FE: the ATR's IFSC; the card acknowledges the reader's IFSD 254. */
    CHECK(dword_attribute(ATTR_CURRENT_IFSC) == 254);
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK_ST(drv.ifsc_report, RK_STATUS_SUCCESS);
    CHECK(dword_attribute(ATTR_CURRENT_IFSC) == 254);
    CHECK(dword_attribute(ATTR_CURRENT_IFSD) == 254);

    /* A size the driver reports is the one in force until the next report. */
    drv.ifsc_override = 16;
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK_ST(drv.ifsc_report, RK_STATUS_SUCCESS);
    CHECK(dword_attribute(ATTR_CURRENT_IFSC) == 16);
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK(dword_attribute(ATTR_CURRENT_IFSC) == 254);

    /* 255 and 256 are no sizes: refused, nothing recorded (0 neither:
     * device.rs field_size_reports_take_1_to_254_bytes_only). */
    drv.ifsc_override = 255;
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK_ST(drv.ifsc_report, RK_STATUS_INVALID_PARAMETER);
    drv.ifsc_override = 256;
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK_ST(drv.ifsc_report, RK_STATUS_INVALID_PARAMETER);
    CHECK(dword_attribute(ATTR_CURRENT_IFSC) == 254);

    /* The reader's S(IFS request) suppressed: the IFSD stays ISO's initial 32. */
    suppress[0] = ATTR_SUPPRESS_T1_IFS_REQUEST;
    suppress[1] = 1;
    CHECK_ST(request(&dev, RK_IOCTL_SET_ATTRIBUTE, suppress, sizeof suppress, NULL, 0, NULL),
             RK_STATUS_SUCCESS);
    CHECK_ST(request_power(&dev, RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK(dword_attribute(ATTR_CURRENT_IFSD) == 254);
    CHECK_ST(request_protocol(&dev, RK_PROTOCOL_T1), RK_STATUS_SUCCESS);
    CHECK_ST(request_select_mf_t1(&dev), RK_STATUS_SUCCESS);
    CHECK(dword_attribute(ATTR_CURRENT_IFSD) == 32);
    printf("IFSC %u, IFSD %u with the S(IFS request) suppressed\n",
           (unsigned)dword_attribute(ATTR_CURRENT_IFSC),
           (unsigned)dword_attribute(ATTR_CURRENT_IFSD));

    /* Outside a callback there is no call to report on; the engine's sizes
     * need two distinct out-pointers. */
    CHECK_ST(rk_transmit_report_ifsc(NULL, 16), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_transmit_report_ifsd(NULL, 16), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_field_sizes(&drv.t1, &both, &both), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_t1_field_sizes(&drv.t1, NULL, &both), RK_STATUS_INVALID_PARAMETER);

    CHECK_ST(request_power(&dev, RK_POWER_DOWN), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_deinit(&drv.card), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    return finish("field_sizes_test");
}
