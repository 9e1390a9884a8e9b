/* A C driver with a PIN pad (rk_device_set_keypad): the library announces the
 * PC/SC part 10 PIN features and runs VERIFY/MODIFY_PIN_DIRECT over the driver's
 * keypad and TRANSMIT, on the simulated card (PIN "1234", 3 tries, ASCII). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "sim_driver.h"

#define CTL(fn) (0x00310000u | ((uint32_t)(fn) << 2))

static rk_device dev;
static struct sim_driver drv;

/* The keypad's script: one key a character ('0'-'9', 'E' enter, 'C' cancel);
 * after its end, every wait times out. */
static const char *script = "";
static int keys_asked;
static uint32_t prompts[8];
static int prompt_count;

static uint32_t next_key(void *ctx, uint32_t timeout_ms)
{
    char c = *script;
    (void)ctx;
    (void)timeout_ms;
    keys_asked++;
    if (c == '\0') return RK_KEY_NONE;
    script++;
    if (c == 'E') return RK_KEY_ENTER;
    if (c == 'C') return RK_KEY_CANCEL;
    return RK_KEY_DIGIT_0 + (uint32_t)(c - '0');
}

static void show(void *ctx, uint32_t prompt)
{
    (void)ctx;
    if (prompt_count < 8) prompts[prompt_count++] = prompt;
}

/* PIN_VERIFY_STRUCTURE: ASCII, 8-byte block, 4-8 digits, validation key;
 * VERIFY 00 20 00 80 08 FF..FF. */
static const uint8_t verify_structure[] = {
    30, 10, 0x82, 0x08, 0x00, 8, 4, 0x02, 0x01, 0x09, 0x04, 0x00, 0, 0, 0,
    13, 0, 0, 0,
    0x00, 0x20, 0x00, 0x80, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

/* PIN_MODIFY_STRUCTURE: current PIN, new PIN twice; CHANGE REFERENCE DATA. */
static const uint8_t modify_structure[] = {
    0, 0, 0x82, 0x08, 0x00, 0, 8, 8, 4, 0x03, 0x02, 0x03, 0x09, 0x04, 0, 1, 2, 0, 0, 0,
    21, 0, 0, 0,
    0x00, 0x24, 0x00, 0x80, 0x10,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

/* Send a PIN request with `keys` on the keypad; expect `want` (SW1 SW2). */
static void pin(uint32_t fn, const uint8_t *s, size_t len, const char *keys, uint8_t sw1,
                uint8_t sw2)
{
    uint8_t out[16];
    size_t n = 0;
    script = keys;
    CHECK_ST(rk_device_control(&dev, CTL(fn), s, len, out, sizeof out, &n), RK_STATUS_SUCCESS);
    if (n != 2 || out[0] != sw1 || out[1] != sw2)
        fprintf(stderr, "keys %s: %u bytes %02X %02X, want %02X %02X\n", keys, (unsigned)n,
                out[0], out[1], sw1, sw2);
    CHECK(n == 2 && out[0] == sw1 && out[1] == sw2);
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    rk_keypad_ops keypad;
    uint8_t out[64], bad[sizeof verify_structure];
    size_t n = 0;
    uint32_t power = RK_POWER_COLD_RESET, mask = RK_PROTOCOL_T1;
    int asked;

    sim_driver_table(&table);
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &drv, &caps, NULL), RK_STATUS_SUCCESS);

    /* Without a keypad the PIN codes are the driver's vendor IOCTLs. */
    CHECK_ST(rk_device_control(&dev, CTL(RK_FN_VERIFY_PIN_DIRECT), verify_structure,
                               sizeof verify_structure, out, sizeof out, &n),
             RK_STATUS_SUCCESS);
    CHECK(drv.vendor_calls == 1);

    memset(&keypad, 0, sizeof keypad);
    keypad.min_pin_digits = 4;
    keypad.max_pin_digits = 8;
    CHECK_ST(rk_device_set_keypad(&dev, &keypad), RK_STATUS_INVALID_PARAMETER); /* no next_key */
    keypad.next_key = next_key;
    keypad.prompt = show;
    keypad.min_pin_digits = 9;
    CHECK_ST(rk_device_set_keypad(&dev, &keypad), RK_STATUS_INVALID_PARAMETER); /* min > max */
    keypad.min_pin_digits = 4;
    CHECK_ST(rk_device_set_keypad(NULL, &keypad), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_set_keypad(&dev, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_set_keypad(&dev, &keypad), RK_STATUS_SUCCESS);

    /* The feature list: the driver's answer (its vendor callback echoes the empty
     * input: nothing), then the three PIN features with their Windows codes. */
    CHECK_ST(rk_device_control(&dev, CTL(3400), NULL, 0, out, sizeof out, &n), RK_STATUS_SUCCESS);
    CHECK(n == 18);
    CHECK(out[0] == 0x06 && out[1] == 4 && out[2] == 0x00 && out[3] == 0x31 && out[4] == 0x35 &&
          out[5] == 0x38);
    CHECK(out[6] == 0x07 && out[11] == 0x3C);
    CHECK(out[12] == 0x0A && out[17] == 0x48);

    rk_card_event(&dev, RK_CARD_INSERTED);
    memset(&drv.card, 0, sizeof drv.card);
    CHECK_ST(rk_sim_init(&drv.card, sizeof drv.card, RK_SIM_PROFILE_T1), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n),
             RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_SET_PROTOCOL, (const uint8_t *)&mask, 4, out,
                               sizeof out, &n),
             RK_STATUS_SUCCESS);

    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "1234E", 0x90, 0x00);
    CHECK(prompt_count == 1 && prompts[0] == RK_PROMPT_ENTER_PIN);
    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "12C", 0x64, 0x01);
    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "12", 0x64, 0x00);
    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "12E", 0x64, 0x03);
    pin(RK_FN_MODIFY_PIN_DIRECT, modify_structure, sizeof modify_structure, "1234E5678E5679E",
        0x64, 0x02);
    pin(RK_FN_MODIFY_PIN_DIRECT, modify_structure, sizeof modify_structure, "1234E5678E5678E",
        0x90, 0x00);
    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "0000E", 0x63, 0xC2);
    pin(RK_FN_VERIFY_PIN_DIRECT, verify_structure, sizeof verify_structure, "5678E", 0x90, 0x00);

    /* A malformed structure and a short output: refused before any key. */
    asked = keys_asked;
    script = "5678E";
    memcpy(bad, verify_structure, sizeof bad);
    bad[2] = 0x83; /* reserved encoding */
    CHECK_ST(rk_device_control(&dev, CTL(RK_FN_VERIFY_PIN_DIRECT), bad, sizeof bad, out,
                               sizeof out, &n),
             RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, CTL(RK_FN_VERIFY_PIN_DIRECT), verify_structure, 10, out,
                               sizeof out, &n),
             RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_control(&dev, CTL(RK_FN_VERIFY_PIN_DIRECT), verify_structure,
                               sizeof verify_structure, out, 1, &n),
             RK_STATUS_BUFFER_TOO_SMALL);
    CHECK(keys_asked == asked);

    power = RK_POWER_DOWN;
    CHECK_ST(rk_device_control(&dev, RK_IOCTL_POWER, (const uint8_t *)&power, 4, out, sizeof out, &n),
             RK_STATUS_SUCCESS);
    if (drv.t1_ready) { CHECK_ST(rk_t1_deinit(&drv.t1), RK_STATUS_SUCCESS); drv.t1_ready = 0; }
    CHECK_ST(rk_sim_deinit(&drv.card), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    return finish("pinpad_test");
}
