/**
 * @file helpers.h  Stack test helpers: a manual TU on the test thread,
 *                  SIPp as a child process, free loopback ports (the
 *                  th_* names over tests/common/testutil.h).
 */
#ifndef REDUM_TEST_STACK_HELPERS_H
#define REDUM_TEST_STACK_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <redum/stack.h>
#include "testutil.h"

/** A free UDP port on 127.0.0.1 (bind to 0, read it back, close). */
static inline uint16_t th_free_port(void)
{
	return rtest_free_port(SOCK_DGRAM);
}

/** Milliseconds on a monotonic clock. */
static inline int64_t th_now(void)
{
	return rtest_now();
}

/** A stack on udp:127.0.0.1:0 with small hashes and the given T1. */
int th_stack_start(struct redum_stack **stackp, uint32_t t1_ms);

/** Port of listener 0. */
uint16_t th_stack_port(const struct redum_stack *stack);

/**
 * Starts sipp against (UAC) or for (UAS: target NULL) the stack:
 * args are appended after the common ones (-i 127.0.0.1 -p PORT
 * -buff_size 4194304 -nostdin -timeout 30s -timeout_error), NULL-ended.
 * @return the child's pid, or -1
 */
pid_t th_sipp_spawn(const char *target, uint16_t lport, const char *arg, ...);

/** Waits for a sipp child up to @p timeout_ms (then kills it).
 *  @return its exit status, or -1 (killed, signalled, not found) */
static inline int th_sipp_wait(pid_t pid, int timeout_ms)
{
	return rtest_sipp_wait(pid, timeout_ms, NULL);
}

/** Path of a scenario file in tests/stack/scenarios/. */
const char *th_scen(const char *name);

/** A TU consumed by the calling thread (manual attach). */
struct ttu {
	struct redum_stack_tu *tu;
	struct redum_stack_event *q[4096];
	unsigned head, tail;
	bool removed;
};

int  ttu_start(struct ttu *t, struct redum_stack *stack, uint32_t methods);
/** Same with a full configuration (handlers and arg are replaced). */
int  ttu_start_conf(struct ttu *t, struct redum_stack *stack,
		    const struct redum_stack_tu_conf *conf);
/** Next event, waiting up to @p timeout_ms; NULL on timeout. The caller
 *  releases it (redum_stack_event_release) or consumes it. */
struct redum_stack_event *ttu_next(struct ttu *t, int timeout_ms);
/** Next event of @p type, releasing others on the way (NULL: timeout). */
struct redum_stack_event *ttu_expect(struct ttu *t,
				     enum redum_stack_ev_type type,
				     int timeout_ms);
/** Waits for TransactionUserRemoved (releasing events meanwhile), then
 *  frees the handle. @return true if it came in time */
bool ttu_finish(struct ttu *t, int timeout_ms);
/** Pumps events for @p ms, releasing them. */
void ttu_pump(struct ttu *t, int ms);

#endif
