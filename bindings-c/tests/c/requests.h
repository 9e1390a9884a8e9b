/* The requests the C tests send a device through rk_device_control: POWER,
 * SET_PROTOCOL, a SELECT of the MF over T=1. */
#ifndef REQUESTS_H
#define REQUESTS_H
#include <string.h>
#include "readerkit.h"

/* `code` with the `in_len` bytes of `in`; the answer into `out` (`out_cap`
 * bytes) and its length into `*n`, or into a scratch buffer when `out` is NULL. */
static inline rk_status request(rk_device *dev, uint32_t code, const void *in, size_t in_len,
                                uint8_t *out, size_t out_cap, size_t *n)
{
    uint8_t scratch[300];
    size_t unused = 0;
    if (!out) {
        out = scratch;
        out_cap = sizeof scratch;
        n = &unused;
    }
    return rk_device_control(dev, code, (const uint8_t *)in, in_len, out, out_cap, n);
}

/* POWER with `action` (RK_POWER_*). */
static inline rk_status request_power(rk_device *dev, uint32_t action)
{
    return request(dev, RK_IOCTL_POWER, &action, sizeof action, NULL, 0, NULL);
}

/* SET_PROTOCOL with the protocol mask `mask` (RK_PROTOCOL_*). */
static inline rk_status request_protocol(rk_device *dev, uint32_t mask)
{
    return request(dev, RK_IOCTL_SET_PROTOCOL, &mask, sizeof mask, NULL, 0, NULL);
}

/* TRANSMIT of SELECT MF (no answer data) over T=1. */
static inline rk_status request_select_mf_t1(rk_device *dev)
{
    static const uint8_t apdu[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00};
    uint8_t in[8 + sizeof apdu];
    uint32_t hdr[2];
    hdr[0] = RK_PROTOCOL_T1;
    hdr[1] = 8;
    memcpy(in, hdr, 8);
    memcpy(in + 8, apdu, sizeof apdu);
    return request(dev, RK_IOCTL_TRANSMIT, in, sizeof in, NULL, 0, NULL);
}
#endif
