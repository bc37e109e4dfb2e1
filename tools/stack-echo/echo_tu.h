/**
 * @file echo_tu.h  A minimal transaction user on its own thread: OPTIONS
 *                  200, INVITE 200 + SDP (dialog accepted; the stack sends
 *                  100 and retransmits the 2xx until the ACK), BYE 200,
 *                  anything else 501. Used by redum-stack-echo and tests.
 */
#ifndef REDUM_ECHO_TU_H
#define REDUM_ECHO_TU_H

#include <stdbool.h>
#include <stdint.h>
#include <redum/stack.h>

struct echo_tu;

/** What the TU saw (read after echo_tu_join()). */
struct echo_tu_stats {
	uint64_t requests, invites, byes, options, others;
	uint64_t acks, ack_views, ack_timeouts, cancelled, srv_errors;
	uint64_t cmd_failed, push_failed;
	bool removed;
};

/** Registers the TU and starts its thread. Thread: any. */
int echo_tu_start(struct echo_tu **etp, struct redum_stack *stack,
		  bool want_ack_view);

/** Asks the stack to remove it. Thread: any. */
int echo_tu_remove(struct echo_tu *et, bool graceful);

/** Waits for TransactionUserRemoved and the thread's end, copies the
 *  figures, frees. Thread: any but the TU's. */
int echo_tu_join(struct echo_tu *et, struct echo_tu_stats *st);

#endif
