/**
 * @file fifo_testlib.c  FIFO test helpers (see fifo_testlib.h)
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <re.h>

#include "fifo_testlib.h"


/* ---- consumer thread on a libre loop ------------------------------------ */

/* attach() has one argument for both handlers: ours is the loop. */
static void loop_msg_handler(void *msg, void *arg)
{
	struct fifo_loop *loop = arg;

	loop->msgh(msg, loop->arg);
}


static void loop_close_handler(void *arg)
{
	struct fifo_loop *loop = arg;

	if (loop->closeh)
		loop->closeh(loop->arg);

	/* The final message: nothing more will come on this loop. */
	re_cancel();
}


static void *loop_thread(void *arg)
{
	struct fifo_loop *loop = arg;
	int err;

	err = re_thread_init();
	if (err) {
		loop->attach_err = err;
		sem_post(&loop->ready);
		return NULL;
	}

	if (loop->setup)
		loop->setup(loop);

	loop->attach_err = redum_fifo_attach(loop->fifo, loop_msg_handler,
					     loop_close_handler, loop,
					     loop->batch);
	err = loop->attach_err;
	sem_post(&loop->ready);

	if (!err)
		loop->main_err = re_main(NULL);

	if (loop->teardown)
		loop->teardown(loop);

	re_thread_close();

	return NULL;
}


int fifo_loop_start(struct fifo_loop *loop)
{
	int err;

	loop->attach_err = 0;
	loop->main_err = 0;
	if (sem_init(&loop->ready, 0, 0))
		return errno;

	err = pthread_create(&loop->tid, NULL, loop_thread, loop);
	if (err) {
		sem_destroy(&loop->ready);
		return err;
	}

	while (sem_wait(&loop->ready) && errno == EINTR)
		;

	if (loop->attach_err) {
		pthread_join(loop->tid, NULL);
		sem_destroy(&loop->ready);
	}

	return loop->attach_err;
}


int fifo_loop_join(struct fifo_loop *loop)
{
	pthread_join(loop->tid, NULL);
	sem_destroy(&loop->ready);

	return loop->main_err;
}


/* ---- watchdog ------------------------------------------------------------ */

static void default_fail(const char *why)
{
	fprintf(stderr, "%s\n", why);
	fflush(stderr);
	abort();
}

static fifo_watchdog_fail_h *watchdog_fail = default_fail;


void fifo_watchdog_set_fail_handler(fifo_watchdog_fail_h *h)
{
	watchdog_fail = h ? h : default_fail;
}


static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


static void *watchdog_thread(void *arg)
{
	struct fifo_watchdog *wd = arg;
	uint64_t last = atomic_load(wd->progress);
	uint64_t since = now_ms();

	pthread_mutex_lock(&wd->mtx);
	while (!wd->stop) {
		struct timespec ts;
		uint64_t cur;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec += 1;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&wd->cond, &wd->mtx, &ts);
		if (wd->stop)
			break;

		cur = atomic_load(wd->progress);
		if (cur != last) {
			last = cur;
			since = now_ms();
		}
		else if (now_ms() - since > wd->stall_ms) {
			char why[256];

			snprintf(why, sizeof(why),
				 "watchdog: %s made no progress for %u ms "
				 "(stuck at %llu): lost wake-up or hang",
				 wd->what, wd->stall_ms,
				 (unsigned long long)cur);
			pthread_mutex_unlock(&wd->mtx);
			watchdog_fail(why);
			return NULL;
		}
	}
	pthread_mutex_unlock(&wd->mtx);

	return NULL;
}


void fifo_watchdog_start(struct fifo_watchdog *wd, const char *what,
			 _Atomic uint64_t *progress, unsigned stall_ms)
{
	pthread_condattr_t ca;

	wd->what = what;
	wd->progress = progress;
	wd->stall_ms = stall_ms;
	wd->stop = 0;
	pthread_mutex_init(&wd->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&wd->tid, NULL, watchdog_thread, wd))
		default_fail("watchdog: pthread_create failed");
}


