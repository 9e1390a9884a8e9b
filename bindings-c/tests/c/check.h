/* The C tests' checks: CHECK(cond) and CHECK_ST(call, status) count a failure and
 * say where; CHECK_WOKEN_AS_SWAPPED(dev, before) checks a device woken with its
 * card taken as possibly swapped; finish(name) ends main: "name: OK" and 0, or
 * the count and 1. */
#ifndef CHECK_H
#define CHECK_H
#include <stdbool.h>
#include <stdio.h>
#include "readerkit.h"

/* The card states rk_device_state answers that the tests look for. */
#define STATE_SWALLOWED 3 /* in position, unpowered */
#define STATE_NEGOTIABLE 5
#define STATE_SPECIFIC 6

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #cond); failures++; } } while (0)
#define CHECK_ST(expr, want) do { rk_status st_ = (expr); if (st_ != (want)) { \
    fprintf(stderr, "%s:%d: %s = %u (%s), want %u\n", __FILE__, __LINE__, #expr, \
    (unsigned)st_, rk_status_description(st_), (unsigned)(want)); failures++; } } while (0)

/* After rk_device_resume with a card that may have been swapped, `before` being
 * rk_device_card_insertions from before the sleep: `dev` is awake, one insertion
 * more is reported, and the card is in position unpowered. A macro, so that a
 * failed check names the test's line (and the step, by its condition). */
#define CHECK_WOKEN_AS_SWAPPED(dev, before) do { bool asleep_ = true; \
    uint32_t insertions_ = 0, state_ = 0; \
    CHECK_ST(rk_device_asleep((dev), &asleep_), RK_STATUS_SUCCESS); \
    CHECK(!asleep_); \
    CHECK_ST(rk_device_card_insertions((dev), &insertions_), RK_STATUS_SUCCESS); \
    CHECK(insertions_ == (before) + 1); \
    CHECK_ST(rk_device_state((dev), &state_), RK_STATUS_SUCCESS); \
    CHECK(state_ == STATE_SWALLOWED); } while (0)

static int finish(const char *name)
{
    if (failures) {
        fprintf(stderr, "%s: %d failure(s)\n", name, failures);
        return 1;
    }
    printf("%s: OK\n", name);
    return 0;
}
#endif
