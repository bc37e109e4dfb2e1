/**
 * @file tsan_tmr_threads.c  Timing wheels on several libre loop threads
 *
 * Three threads, each with its own libre loop (re_thread_init + re_main) and
 * so its own wheel, hammer timers: random short delays, handlers that
 * restart themselves, cancel and restart other timers of their thread.
 * Checks per thread: every timer fires in (expiry, start) order, never
 * early, the wheel's counters are the thread's own, nothing is left
 * pending. Run under TSan (build with -DREDUM_SANITIZE=thread): the wheels
 * share nothing, so TSan must stay silent. Prints "N passed, N failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "redum/timer.h"

enum {
	THREADS = 3,
	TIMERS  = 1000,
	TARGET  = 30000,      /* fires per thread before it stops */
	WATCHDOG_MS = 60000,  /* fail rather than hang            */
};

struct ttmr {
	struct tmr tmr;
	struct tctx *ctx;
	uint64_t jfs;
	uint64_t seq;
};

struct tctx {
	unsigned id;
	uint64_t rng;
	struct ttmr t[TIMERS];
	struct tmr watchdog;
	struct tmr left[4];   /* left pending at thread exit */
	uint64_t seq;
	uint64_t last_jfs, last_seq;
	uint64_t fires, starts, cancels;
	unsigned early, misordered, cancelled_fired;
	bool timed_out;
	int err;
	struct redum_tmr_stats st;
	unsigned leftover;
};

static uint64_t rnd(struct tctx *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static void fire_h(void *arg);

static void start_one(struct tctx *c, struct ttmr *t, uint64_t delay)
{
	t->ctx = c;
	t->seq = ++c->seq;
	t->jfs = tmr_jiffies() + delay;
	tmr_start(&t->tmr, delay, fire_h, t);
	/* tmr_jiffies() may tick between the two reads: keep the wheel's. */
	t->jfs = t->tmr.jfs;
	++c->starts;
}

static void stop_all(struct tctx *c)
{
	unsigned i;

	for (i = 0; i < TIMERS; i++)
		tmr_cancel(&c->t[i].tmr);
	tmr_cancel(&c->watchdog);
	re_cancel();
}

static void fire_h(void *arg)
{
	struct ttmr *t = arg;
	struct tctx *c = t->ctx;
	struct ttmr *other;

	if (tmr_jiffies() < t->jfs)
		++c->early;
	if (t->jfs < c->last_jfs ||
	    (t->jfs == c->last_jfs && t->seq < c->last_seq))
		++c->misordered;
	c->last_jfs = t->jfs;
	c->last_seq = t->seq;

	if (++c->fires >= TARGET) {
		stop_all(c);
		return;
	}

	/* Restart itself (mostly), and poke another timer of this thread. */
	if (rnd(c) % 8)
		start_one(c, t, rnd(c) % 40);

	other = &c->t[rnd(c) % TIMERS];
	switch (rnd(c) % 4) {
	case 0:
		if (tmr_isrunning(&other->tmr)) {
			tmr_cancel(&other->tmr);
			++c->cancels;
		}
		break;
	case 1:
		start_one(c, other, rnd(c) % 3);
		break;
	default:
		if (!tmr_isrunning(&other->tmr))
			start_one(c, other, rnd(c) % 100);
		break;
	}
}

static void watchdog_h(void *arg)
{
	struct tctx *c = arg;

	c->timed_out = true;
	stop_all(c);
}

static void *thread_main(void *arg)
{
	struct tctx *c = arg;
	unsigned i;

	c->err = re_thread_init();
	if (c->err)
		return NULL;

	tmr_init(&c->watchdog);
	tmr_start(&c->watchdog, WATCHDOG_MS, watchdog_h, c);
	for (i = 0; i < TIMERS; i++) {
		tmr_init(&c->t[i].tmr);
		start_one(c, &c->t[i], rnd(c) % 50);
	}

	c->err = re_main(NULL);

	redum_tmr_wheel_stats(&c->st);
	for (i = 0; i < TIMERS; i++)
		c->leftover += tmr_isrunning(&c->t[i].tmr);

	/* Timers still pending when the thread exits: its wheel's destructor
	 * must detach them (checked by main after the join). */
	for (i = 0; i < 4; i++) {
		tmr_init(&c->left[i]);
		tmr_start(&c->left[i], 1000 * (i + 1), watchdog_h, c);
	}

	re_thread_close();
	return NULL;
}

static unsigned passed, failed;

static void check(bool ok, const char *what, unsigned id)
{
	if (ok) {
		++passed;
		return;
	}
	++failed;
	printf("FAIL thread %u: %s\n", id, what);
}

int main(void)
{
	static struct tctx ctx[THREADS];
	pthread_t tid[THREADS];
	unsigned i;
	int err;

	err = libre_init();
	if (err) {
		printf("libre_init: %d\n0 passed, 1 failed\n", err);
		return 1;
	}

	check(redum_tmr_wheel_active(), "wheel not interposed", 0);

	for (i = 0; i < THREADS; i++) {
		ctx[i].id = i;
		ctx[i].rng = 0x9e3779b97f4a7c15u * (i + 1);
		if (pthread_create(&tid[i], NULL, thread_main, &ctx[i])) {
			printf("pthread_create failed\n");
			return 1;
		}
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);

	for (i = 0; i < THREADS; i++) {
		const struct tctx *c = &ctx[i];

		printf("thread %u: fires %llu starts %llu cancels %llu "
		       "cascaded %llu\n", i, (unsigned long long)c->fires,
		       (unsigned long long)c->starts,
		       (unsigned long long)c->cancels,
		       (unsigned long long)c->st.cascaded);
		check(c->err == 0, "re_thread_init/re_main failed", i);
		check(!c->timed_out, "watchdog fired", i);
		check(c->fires == TARGET, "fire count", i);
		check(c->early == 0, "a timer fired early", i);
		check(c->misordered == 0, "fired out of order", i);
		/* The wheel's own counters are this thread's, no one else's. */
		check(c->st.fired == c->fires + c->timed_out, "stats.fired", i);
		check(c->st.started == c->starts + 1, "stats.started", i);
		check(c->st.pending == 0 && c->leftover == 0, "left pending", i);
		check(c->st.foreign == 0, "foreign cancel", i);
		/* Detached at thread exit: stopped, and cancelling them here
		 * (another thread) touches no freed wheel and is not foreign. */
		{
			struct redum_tmr_stats mst;
			unsigned k, running = 0;

			for (k = 0; k < 4; k++) {
				running += tmr_isrunning(&ctx[i].left[k]);
				tmr_cancel(&ctx[i].left[k]);
			}
			redum_tmr_wheel_stats(&mst);
			check(running == 0, "timers not detached at exit", i);
			check(mst.foreign == 0 && mst.started == 0,
			      "main's wheel touched", i);
		}
	}

	libre_close();
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
