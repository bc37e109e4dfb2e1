/**
 * @file test_fifo.c  redum FIFO: capacity, counters, wake-ups, close, batch
 *                    bound, stress (Criterion)
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <re.h>

#include "fifo_testlib.h"

enum { MAXREC = 4096 };

/* What a consumer saw, in order. */
struct rec {
	void *msgs[MAXREC];
	unsigned n;
	unsigned closes;
	unsigned n_at_close;
};

static void rec_msg(void *msg, void *arg)
{
	struct rec *r = arg;

	if (r->n < MAXREC)
		r->msgs[r->n] = msg;
	++r->n;
}

static void rec_close(void *arg)
{
	struct rec *r = arg;

	++r->closes;
	r->n_at_close = r->n;
}

static bool fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- allocation ---------------------------------------------------------- */

Test(fifo, alloc_args)
{
	struct redum_fifo *f = NULL;
	struct redum_fifo_stats st;
	static struct rec r;

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 0), EINVAL);
	cr_assert_eq(redum_fifo_alloc(&f, (enum redum_fifo_mode)7, 4), EINVAL);
	cr_assert_eq(redum_fifo_alloc(NULL, REDUM_FIFO_SPSC, 4), EINVAL);
	cr_assert_eq(redum_fifo_push(NULL, NULL), EINVAL);
	cr_assert_eq(redum_fifo_close(NULL), EINVAL);
	cr_assert_eq(redum_fifo_join(NULL), EINVAL);
	cr_assert_eq(redum_fifo_free(NULL), 0);

	/* Rounded up; the reported capacity is what really fits. SPSC
	 * (ck_ring keeps one slot free): 2^n - 1; MPSC: 2^n, n >= 1. */
	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 5), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.capacity, 7);
	cr_assert_geq(redum_fifo_fd(f), 0);
	cr_assert_eq(redum_fifo_free(f), 0);

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 8), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.capacity, 15);
	cr_assert_eq(redum_fifo_free(f), 0);

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_MPSC, 8), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.capacity, 8);
	cr_assert_eq(redum_fifo_free(f), 0);

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_MPSC, 1), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.capacity, 2);
	cr_assert_eq(redum_fifo_free(f), 0);

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 1), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.capacity, 1);
	cr_assert_eq(redum_fifo_push(f, (void *)1), 0);
	cr_assert_eq(redum_fifo_push(f, (void *)2), ENOSPC);
	cr_assert_eq(redum_fifo_free(f), EBUSY, "a message is still inside");
	cr_assert_eq(redum_fifo_attach_manual(f, rec_msg, NULL, &r, 0), 0);
	cr_assert_eq(redum_fifo_drain(f), 1);
	cr_assert_eq(r.msgs[0], (void *)1);
	cr_assert_eq(redum_fifo_free(f), EBUSY, "attached, not finished");
	cr_assert_eq(redum_fifo_close(f), 0);
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert(redum_fifo_finished(f));
	cr_assert_eq(redum_fifo_free(f), 0);
}

/* ---- capacity edge, full/empty ------------------------------------------- */

