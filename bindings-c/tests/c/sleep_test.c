/* A C driver with its own sleep and wake steps and two threads that put the reader
 * to sleep and wake it (a power thread and a selective-suspend timer):
 * rk_device_sleep_with / rk_device_wake_with make each transition, the step
 * included, one step, so two at once sleep or wake once and run the step once,
 * and the second returns only once the first is done. From inside a step both
 * are refused RK_STATUS_DEVICE_BUSY. */
#define _POSIX_C_SOURCE 200112L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "requests.h"
#include "sim_driver.h"

/* The driver: the simulated reader (first, so that its callbacks find it at
 * `ctx`) and what its steps keep, under `lock`. */
struct reader {
    struct sim_driver sim;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int polling;     /* the reader polls for card events: awake */
    int in_step;     /* a step runs now (announced to the test's second thread) */
    int sleep_steps; /* steps run */
    int wake_steps;
    int call_back;   /* the next step calls sleep and wake back */
    rk_status inside[2];
};

static rk_device dev;
static struct reader rd;

static void pause_ms(long ms)
{
    struct timespec t;
    t.tv_sec = 0;
    t.tv_nsec = ms * 1000000L;
    nanosleep(&t, NULL);
}

/* Entering a step: counted, announced, and (20 ms) slow, so that the test's
 * second thread starts its call while the step runs. */
static void step_begins(struct reader *r, int *count)
{
    pthread_mutex_lock(&r->lock);
    (*count)++;
    r->in_step = 1;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    if (r->call_back) {
        bool card_before = false;
        r->call_back = 0;
        r->inside[0] = rk_device_sleep_with(&dev, NULL, &card_before);
        r->inside[1] = rk_device_wake_with(&dev, NULL);
    }
    pause_ms(20);
    pthread_mutex_lock(&r->lock);
    r->in_step = 0;
    pthread_mutex_unlock(&r->lock);
}

/* The sleep step: stop polling (the card was powered down by then). */
static void reader_sleep(void *ctx)
{
    struct reader *r = (struct reader *)ctx;
    step_begins(r, &r->sleep_steps);
    r->polling = 0;
}

/* The wake step: poll again and say whether a card is in. */
static bool reader_wake(void *ctx)
{
    struct reader *r = (struct reader *)ctx;
    step_begins(r, &r->wake_steps);
    r->polling = 1;
    return true;
}

/* What a thread did: the transition (0 sleep, 1 wake) and its answers. */
struct call {
    int wake;
    rk_status st;
    bool card_before;
    int steps_done_on_return; /* steps of its kind finished when it returned */
};

static void *transition(void *arg)
{
    struct call *c = (struct call *)arg;
    if (c->wake) {
        c->st = rk_device_wake_with(&dev, reader_wake);
    } else {
        c->st = rk_device_sleep_with(&dev, reader_sleep, &c->card_before);
    }
    pthread_mutex_lock(&rd.lock);
    c->steps_done_on_return = (c->wake ? rd.wake_steps : rd.sleep_steps) - rd.in_step;
    pthread_mutex_unlock(&rd.lock);
    return NULL;
}

/* Two threads make the same transition: the second starts once the first is
 * inside its step. */