void fifo_watchdog_stop(struct fifo_watchdog *wd)
{
	pthread_mutex_lock(&wd->mtx);
	wd->stop = 1;
	pthread_cond_signal(&wd->cond);
	pthread_mutex_unlock(&wd->mtx);
	pthread_join(wd->tid, NULL);
	pthread_cond_destroy(&wd->cond);
	pthread_mutex_destroy(&wd->mtx);
}


uint64_t fifo_test_count(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;

	v = strtoull(s, &end, 10);

	return (*end || v == 0) ? dflt : (uint64_t)v;
}


/* ---- MPSC stress ---------------------------------------------------------- */

/* A heap message: written by its producer, read and freed by the
 * consumer. */
struct heap_msg {
	uint64_t tag;
	uint64_t check;
};

struct mpsc_ctx {
	struct redum_fifo *fifo;
	unsigned nprod;
	uint64_t per_prod;
	bool heap;

	/* Consumer thread only (read by the main thread after join). */
	uint64_t *next;
	uint64_t received;
	uint64_t bad;
	uint64_t received_at_close;
	bool closed;
	char first_bad[160];

	_Atomic uint64_t progress;
};

struct mpsc_producer {
	struct mpsc_ctx *ctx;
	unsigned id;
	uint64_t pushed;
	uint64_t full;
	int err;
	pthread_t tid;
};


static void mpsc_msg(void *msg, void *arg)
{
	struct mpsc_ctx *ctx = arg;
	unsigned p;
	uint64_t seq;

	if (ctx->heap) {
		struct heap_msg *hm = msg;

		if (hm->check != ~hm->tag)
			++ctx->bad;
		msg = (void *)(uintptr_t)hm->tag;
		free(hm);
	}
	p = FIFO_TAG_PROD(msg);
	seq = FIFO_TAG_SEQ(msg);

	if (p >= ctx->nprod || seq != ctx->next[p]) {
		if (!ctx->bad++)
			snprintf(ctx->first_bad, sizeof(ctx->first_bad),
				 "message %llu: producer %u seq %llu, "
				 "expected seq %llu",
				 (unsigned long long)ctx->received, p,
				 (unsigned long long)seq,
				 p < ctx->nprod ?
				 (unsigned long long)ctx->next[p] : 0ull);
	}
	if (p < ctx->nprod)
		ctx->next[p] = seq + 1;

	++ctx->received;
	atomic_store_explicit(&ctx->progress, ctx->received,
			      memory_order_relaxed);
}


static void mpsc_close(void *arg)
{
	struct mpsc_ctx *ctx = arg;

	ctx->closed = true;
	ctx->received_at_close = ctx->received;
}


static void *mpsc_producer_thread(void *arg)
{
	struct mpsc_producer *pr = arg;
	uint64_t seq;

	for (seq = 0; seq < pr->ctx->per_prod; ++seq) {
		void *msg = FIFO_TAG(pr->id, seq);
		int err;

		if (pr->ctx->heap) {
			struct heap_msg *hm = malloc(sizeof(*hm));

			if (!hm) {
				pr->err = ENOMEM;
				break;
			}
			hm->tag = (uint64_t)(uintptr_t)msg;
			hm->check = ~hm->tag;
			msg = hm;
		}

		while ((err = redum_fifo_push(pr->ctx->fifo, msg))
		       == ENOSPC) {
			/* Full: the consumer needs the CPU more than we do
			 * (2 cores for everything). */
			++pr->full;
			sched_yield();
		}
		if (err) {
			if (pr->ctx->heap)
				free(msg);   /* a failed push leaves it ours */
			pr->err = err;
			break;
		}
		++pr->pushed;
	}

	return NULL;
}