static void capacity_edge(enum redum_fifo_mode mode)
{
	struct redum_fifo *f;
	struct redum_fifo_stats st;
	static struct rec r;
	uint32_t i, cap;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(redum_fifo_alloc(&f, mode, 100), 0);
	redum_fifo_stats(f, &st);
	cap = st.capacity;
	cr_assert_eq(cap, mode == REDUM_FIFO_SPSC ? 127 : 128);
	cr_assert_eq(st.depth, 0);

	/* Exactly `capacity` pushes succeed, the next is refused. */
	for (i = 0; i < cap; ++i)
		cr_assert_eq(redum_fifo_push(f, FIFO_TAG(0, i)), 0,
			     "push %u of %u", i, cap);
	cr_assert_eq(redum_fifo_push(f, FIFO_TAG(0, cap)), ENOSPC);
	cr_assert_eq(redum_fifo_push(f, FIFO_TAG(0, cap)), ENOSPC);

	redum_fifo_stats(f, &st);
	cr_assert_eq(st.enqueued, cap);
	cr_assert_eq(st.rejected_full, 2);
	cr_assert_eq(st.depth, cap);
	cr_assert_eq(st.high_water, cap);
	cr_assert_eq(st.doorbells, 0, "nobody armed: nobody rings");

	cr_assert_eq(redum_fifo_attach_manual(f, rec_msg, rec_close, &r, 0),
		     0);
	cr_assert_eq(redum_fifo_drain(f), cap);
	for (i = 0; i < cap; ++i)
		cr_assert_eq(r.msgs[i], FIFO_TAG(0, i), "order at %u", i);

	/* Empty again: one more push fits, and a drain on empty is 0. */
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.depth, 0);
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert_eq(redum_fifo_push(f, FIFO_TAG(0, cap)), 0);
	cr_assert_eq(redum_fifo_drain(f), 1);
	cr_assert_eq(r.msgs[cap], FIFO_TAG(0, cap));

	/* The ring wraps: fill and empty it again. */
	for (i = 0; i < cap; ++i)
		cr_assert_eq(redum_fifo_push(f, FIFO_TAG(1, i)), 0);
	cr_assert_eq(redum_fifo_push(f, NULL), ENOSPC);
	cr_assert_eq(redum_fifo_drain(f), cap);
	cr_assert_eq(r.msgs[cap + 1], FIFO_TAG(1, 0));
	cr_assert_eq(r.msgs[2 * cap], FIFO_TAG(1, cap - 1));

	redum_fifo_stats(f, &st);
	cr_assert_eq(st.rejected_full, 3);
	cr_assert_eq(st.enqueued, 2 * cap + 1);
	cr_assert_eq(st.dequeued, 2 * cap + 1);
	cr_assert_eq(st.high_water, cap);

	cr_assert_eq(redum_fifo_close(f), 0);
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert_eq(r.closes, 1);
	cr_assert_eq(redum_fifo_free(f), 0);
}

Test(fifo, capacity_edge_spsc) { capacity_edge(REDUM_FIFO_SPSC); }
Test(fifo, capacity_edge_mpsc) { capacity_edge(REDUM_FIFO_MPSC); }

/* ---- counters and doorbell coalescing (manual consumer, one thread) ------- */

