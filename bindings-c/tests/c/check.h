/* The C tests' checks: CHECK(cond) and CHECK_ST(call, status) count a failure and
 * say where; finish(name) ends main: "name: OK" and 0, or the count and 1. */
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>
#include "readerkit.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #cond); failures++; } } while (0)
#define CHECK_ST(expr, want) do { rk_status st_ = (expr); if (st_ != (want)) { \
    fprintf(stderr, "%s:%d: %s = %u (%s), want %u\n", __FILE__, __LINE__, #expr, \
    (unsigned)st_, rk_status_description(st_), (unsigned)(want)); failures++; } } while (0)

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