int fifo_stress_mpsc(enum redum_fifo_mode mode, unsigned nprod,
		     uint64_t per_prod, uint32_t capacity, bool heap,
		     char *why, size_t whysz)
{
	struct mpsc_ctx ctx;
	struct mpsc_producer *prods = NULL;
	struct fifo_loop loop;
	struct fifo_watchdog wd;
	struct redum_fifo_stats st;
	uint64_t full = 0, total;
	unsigned i;
	int err, ret = -1;

	memset(&ctx, 0, sizeof(ctx));
	memset(&loop, 0, sizeof(loop));
	ctx.nprod = nprod;
	ctx.per_prod = per_prod;
	ctx.heap = heap;
	total = per_prod * nprod;

	ctx.next = calloc(nprod, sizeof(*ctx.next));
	prods = calloc(nprod, sizeof(*prods));
	if (!ctx.next || !prods) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}

	err = redum_fifo_alloc(&ctx.fifo, mode, capacity);
	if (err) {
		snprintf(why, whysz, "redum_fifo_alloc: %s", strerror(err));
		goto out;
	}

	loop.fifo = ctx.fifo;
	loop.msgh = mpsc_msg;
	loop.closeh = mpsc_close;
	loop.arg = &ctx;
	err = fifo_loop_start(&loop);
	if (err) {
		snprintf(why, whysz, "attach: %s", strerror(err));
		goto out;
	}

	fifo_watchdog_start(&wd, "MPSC stress consumer", &ctx.progress,
			    10000);

	for (i = 0; i < nprod; ++i) {
		prods[i].ctx = &ctx;
		prods[i].id = i;
		if (pthread_create(&prods[i].tid, NULL, mpsc_producer_thread,
				   &prods[i])) {
			fifo_watchdog_stop(&wd);
			snprintf(why, whysz, "pthread_create failed");
			/* Leaks threads; the process is failing anyway. */
			goto out;
		}
	}
	for (i = 0; i < nprod; ++i) {
		pthread_join(prods[i].tid, NULL);
		full += prods[i].full;
	}

	err = redum_fifo_close(ctx.fifo);
	if (!err)
		err = redum_fifo_join(ctx.fifo);
	fifo_watchdog_stop(&wd);
	if (err) {
		snprintf(why, whysz, "close/join: %s", strerror(err));
		goto out;
	}
	(void)fifo_loop_join(&loop);

	for (i = 0; i < nprod; ++i) {
		if (prods[i].err || prods[i].pushed != per_prod) {
			snprintf(why, whysz, "producer %u: pushed %llu, "
				 "err %s", i,
				 (unsigned long long)prods[i].pushed,
				 strerror(prods[i].err));
			goto out;
		}
	}
	if (ctx.bad) {
		snprintf(why, whysz, "%llu out-of-order/duplicate/foreign "
			 "messages; first: %s",
			 (unsigned long long)ctx.bad, ctx.first_bad);
		goto out;
	}
	if (!ctx.closed || ctx.received_at_close != total ||
	    ctx.received != total) {
		snprintf(why, whysz, "received %llu (at close: %llu, closed "
			 "%d), expected %llu",
			 (unsigned long long)ctx.received,
			 (unsigned long long)ctx.received_at_close,
			 ctx.closed, (unsigned long long)total);
		goto out;
	}
	for (i = 0; i < nprod; ++i) {
		if (ctx.next[i] != per_prod) {
			snprintf(why, whysz, "producer %u: last seq %llu",
				 i, (unsigned long long)ctx.next[i]);
			goto out;
		}
	}

	redum_fifo_stats(ctx.fifo, &st);
	if (st.enqueued != total || st.dequeued != total ||
	    st.rejected_full != full || st.rejected_closed != 0 ||
	    st.depth != 0 || st.high_water > st.capacity ||
	    st.high_water == 0) {
		snprintf(why, whysz, "stats: enqueued %llu dequeued %llu "
			 "rejected_full %llu (producers saw %llu) "
			 "rejected_closed %llu depth %u high_water %u/%u",
			 (unsigned long long)st.enqueued,
			 (unsigned long long)st.dequeued,
			 (unsigned long long)st.rejected_full,
			 (unsigned long long)full,
			 (unsigned long long)st.rejected_closed,
			 st.depth, st.high_water, st.capacity);
		goto out;
	}

	err = redum_fifo_free(ctx.fifo);
	ctx.fifo = NULL;
	if (err) {
		snprintf(why, whysz, "free: %s", strerror(err));
		goto out;
	}

	ret = 0;

 out:
	if (ctx.fifo && redum_fifo_finished(ctx.fifo))
		(void)redum_fifo_free(ctx.fifo);
	free(prods);
	free(ctx.next);

	return ret;
}