static void counters(enum redum_fifo_mode mode)
{
	struct redum_fifo *f;
	struct redum_fifo_stats st;
	static struct rec r;
	uint32_t i, cap;
	int fd;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(redum_fifo_alloc(&f, mode, 15), 0);
	redum_fifo_stats(f, &st);
	cap = st.capacity;
	cr_assert_eq(cap, mode == REDUM_FIFO_SPSC ? 15 : 16);
	fd = redum_fifo_fd(f);
	cr_assert_eq(redum_fifo_attach_manual(f, rec_msg, rec_close, &r, 0),
		     0);
	cr_assert_eq(redum_fifo_attach_manual(f, rec_msg, rec_close, &r, 0),
		     EALREADY);
	cr_assert_eq(redum_fifo_attach(f, rec_msg, rec_close, &r, 0),
		     EALREADY);

	/* attach rings once so messages pushed earlier get delivered. */
	cr_assert(fd_readable(fd));
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert(!fd_readable(fd));
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.wakes, 1);
	cr_assert_eq(st.doorbells, 0);

	/* The consumer is armed: the first push rings, the second does not
	 * (the first took the flag: wakes coalesce). */
	cr_assert_eq(redum_fifo_push(f, (void *)0xa), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.doorbells, 1);
	cr_assert_eq(redum_fifo_push(f, (void *)0xb), 0);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.doorbells, 1);
	cr_assert(fd_readable(fd));

	cr_assert_eq(redum_fifo_drain(f), 2);
	cr_assert_eq(r.msgs[0], (void *)0xa);
	cr_assert_eq(r.msgs[1], (void *)0xb);
	cr_assert(!fd_readable(fd));
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.wakes, 2);
	cr_assert_eq(st.enqueued, 2);
	cr_assert_eq(st.dequeued, 2);
	cr_assert_eq(st.depth, 0);
	cr_assert_eq(st.high_water, 2);
	cr_assert_eq(st.self_rings, 0);

	/* A drain without a doorbell is harmless (every pass is counted). */
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert(!fd_readable(fd));
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.wakes, 3);
	cr_assert_eq(st.doorbells, 1);

	/* Fill: one doorbell for the lot, then ENOSPC counted. */
	for (i = 0; i < cap; ++i)
		cr_assert_eq(redum_fifo_push(f, FIFO_TAG(2, i)), 0);
	cr_assert_eq(redum_fifo_push(f, NULL), ENOSPC);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.doorbells, 2);
	cr_assert_eq(st.rejected_full, 1);
	cr_assert_eq(st.depth, cap);
	cr_assert_eq(st.high_water, cap);

	/* Close: later pushes EPIPE (counted), second close EALREADY. */
	cr_assert_eq(redum_fifo_close(f), 0);
	cr_assert_eq(redum_fifo_close(f), EALREADY);
	cr_assert_eq(redum_fifo_push(f, NULL), EPIPE);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.rejected_closed, 1);
	cr_assert(!redum_fifo_finished(f));
	cr_assert_eq(r.closes, 0);

	/* Everything pushed before the close, then the final message. */
	cr_assert_eq(redum_fifo_drain(f), cap);
	cr_assert_eq(r.closes, 1);
	cr_assert_eq(r.n_at_close, cap + 2);
	cr_assert_eq(r.msgs[cap + 1], FIFO_TAG(2, cap - 1));
	cr_assert(redum_fifo_finished(f));
	cr_assert_eq(redum_fifo_drain(f), 0);
	cr_assert_eq(r.closes, 1, "the final message runs exactly once");

	/* This thread is the consumer: joining would wait for itself. */
	cr_assert_eq(redum_fifo_join(f), EDEADLK);

	redum_fifo_stats(f, &st);
	cr_assert_eq(st.enqueued, cap + 2);
	cr_assert_eq(st.dequeued, cap + 2);
	cr_assert_eq(st.rejected_full, 1);
	cr_assert_eq(st.rejected_closed, 1);
	cr_assert_eq(st.capacity, cap);
	cr_assert_eq(redum_fifo_free(f), 0);
}

/* redum_fifo_push_nowake() leaves the doorbell alone; redum_fifo_wake()
 * rings it once for the lot if the consumer sleeps. */
static void nowake(enum redum_fifo_mode mode)
{
	struct redum_fifo *f;
	struct redum_fifo_stats st;
	static struct rec r;
	int fd;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(redum_fifo_alloc(&f, mode, 16), 0);
	fd = redum_fifo_fd(f);
	cr_assert_eq(redum_fifo_attach_manual(f, rec_msg, rec_close, &r, 0),
		     0);
	cr_assert_eq(redum_fifo_drain(f), 0);   /* armed, doorbell reset */
	cr_assert(!fd_readable(fd));

	cr_assert_eq(redum_fifo_push_nowake(f, (void *)0xa), 0);
	cr_assert_eq(redum_fifo_push_nowake(f, (void *)0xb), 0);
	cr_assert_eq(redum_fifo_push_nowake(NULL, (void *)0xb), EINVAL);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.doorbells, 0);
	cr_assert_eq(st.depth, 2);
	cr_assert(!fd_readable(fd), "no doorbell before the wake");

	redum_fifo_wake(f);
	redum_fifo_wake(NULL);
	redum_fifo_stats(f, &st);
	cr_assert_eq(st.doorbells, 1);
	cr_assert(fd_readable(fd));

	cr_assert_eq(redum_fifo_drain(f), 2);
	cr_assert_eq(r.msgs[0], (void *)0xa);
	cr_assert_eq(r.msgs[1], (void *)0xb);

	cr_assert_eq(redum_fifo_close(f), 0);
	cr_assert_eq(redum_fifo_push_nowake(f, NULL), EPIPE);
	(void)redum_fifo_drain(f);
	cr_assert(redum_fifo_finished(f));
	cr_assert_eq(redum_fifo_free(f), 0);
}