static void twice_at_once(int wake, struct call *first, struct call *second)
{
    pthread_t a, b;
    memset(first, 0, sizeof *first);
    memset(second, 0, sizeof *second);
    first->wake = second->wake = wake;
    pthread_create(&a, NULL, transition, first);
    pthread_mutex_lock(&rd.lock);
    while (!rd.in_step) pthread_cond_wait(&rd.changed, &rd.lock);
    pthread_mutex_unlock(&rd.lock);
    pthread_create(&b, NULL, transition, second);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

static uint32_t state(void)
{
    uint32_t s = 0;
    CHECK_ST(rk_device_state(&dev, &s), RK_STATUS_SUCCESS);
    return s;
}

int main(void)
{
    rk_reader_functions table;
    rk_reader_caps caps;
    struct call first, second;
    uint32_t before = 0;
    bool asleep = false, card_before = false;

    pthread_mutex_init(&rd.lock, NULL);
    pthread_cond_init(&rd.changed, NULL);
    rd.polling = 1;
    sim_driver_table(&table);
    CHECK_ST(rk_reader_caps_typical(&caps), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_init(&dev, sizeof dev, &table, &rd, &caps, NULL), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_init(&rd.sim.card, sizeof rd.sim.card, RK_SIM_PROFILE_T1),
             RK_STATUS_SUCCESS);
    CHECK_ST(rk_card_event(&dev, RK_CARD_INSERTED), RK_STATUS_SUCCESS);
    CHECK_ST(request_power(&dev, RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK(state() == STATE_NEGOTIABLE);

    /* Two sleeps at once: one power-down, one step; the second returns once the
     * device sleeps with its step done. */
    twice_at_once(0, &first, &second);
    printf("two sleeps at once: %d step(s)\n", rd.sleep_steps);
    CHECK_ST(first.st, RK_STATUS_SUCCESS);
    CHECK_ST(second.st, RK_STATUS_SUCCESS);
    CHECK(first.card_before && second.card_before);
    CHECK(rd.sleep_steps == 1);
    CHECK(second.steps_done_on_return == 1);
    CHECK(rd.sim.last_power == RK_POWER_DOWN);
    CHECK(!rd.polling);
    CHECK_ST(rk_device_asleep(&dev, &asleep), RK_STATUS_SUCCESS);
    CHECK(asleep);
    CHECK_ST(request_power(&dev, RK_POWER_COLD_RESET), RK_STATUS_DEVICE_NOT_READY);

    /* Two wakes at once: one step, one possible swap reported. */
    CHECK_ST(rk_device_card_insertions(&dev, &before), RK_STATUS_SUCCESS);
    twice_at_once(1, &first, &second);
    printf("two wakes at once: %d step(s)\n", rd.wake_steps);
    CHECK_ST(first.st, RK_STATUS_SUCCESS);
    CHECK_ST(second.st, RK_STATUS_SUCCESS);
    CHECK(rd.wake_steps == 1);
    CHECK(second.steps_done_on_return == 1);
    CHECK(rd.polling);
    CHECK_WOKEN_AS_SWAPPED(&dev, before);
    CHECK_ST(request_power(&dev, RK_POWER_COLD_RESET), RK_STATUS_SUCCESS);
    CHECK(state() == STATE_NEGOTIABLE);

    /* From inside a step: both refused at once, nothing changes. */
    rd.call_back = 1;
    CHECK_ST(rk_device_sleep_with(&dev, reader_sleep, &card_before), RK_STATUS_SUCCESS);
    CHECK_ST(rd.inside[0], RK_STATUS_DEVICE_BUSY);
    CHECK_ST(rd.inside[1], RK_STATUS_DEVICE_BUSY);
    CHECK(rd.sleep_steps == 2 && rd.wake_steps == 1);
    CHECK_ST(rk_device_asleep(&dev, &asleep), RK_STATUS_SUCCESS);
    CHECK(asleep);
    rd.call_back = 1;
    CHECK_ST(rk_device_wake_with(&dev, reader_wake), RK_STATUS_SUCCESS);
    CHECK_ST(rd.inside[0], RK_STATUS_DEVICE_BUSY);
    CHECK_ST(rd.inside[1], RK_STATUS_DEVICE_BUSY);
    CHECK(rd.sleep_steps == 2 && rd.wake_steps == 2);
    CHECK_ST(rk_device_asleep(&dev, &asleep), RK_STATUS_SUCCESS);
    CHECK(!asleep);

    /* No device, no step. */
    CHECK_ST(rk_device_sleep_with(NULL, reader_sleep, &card_before), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_wake_with(NULL, reader_wake), RK_STATUS_INVALID_PARAMETER);
    CHECK_ST(rk_device_sleep_with(&dev, reader_sleep, NULL), RK_STATUS_INVALID_PARAMETER);
    CHECK(rd.sleep_steps == 2 && rd.wake_steps == 2);

    CHECK_ST(request_power(&dev, RK_POWER_DOWN), RK_STATUS_SUCCESS);
    CHECK_ST(rk_sim_deinit(&rd.sim.card), RK_STATUS_SUCCESS);
    CHECK_ST(rk_device_deinit(&dev), RK_STATUS_SUCCESS);
    pthread_cond_destroy(&rd.changed);
    pthread_mutex_destroy(&rd.lock);
    return finish("sleep_test");
}