/* ---- lost wake-up ping-pong ---------------------------------------------- */

struct pp_ctx {
	struct redum_fifo *ab;   /* A -> B: even numbers */
	struct redum_fifo *ba;   /* B -> A: odd numbers  */
	uint64_t rounds;
	uint32_t jitter_ns;
	uint64_t a_rng, b_rng;   /* each side's own xorshift state */
	_Atomic uint64_t progress;

	/* side A (the calling thread) */
	uint64_t a_expect;
	uint64_t a_bad;
	int a_err;
	bool a_done;

	/* side B (the loop thread) */
	uint64_t b_expect;
	uint64_t b_bad;
	int b_err;
};


static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;

	return *s;
}


static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


/* Busy-wait (no sleep: the point is to answer at a chosen moment). */
static void pp_jitter(const struct pp_ctx *pp, uint64_t *rng)
{
	uint64_t until;

	if (!pp->jitter_ns)
		return;

	until = mono_ns() + xorshift(rng) % pp->jitter_ns;
	while (mono_ns() < until)
		;
}


static void pp_b_msg(void *msg, void *arg)
{
	struct pp_ctx *pp = arg;
	uint64_t v = (uint64_t)(uintptr_t)msg;
	int err;

	if (v != pp->b_expect)
		++pp->b_bad;
	pp->b_expect = v + 2;
	pp_jitter(pp, &pp->b_rng);

	err = redum_fifo_push(pp->ba, (void *)(uintptr_t)(v + 1));
	if (err && !pp->b_err)
		pp->b_err = err;
}


static void pp_b_close(void *arg)
{
	struct pp_ctx *pp = arg;
	int err = redum_fifo_close(pp->ba);

	if (err && !pp->b_err)
		pp->b_err = err;
}


static void pp_a_msg(void *msg, void *arg)
{
	struct pp_ctx *pp = arg;
	uint64_t v = (uint64_t)(uintptr_t)msg;
	uint64_t done;
	int err;

	if (v != pp->a_expect)
		++pp->a_bad;
	pp->a_expect = v + 2;

	done = v / 2 + 1;
	atomic_store_explicit(&pp->progress, done, memory_order_relaxed);
	pp_jitter(pp, &pp->a_rng);

	if (done < pp->rounds)
		err = redum_fifo_push(pp->ab, (void *)(uintptr_t)(v + 1));
	else
		err = redum_fifo_close(pp->ab);
	if (err && !pp->a_err)
		pp->a_err = err;
}


static void pp_a_close(void *arg)
{
	struct pp_ctx *pp = arg;

	pp->a_done = true;
}