Test(fifo, push_nowake_spsc) { nowake(REDUM_FIFO_SPSC); }
Test(fifo, push_nowake_mpsc) { nowake(REDUM_FIFO_MPSC); }

Test(fifo, counters_spsc) { counters(REDUM_FIFO_SPSC); }
Test(fifo, counters_mpsc) { counters(REDUM_FIFO_MPSC); }

/* ---- close before attach, free while busy -------------------------------- */

Test(fifo, close_before_attach, .timeout = 30)
{
	struct redum_fifo *f;
	struct fifo_loop loop = { 0 };
	static struct rec r;

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_MPSC, 8), 0);
	cr_assert_eq(redum_fifo_push(f, (void *)1), 0);
	cr_assert_eq(redum_fifo_push(f, (void *)2), 0);
	cr_assert_eq(redum_fifo_push(f, (void *)3), 0);
	cr_assert_eq(redum_fifo_free(f), EBUSY, "messages still inside");
	cr_assert_eq(redum_fifo_close(f), 0);
	cr_assert_eq(redum_fifo_push(f, (void *)4), EPIPE);

	loop.fifo = f;
	loop.msgh = rec_msg;
	loop.closeh = rec_close;
	loop.arg = &r;
	cr_assert_eq(fifo_loop_start(&loop), 0);
	cr_assert_eq(redum_fifo_join(f), 0);
	cr_assert(redum_fifo_finished(f));
	cr_assert_eq(fifo_loop_join(&loop), 0);

	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.n_at_close, 3);
	cr_assert_eq(r.closes, 1);
	cr_assert_eq(r.msgs[0], (void *)1);
	cr_assert_eq(r.msgs[2], (void *)3);
	cr_assert_eq(redum_fifo_free(f), 0);
}

Test(fifo, free_busy, .timeout = 30)
{
	struct redum_fifo *f;
	struct fifo_loop loop = { 0 };
	static struct rec r;
	int i;

	cr_assert_eq(redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 8), 0);
	loop.fifo = f;
	loop.msgh = rec_msg;
	loop.closeh = rec_close;
	loop.arg = &r;
	cr_assert_eq(fifo_loop_start(&loop), 0);

	cr_assert_eq(redum_fifo_push(f, (void *)1), 0);
	/* Attached and not finished: refused, whether or not the message
	 * was delivered yet. */
	cr_assert_eq(redum_fifo_free(f), EBUSY);
	for (i = 0; i < 5000 && !redum_fifo_finished(f); ++i) {
		cr_assert_eq(redum_fifo_free(f), EBUSY);
		if (i == 10)
			cr_assert_eq(redum_fifo_close(f), 0);
		sched_yield();
	}

	/* Free right after join, while the loop thread may still be on its
	 * way out of re_main: legal, the consumer no longer uses it. */
	cr_assert_eq(redum_fifo_join(f), 0);
	cr_assert_eq(redum_fifo_free(f), 0);
	cr_assert_eq(fifo_loop_join(&loop), 0);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.closes, 1);
}

/* ---- join from the consumer thread --------------------------------------- */

struct joinctx {
	struct redum_fifo *f;
	int msg_join;
	int close_join;
	unsigned n;
};

static void join_msg(void *msg, void *arg)
{
	struct joinctx *j = arg;

	(void)msg;
	++j->n;
	j->msg_join = redum_fifo_join(j->f);
}

static void join_close(void *arg)
{
	struct joinctx *j = arg;

	j->close_join = redum_fifo_join(j->f);
}

