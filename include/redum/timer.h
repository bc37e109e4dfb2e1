/**
 * @file timer.h  libre's timers on a per-thread hierarchical timing wheel
 *
 * libredum defines libre's whole timer API (tmr_init, tmr_start, tmr_cancel,
 * tmr_poll, tmr_next_timeout, tmr_get_expire, tmr_jiffies, tmr_status,
 * tmr_debug) with libre's exact signatures. Debian's libre.so calls its own
 * tmr_* through the PLT, so these definitions interpose on libre's: every
 * timer in the process, libre's own SIP transaction timers included, goes
 * onto the calling thread's timing wheel instead of libre's sorted list.
 * Start and cancel are O(1); expiry is amortised O(1) (a timer moves down at
 * most six levels before it fires). See docs/TIMERS.md for the design.
 *
 * Semantics are libre 1.1.0's (src/tmr/tmr.c), kept on purpose:
 *  - tmr_start() on a running timer reschedules it; with th == NULL it
 *    cancels; tmr->th is non-NULL exactly while the timer is pending, so
 *    libre's inline tmr_isrunning() stays right.
 *  - Timers fire in expiry order; timers with the same expiry (in ms) fire in
 *    the order they were started.
 *  - A handler may start or cancel any timer of its thread, itself included.
 *    tmr_poll() fires every timer due at the time it was entered, including
 *    timers started by handlers during that poll (a 0 ms timer started by a
 *    handler fires in the same poll, as in libre).
 *  - tmr_next_timeout() returns 0 when no timer is pending, 1 when one is
 *    due, else a wait in ms that is never later than the next expiry (it may
 *    be earlier: the wheel wakes once per level to move far timers down).
 *
 * Differences from libre 1.1.0, both deliberate:
 *  - tmr_jiffies() is CLOCK_MONOTONIC in ms (libre 1.1.0 used
 *    gettimeofday(), so a wall-clock step fired or stalled every timer).
 *    Do not use it as wall-clock time.
 *  - Delays are capped at 2^42 ms (139 years) and tmr_next_timeout() at one
 *    hour, so epoll's int timeout cannot overflow.
 *
 * Thread contract: a timer belongs to the thread that started it. Start,
 * cancel, restart and poll it on that thread only, and free (or cancel) it
 * there. Each thread has its own wheel, created on first use and freed when
 * the thread exits (pending timers are then detached, so a later
 * tmr_cancel() is harmless). Threads normally run their wheel with re_main()
 * after libre_init() (main thread) or re_thread_init() (other threads); a
 * thread that only uses the timer API calls tmr_poll() itself. libre's
 * re_thread_enter()/re_thread_leave() (calling into another thread's loop
 * under its mutex) is NOT supported for timers: such a timer would land on
 * the calling thread's wheel. Cancelling a timer that is pending on another
 * thread's wheel is a contract violation; it is counted (stats.foreign).
 */
#ifndef REDUM_TIMER_H
#define REDUM_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Counters of the calling thread's wheel (plain values: one thread). */
struct redum_tmr_stats {
	uint64_t started;          /**< tmr_start() calls with a handler      */
	uint64_t started_by_libre; /**< of which called from inside libre.so  */
	uint64_t cancelled;        /**< pending timers cancelled/rescheduled  */
	uint64_t fired;            /**< handlers called                       */
	uint64_t cascaded;         /**< moves of a timer to a lower level     */
	uint64_t foreign;          /**< cancels of timers of another thread   */
	uint32_t pending;          /**< timers pending now                    */
};

/**
 * Tells whether the interposition works in this process: every libre timer
 * symbol resolves (dlsym(RTLD_DEFAULT)) to libredum's definition, so
 * libre.so's internal timer calls reach the wheel. False means libre.so
 * came before libredum in the symbol lookup order (link redum before re, or
 * do not link libre.so with -Bsymbolic); timers then still work, on libre's
 * list, without the wheel's scaling.
 *
 * Thread: any. Wait-free after its first call (which resolves symbols).
 */
bool redum_tmr_wheel_active(void);

/**
 * Copies the calling thread's wheel counters into @p st (all zero if the
 * thread has not used a timer yet). stats.started_by_libre > 0 shows that
 * libre's own code (e.g. a SIP transaction's retransmission timer) started a
 * timer on this wheel.
 *
 * Thread: any; reads the calling thread's wheel. Wait-free.
 */
void redum_tmr_wheel_stats(struct redum_tmr_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_TIMER_H */