int fifo_stress_pingpong(uint64_t rounds, uint32_t spin_ns,
			 uint32_t jitter_ns, unsigned stall_ms,
			 char *why, size_t whysz)
{
	struct pp_ctx pp;
	struct fifo_loop loop;
	struct fifo_watchdog wd;
	struct redum_fifo_stats sab, sba;
	struct pollfd pfd;
	int err, ret = -1;

	memset(&pp, 0, sizeof(pp));
	memset(&loop, 0, sizeof(loop));
	pp.rounds = rounds;
	pp.a_expect = 1;
	pp.jitter_ns = jitter_ns;
	pp.a_rng = 0x9e3779b97f4a7c15ull;
	pp.b_rng = 0xd1b54a32d192ed03ull;

	err = redum_fifo_alloc(&pp.ab, REDUM_FIFO_SPSC, 4);
	if (!err)
		err = redum_fifo_alloc(&pp.ba, REDUM_FIFO_SPSC, 4);
	if (err) {
		snprintf(why, whysz, "alloc: %s", strerror(err));
		goto out;
	}
	redum_fifo_set_spin(pp.ab, spin_ns);
	redum_fifo_set_spin(pp.ba, spin_ns);

	err = redum_fifo_attach_manual(pp.ba, pp_a_msg, pp_a_close, &pp, 0);
	if (err) {
		snprintf(why, whysz, "attach_manual: %s", strerror(err));
		goto out;
	}

	loop.fifo = pp.ab;
	loop.msgh = pp_b_msg;
	loop.closeh = pp_b_close;
	loop.arg = &pp;
	err = fifo_loop_start(&loop);
	if (err) {
		snprintf(why, whysz, "attach: %s", strerror(err));
		goto out;
	}

	fifo_watchdog_start(&wd, "ping-pong", &pp.progress, stall_ms);

	err = redum_fifo_push(pp.ab, (void *)(uintptr_t)0);
	if (err)
		pp.a_err = err;

	pfd.fd = redum_fifo_fd(pp.ba);
	pfd.events = POLLIN;
	while (!err && !redum_fifo_finished(pp.ba)) {
		/* No timeout: a lost wake-up must hang (and trip the
		 * watchdog), not be papered over by a periodic drain. */
		int n = poll(&pfd, 1, -1);

		if (n < 0 && errno != EINTR) {
			pp.a_err = errno;
			break;
		}
		if (n > 0)
			(void)redum_fifo_drain(pp.ba);
	}

	fifo_watchdog_stop(&wd);
	err = redum_fifo_join(pp.ab);
	(void)fifo_loop_join(&loop);
	if (err) {
		snprintf(why, whysz, "join: %s", strerror(err));
		goto out;
	}

	if (pp.a_err || pp.b_err) {
		snprintf(why, whysz, "push/close failed: A %s, B %s",
			 strerror(pp.a_err), strerror(pp.b_err));
		goto out;
	}
	if (pp.a_bad || pp.b_bad || !pp.a_done ||
	    atomic_load(&pp.progress) != rounds) {
		snprintf(why, whysz, "rounds %llu/%llu, bad A %llu B %llu, "
			 "A done %d",
			 (unsigned long long)atomic_load(&pp.progress),
			 (unsigned long long)rounds,
			 (unsigned long long)pp.a_bad,
			 (unsigned long long)pp.b_bad, pp.a_done);
		goto out;
	}

	redum_fifo_stats(pp.ab, &sab);
	redum_fifo_stats(pp.ba, &sba);
	if (sab.enqueued != rounds || sab.dequeued != rounds ||
	    sba.enqueued != rounds || sba.dequeued != rounds ||
	    sab.high_water != 1 || sba.high_water != 1) {
		snprintf(why, whysz, "stats: ab %llu/%llu hw %u, ba %llu/%llu "
			 "hw %u",
			 (unsigned long long)sab.enqueued,
			 (unsigned long long)sab.dequeued, sab.high_water,
			 (unsigned long long)sba.enqueued,
			 (unsigned long long)sba.dequeued, sba.high_water);
		goto out;
	}

	ret = 0;

 out:
	if (pp.ab && (redum_fifo_free(pp.ab) == 0))
		pp.ab = NULL;
	if (pp.ba && (redum_fifo_free(pp.ba) == 0))
		pp.ba = NULL;
	if (!ret && (pp.ab || pp.ba)) {
		snprintf(why, whysz, "free refused (EBUSY)");
		ret = -1;
	}

	return ret;
}