Test(fifo, join_from_consumer_is_edeadlk, .timeout = 30)
{
	static struct joinctx j;
	struct fifo_loop loop = { 0 };

	j.msg_join = j.close_join = -1;
	cr_assert_eq(redum_fifo_alloc(&j.f, REDUM_FIFO_SPSC, 8), 0);
	loop.fifo = j.f;
	loop.msgh = join_msg;
	loop.closeh = join_close;
	loop.arg = &j;
	cr_assert_eq(fifo_loop_start(&loop), 0);
	cr_assert_eq(redum_fifo_push(j.f, NULL), 0);
	cr_assert_eq(redum_fifo_close(j.f), 0);
	cr_assert_eq(redum_fifo_join(j.f), 0);
	cr_assert_eq(fifo_loop_join(&loop), 0);

	cr_assert_eq(j.n, 1);
	cr_assert_eq(j.msg_join, EDEADLK);
	cr_assert_eq(j.close_join, EDEADLK);
	cr_assert_eq(redum_fifo_free(j.f), 0);
}

/* ---- close racing with producers: final after every successful push ------ */

struct closectx {
	struct redum_fifo *f;
	unsigned nprod;
	uint64_t next[4];
	uint64_t bad;
	uint64_t n;
	uint64_t n_at_close;
	unsigned closes;
	_Atomic uint64_t progress;
};

struct closeprod {
	struct closectx *c;
	unsigned id;
	uint64_t pushed;
	int last_err;
	pthread_t tid;
};

static void close_msg(void *msg, void *arg)
{
	struct closectx *c = arg;
	unsigned p = FIFO_TAG_PROD(msg);

	if (p >= c->nprod || FIFO_TAG_SEQ(msg) != c->next[p])
		++c->bad;
	else
		++c->next[p];
	++c->n;
	atomic_store_explicit(&c->progress, c->n, memory_order_relaxed);
}

static void close_close(void *arg)
{
	struct closectx *c = arg;

	++c->closes;
	c->n_at_close = c->n;
}

static void *close_producer(void *arg)
{
	struct closeprod *p = arg;
	uint64_t seq = 0;
	unsigned spins = 0;

	/* Bounded: the main thread closes long before this runs out. */
	while (seq < 50000000) {
		int err = redum_fifo_push(p->c->f, FIFO_TAG(p->id, seq));

		if (err == ENOSPC) {
			if (++spins % 16 == 0)
				sched_yield();
			continue;
		}
		if (err) {
			p->last_err = err;
			break;
		}
		++seq;
	}
	p->pushed = seq;

	return NULL;
}

static void close_race_once(unsigned wait_for, unsigned round)
{
	static struct closectx c;
	struct closeprod prods[2];
	struct fifo_loop loop = { 0 };
	struct redum_fifo_stats st;
	unsigned i, waited;
	uint64_t pushed = 0;

	memset(&c, 0, sizeof(c));
	memset(prods, 0, sizeof(prods));
	c.nprod = 2;
	cr_assert_eq(redum_fifo_alloc(&c.f, REDUM_FIFO_MPSC, 64), 0);
	loop.fifo = c.f;
	loop.msgh = close_msg;
	loop.closeh = close_close;
	loop.arg = &c;
	cr_assert_eq(fifo_loop_start(&loop), 0);

	for (i = 0; i < 2; ++i) {
		prods[i].c = &c;
		prods[i].id = i;
		cr_assert_eq(pthread_create(&prods[i].tid, NULL,
					    close_producer, &prods[i]), 0);
	}

	/* Let some traffic through, then close in the middle of it. */
	for (waited = 0; atomic_load(&c.progress) < wait_for; ++waited) {
		cr_assert_lt(waited, 20000, "round %u: no traffic", round);
		sleep_ms(1);
	}
	cr_assert_eq(redum_fifo_close(c.f), 0);
	cr_assert_eq(redum_fifo_join(c.f), 0);
	for (i = 0; i < 2; ++i) {
		pthread_join(prods[i].tid, NULL);
		cr_assert_eq(prods[i].last_err, EPIPE, "round %u", round);
		pushed += prods[i].pushed;
	}
	cr_assert_eq(fifo_loop_join(&loop), 0);

	cr_assert_eq(c.closes, 1);
	cr_assert_eq(c.bad, 0, "round %u: order broken", round);
	cr_assert_eq(c.n_at_close, pushed,
		     "round %u: final message after %llu of %llu messages",
		     round, (unsigned long long)c.n_at_close,
		     (unsigned long long)pushed);
	cr_assert_eq(c.n, pushed);
	redum_fifo_stats(c.f, &st);
	cr_assert_eq(st.rejected_closed, 2);
	cr_assert_eq(st.enqueued, pushed);
	cr_assert_eq(st.dequeued, pushed);
	cr_assert_eq(redum_fifo_free(c.f), 0);
}

