/**
 * @file tmr_wheel.h  Private hooks of the timing wheel, for tests and benchmarks
 *
 * Not installed. The public side is include/redum/timer.h.
 */
#ifndef REDUM_STACK_TMR_WHEEL_H
#define REDUM_STACK_TMR_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

/** Wheel geometry: 7 levels of 64 slots of (64^level) ms each. */
enum {
	REDUM_TMR_WHEEL_BITS   = 6,
	REDUM_TMR_WHEEL_SLOTS  = 1 << REDUM_TMR_WHEEL_BITS,
	REDUM_TMR_WHEEL_LEVELS = 7,
};

/** Longest delay kept exactly (2^42 - 1 ms, 139 years); longer is capped. */
#define REDUM_TMR_MAX_DELAY ((UINT64_C(1) << 42) - 1)

/** Longest wait tmr_next_timeout() returns (1 h), far below INT_MAX. */
#define REDUM_TMR_MAX_WAIT UINT64_C(3600000)

/** A clock in ms; must never go backwards. */
typedef uint64_t (redum_tmr_clock_h)(void *arg);

/**
 * Makes tmr_jiffies() and the calling thread's wheel read @p clockh instead
 * of CLOCK_MONOTONIC (NULL: back to CLOCK_MONOTONIC), so tests can run days
 * of timers without waiting. The wheel restarts at the new clock's time.
 *
 * Thread: the thread whose wheel it is.
 * @return 0, or EBUSY if timers are pending on this thread
 */
int redum_tmr_wheel_set_clock(redum_tmr_clock_h *clockh, void *arg);

/** A hook a thread's libre loop runs before each wait for I/O. */
typedef void (redum_loop_idle_h)(void *arg);

/**
 * Sets the calling thread's idle hook (NULL: none). re_main() asks
 * tmr_next_timeout() for its wait before every epoll_wait(), and the wheel
 * runs the hook first: work held back during a round (udp_batch.c queues
 * datagrams for one sendmmsg()) goes out before the thread sleeps. It runs
 * only where the wheel is in effect (redum_tmr_wheel_active()), so a caller
 * must check that before holding anything back.
 *
 * Thread: the loop's own. Wait-free.
 */
void redum_loop_set_idle(redum_loop_idle_h *h, void *arg);

/**
 * Tells whether the calling thread is running a timer handler that lives
 * in libre.so (a transaction's retransmission or timeout timer), as
 * opposed to one of redum's. udp_batch.c counts what libre sends from
 * such a handler as a retransmission: on the stack thread the only libre
 * timers that send are the client transactions' Timer A/E (requests) and
 * the INVITE server transactions' Timer G (non-2xx finals).
 *
 * Thread: any (answers for the calling thread). Wait-free.
 */
bool redum_tmr_in_libre_handler(void);

#endif /* REDUM_STACK_TMR_WHEEL_H */
