/**
 * @file fifo_testlib.h  Helpers shared by the FIFO Criterion suite and the
 *                       plain (TSan) checks: a consumer thread running a
 *                       libre loop, a progress watchdog, and the two stress
 *                       scenarios (MPSC ordering, lost wake-up ping-pong).
 */
#ifndef REDUM_TESTS_FIFO_TESTLIB_H
#define REDUM_TESTS_FIFO_TESTLIB_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <redum/fifo.h>

/* A consumer thread: re_thread_init, attach, re_main(NULL) until the close
 * handler (the helper's, which calls the user's then re_cancel) runs. */
struct fifo_loop {
	struct redum_fifo *fifo;
	redum_fifo_msg_h *msgh;
	redum_fifo_close_h *closeh;   /* optional, called before re_cancel */
	void *arg;
	uint32_t batch;
	/* Optional, on the loop thread: before attach / after re_main. */
	void (*setup)(struct fifo_loop *loop);
	void (*teardown)(struct fifo_loop *loop);
	void *user;

	int attach_err;
	int main_err;
	pthread_t tid;
	sem_t ready;
};

/** Starts the thread and waits until it attached; returns attach's error. */
int fifo_loop_start(struct fifo_loop *loop);
/** Joins the thread (after the FIFO was closed); returns re_main's error. */
int fifo_loop_join(struct fifo_loop *loop);

/* Fails (via the hook) if *progress does not change for stall_ms. */
struct fifo_watchdog {
	const char *what;
	_Atomic uint64_t *progress;
	unsigned stall_ms;
	pthread_t tid;
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	int stop;
};

void fifo_watchdog_start(struct fifo_watchdog *wd, const char *what,
			 _Atomic uint64_t *progress, unsigned stall_ms);
void fifo_watchdog_stop(struct fifo_watchdog *wd);

/* What the watchdog does on a stall; the default prints and aborts (a crash
 * is a failure for Criterion). The plain checks print their summary line. */
typedef void (fifo_watchdog_fail_h)(const char *why);
void fifo_watchdog_set_fail_handler(fifo_watchdog_fail_h *h);

/**
 * @p nprod producer threads push @p per_prod messages each, tagged
 * (producer << 40 | seq) as pointer values, into a FIFO of @p capacity
 * (retrying on ENOSPC), consumed on a libre loop thread; then close + join.
 * With @p heap, each message is instead a malloc'd object the producer
 * fills in and the consumer reads and frees (so TSan/ASan check the
 * hand-over of the payload, not just the ring).
 * Checks: nothing lost, nothing duplicated, per-producer order, counters.
 * @return 0, or -1 with a description in @p why
 */
int fifo_stress_mpsc(enum redum_fifo_mode mode, unsigned nprod,
		     uint64_t per_prod, uint32_t capacity, bool heap,
		     char *why, size_t whysz);

/**
 * Ping-pong over two SPSC FIFOs for @p rounds round trips, one message in
 * flight: side A polls its fd (attach_manual + poll), side B runs a libre
 * loop (attach). Both FIFOs get redum_fifo_set_spin(@p spin_ns): with 0,
 * both sides arm and sleep on their doorbell every round. With
 * @p jitter_ns, each side busy-waits a pseudo-random 0..jitter_ns before it
 * answers, so answers land before, during and after the peer's spin, arm
 * and re-check. A lost wake-up stalls it; the watchdog fails it after
 * @p stall_ms.
 * @return 0, or -1 with a description in @p why
 */
int fifo_stress_pingpong(uint64_t rounds, uint32_t spin_ns,
			 uint32_t jitter_ns, unsigned stall_ms,
			 char *why, size_t whysz);

/** Reads a positive count from env @p name, else returns @p dflt. */
uint64_t fifo_test_count(const char *name, uint64_t dflt);

/** Message tags: a pointer value, never dereferenced. */
#define FIFO_TAG(p, seq) ((void *)(uintptr_t)(((uint64_t)(p) << 40) | (seq)))
#define FIFO_TAG_PROD(v) ((unsigned)((uint64_t)(uintptr_t)(v) >> 40))
#define FIFO_TAG_SEQ(v)  ((uint64_t)(uintptr_t)(v) & ((1ull << 40) - 1))

#endif