Test(fifo, close_races_producers, .timeout = 60)
{
	unsigned round;

	/* Many short rounds: the close lands at a different point of the
	 * producers' push each time (in flight, ring full, consumer armed). */
	for (round = 0; round < 40; ++round)
		close_race_once(1 + round * 50, round);
}

/* ---- batch bound: other fds and timers run between batches --------------- */

struct batchctx {
	struct redum_fifo *f;
	unsigned n;
	unsigned per_wake[64];
	int ofd;
	struct tmr tmr;
	unsigned fd_obs[1024], n_fd_obs;
	unsigned tmr_obs[1024], n_tmr_obs;
};

static void batch_msg(void *msg, void *arg)
{
	struct batchctx *b = arg;
	struct redum_fifo_stats st;

	(void)msg;
	redum_fifo_stats(b->f, &st);
	if (st.wakes < 64)
		++b->per_wake[st.wakes];
	++b->n;

	/* A slow handler: a batch of 8 takes >= 8 ms, so a 1 ms timer is
	 * due by the end of each batch. */
	usleep(1000);
}

static void batch_other_fd(int flags, void *arg)
{
	struct batchctx *b = arg;

	(void)flags;
	if (b->n_fd_obs < 1024)
		b->fd_obs[b->n_fd_obs++] = b->n;
	/* Level-triggered and never read: readable on every iteration. */
}

static void batch_tmr(void *arg)
{
	struct batchctx *b = arg;

	if (b->n_tmr_obs < 1024)
		b->tmr_obs[b->n_tmr_obs++] = b->n;
	tmr_start(&b->tmr, 1, batch_tmr, b);
}

static void batch_setup(struct fifo_loop *loop)
{
	struct batchctx *b = loop->arg;
	uint64_t one = 1;

	b->ofd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->ofd >= 0 && write(b->ofd, &one, sizeof(one)) == sizeof(one))
		(void)fd_listen(b->ofd, FD_READ, batch_other_fd, b);
	tmr_init(&b->tmr);
	tmr_start(&b->tmr, 1, batch_tmr, b);
}

static void batch_teardown(struct fifo_loop *loop)
{
	struct batchctx *b = loop->arg;

	tmr_cancel(&b->tmr);
	if (b->ofd >= 0) {
		fd_close(b->ofd);
		close(b->ofd);
	}
}

Test(fifo, batch_bound, .timeout = 30)
{
	static struct batchctx b;
	struct fifo_loop loop = { 0 };
	struct redum_fifo_stats st;
	unsigned i, w;
	bool fd_between = false, tmr_between = false;

	memset(&b, 0, sizeof(b));
	b.ofd = -1;
	cr_assert_eq(redum_fifo_alloc(&b.f, REDUM_FIFO_SPSC, 63), 0);
	for (i = 0; i < 63; ++i)
		cr_assert_eq(redum_fifo_push(b.f, FIFO_TAG(0, i)), 0);
	cr_assert_eq(redum_fifo_push(b.f, NULL), ENOSPC, "full");

	loop.fifo = b.f;
	loop.msgh = batch_msg;
	loop.arg = &b;
	loop.batch = 8;
	loop.setup = batch_setup;
	loop.teardown = batch_teardown;
	cr_assert_eq(fifo_loop_start(&loop), 0);
	cr_assert_eq(redum_fifo_close(b.f), 0);
	cr_assert_eq(redum_fifo_join(b.f), 0);
	cr_assert_eq(fifo_loop_join(&loop), 0);
	cr_assert_geq(b.ofd, 0, "eventfd for the other fd");

	cr_assert_eq(b.n, 63);
	/* 8 per wake; the consumer rang itself after each full batch. */
	for (w = 1; w <= 7; ++w)
		cr_assert_eq(b.per_wake[w], 8, "wake %u delivered %u", w,
			     b.per_wake[w]);
	cr_assert_eq(b.per_wake[8], 7);
	redum_fifo_stats(b.f, &st);
	cr_assert_eq(st.self_rings, 7);
	cr_assert_geq(st.wakes, 8);
	cr_assert_eq(st.dequeued, 63);

	for (i = 0; i < b.n_fd_obs; ++i)
		fd_between |= b.fd_obs[i] > 0 && b.fd_obs[i] < 63;
	for (i = 0; i < b.n_tmr_obs; ++i)
		tmr_between |= b.tmr_obs[i] > 0 && b.tmr_obs[i] < 63;
	cr_assert(fd_between, "the other fd never ran between batches");
	cr_assert(tmr_between, "the timer never ran between batches");
	for (i = 1; i < b.n_fd_obs; ++i)
		cr_assert_leq(b.fd_obs[i] - b.fd_obs[i - 1], 8,
			      "more than a batch between two loop turns");

	cr_assert_eq(redum_fifo_free(b.f), 0);
}

/* ---- stress --------------------------------------------------------------- */

Test(fifo, mpsc_stress_4x1M, .timeout = 120)
{
	char why[512] = "";
	uint64_t n = fifo_test_count("REDUM_FIFO_STRESS_N", 1000000);

	cr_assert_eq(fifo_stress_mpsc(REDUM_FIFO_MPSC, 4, n, 1024, false, why,
				      sizeof(why)), 0, "%s", why);
}

Test(fifo, spsc_stress_2M, .timeout = 120)
{
	char why[512] = "";
	uint64_t n = fifo_test_count("REDUM_FIFO_STRESS_N", 1000000);

	cr_assert_eq(fifo_stress_mpsc(REDUM_FIFO_SPSC, 1, 2 * n, 256, false, why,
				      sizeof(why)), 0, "%s", why);
}

Test(fifo, heap_messages, .timeout = 60)
{
	char why[512] = "";

	/* Real objects cross: ASan sees use-after-free or leaks if the
	 * hand-over were wrong. */
	cr_assert_eq(fifo_stress_mpsc(REDUM_FIFO_MPSC, 3, 50000, 64, true,
				      why, sizeof(why)), 0, "mpsc: %s", why);
	cr_assert_eq(fifo_stress_mpsc(REDUM_FIFO_SPSC, 1, 100000, 64, true,
				      why, sizeof(why)), 0, "spsc: %s", why);
}

Test(fifo, lost_wakeup_pingpong, .timeout = 120)
{
	char why[512] = "";
	uint64_t n = fifo_test_count("REDUM_FIFO_PINGPONG_N", 100000);

	/* No spin: both sides arm and sleep every round. */
	cr_assert_eq(fifo_stress_pingpong(n, 0, 0, 10000, why, sizeof(why)),
		     0, "%s", why);
}

Test(fifo, lost_wakeup_pingpong_spin_jitter, .timeout = 120)
{
	char why[512] = "";
	uint64_t n = fifo_test_count("REDUM_FIFO_PINGPONG_N", 100000) / 4;

	/* Default spin (2 us), answers after 0..5 us: some land in the
	 * peer's spin, some around its arm + re-check, some after it slept. */
	cr_assert_eq(fifo_stress_pingpong(n, 2000, 5000, 10000, why,
					  sizeof(why)), 0, "%s", why);
}
