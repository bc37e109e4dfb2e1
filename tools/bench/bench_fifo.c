/**
 * @file bench_fifo.c  redum FIFO vs a mutex+condvar queue vs libre's mqueue
 *
 * Measures, in one run:
 *   - cross-thread throughput (messages/s): producer thread(s) push N
 *     messages, a consumer thread handles them one by one;
 *   - ping-pong round-trip latency (median, p99): one message in flight
 *     between two threads, each sleeping until its peer answers.
 *
 * Contenders:
 *   fifo_spsc, fifo_mpsc  redum_fifo; the consumer runs a libre loop
 *                         (redum_fifo_attach), as in redum itself; with
 *                         the default 2 us spin before sleeping, and SPSC
 *                         also with spin 0 (sleeps as soon as it is empty);
 *   mutex                 a ring under a mutex with two condvars, written
 *                         here as a fair baseline: the consumer takes a
 *                         whole batch per lock, producers signal only when
 *                         the consumer waits (and it only when a producer
 *                         waits for room);
 *   mqueue                libre's mqueue (a pipe; its consumer needs a libre
 *                         loop).
 * A producer facing a full FIFO or pipe spins briefly, then yields; one
 * facing a full mutex queue waits on its condvar.
 *
 * Figures are printed, never asserted. Build in Release:
 *   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-release --target redum-bench-fifo
 *   build-release/bin/redum-bench-fifo [--json] [-n N] [-r ROUNDS]
 *                                      [-q MQUEUE_N]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <re.h>

#include <redum/fifo.h>

enum {
	SPIN_DEFAULT = 2000, /* the FIFO's default (redum_fifo_set_spin) */
	QCAP = 4096,        /* every queue's capacity */
	MUTEX_BATCH = 256,  /* the mutex consumer's batch, = FIFO default */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Full queue: spin a little (the consumer is on another core), then give
 * the CPU away (2 cores for everything). */
static inline void backoff(unsigned *spins)
{
	if (++*spins < 64)
		cpu_relax();
	else
		sched_yield();
}

static void sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) && errno == EINTR)
		;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "redum-bench-fifo: %s: %s\n", what, strerror(err));
	exit(2);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct lat {
	double median_ns;
	double p99_ns;
};

static struct lat lat_summary(uint64_t *v, uint64_t n)
{
	struct lat l;

	qsort(v, n, sizeof(*v), cmp_u64);
	l.median_ns = (double)v[n / 2];
	l.p99_ns = (double)v[(n * 99) / 100];

	return l;
}


/* ======================================================================
 * redum FIFO
 * ==================================================================== */

struct fifo_tp {
	struct redum_fifo *f;
	uint64_t n;
	uint64_t got;
	uint64_t t_end;
	sem_t ready;
	int err;
};

struct fifo_prod {
	struct redum_fifo *f;
	uint64_t n;
	uint64_t id;
	pthread_t tid;
};

static void fifo_tp_msg(void *msg, void *arg)
{
	struct fifo_tp *t = arg;

	(void)msg;
	if (++t->got == t->n)
		t->t_end = now_ns();
}

static void fifo_cancel(void *arg)
{
	(void)arg;
	re_cancel();
}

static void *fifo_tp_consumer(void *arg)
{
	struct fifo_tp *t = arg;

	t->err = re_thread_init();
	if (!t->err)
		t->err = redum_fifo_attach(t->f, fifo_tp_msg, fifo_cancel, t,
					   0);
	sem_post(&t->ready);
	if (!t->err)
		(void)re_main(NULL);
	re_thread_close();

	return NULL;
}

static void *fifo_tp_producer(void *arg)
{
	struct fifo_prod *p = arg;
	uint64_t i;

	for (i = 0; i < p->n; ++i) {
		void *msg = (void *)(uintptr_t)((p->id << 40) | i);
		unsigned spins = 0;
		int err;

		while ((err = redum_fifo_push(p->f, msg)) == ENOSPC)
			backoff(&spins);
		if (err)
			die("redum_fifo_push", err);
	}

	return NULL;
}

static double bench_fifo_tp(enum redum_fifo_mode mode, unsigned nprod,
			    uint64_t n, uint32_t spin_ns,
			    struct redum_fifo_stats *st)
{
	struct fifo_tp t;
	struct fifo_prod prods[8];
	pthread_t ctid;
	uint64_t t0;
	unsigned i;
	int err;

	memset(&t, 0, sizeof(t));
	n -= n % nprod;
	t.n = n;
	/* Same room as the mutex queue: QCAP messages (SPSC: 2^n - 1). */
	err = redum_fifo_alloc(&t.f, mode,
			       mode == REDUM_FIFO_SPSC ? QCAP - 1 : QCAP);
	if (err)
		die("redum_fifo_alloc", err);
	redum_fifo_set_spin(t.f, spin_ns);
	sem_init(&t.ready, 0, 0);
	if (pthread_create(&ctid, NULL, fifo_tp_consumer, &t))
		die("pthread_create", EAGAIN);
	sem_wait_intr(&t.ready);
	if (t.err)
		die("consumer", t.err);

	t0 = now_ns();
	for (i = 0; i < nprod; ++i) {
		prods[i].f = t.f;
		prods[i].n = n / nprod;
		prods[i].id = i;
		if (pthread_create(&prods[i].tid, NULL, fifo_tp_producer,
				   &prods[i]))
			die("pthread_create", EAGAIN);
	}
	for (i = 0; i < nprod; ++i)
		pthread_join(prods[i].tid, NULL);

	(void)redum_fifo_close(t.f);
	(void)redum_fifo_join(t.f);
	pthread_join(ctid, NULL);
	sem_destroy(&t.ready);
	if (t.got != n)
		die("fifo throughput: lost messages", EPROTO);

	redum_fifo_stats(t.f, st);
	err = redum_fifo_free(t.f);
	if (err)
		die("redum_fifo_free", err);

	return (double)n * 1e9 / (double)(t.t_end - t0);
}

/* Ping-pong: A and B each run a libre loop and consume their own FIFO. */
struct fifo_pp {
	struct redum_fifo *ab, *ba;
	uint64_t rounds;
	uint64_t i;
	uint64_t t0;
	uint64_t *lat;
	sem_t ready;
	int err;
};

static void pp_b_msg(void *msg, void *arg)
{
	struct fifo_pp *pp = arg;
	int err = redum_fifo_push(pp->ba, msg);

	if (err)
		die("pp push", err);
}

static void pp_b_close(void *arg)
{
	struct fifo_pp *pp = arg;

	(void)redum_fifo_close(pp->ba);
	re_cancel();
}

static void pp_a_msg(void *msg, void *arg)
{
	struct fifo_pp *pp = arg;
	uint64_t t = now_ns();
	int err;

	pp->lat[pp->i++] = t - pp->t0;
	if (pp->i == pp->rounds) {
		(void)redum_fifo_close(pp->ab);
		return;
	}
	pp->t0 = now_ns();
	err = redum_fifo_push(pp->ab, msg);
	if (err)
		die("pp push", err);
}

static void *pp_b_thread(void *arg)
{
	struct fifo_pp *pp = arg;

	pp->err = re_thread_init();
	if (!pp->err)
		pp->err = redum_fifo_attach(pp->ab, pp_b_msg, pp_b_close, pp,
					    0);
	sem_post(&pp->ready);
	if (!pp->err)
		(void)re_main(NULL);
	re_thread_close();

	return NULL;
}

static void *pp_a_thread(void *arg)
{
	struct fifo_pp *pp = arg;
	int err;

	err = re_thread_init();
	if (!err)
		err = redum_fifo_attach(pp->ba, pp_a_msg, fifo_cancel, pp, 0);
	if (err)
		die("ping-pong A attach", err);
	pp->t0 = now_ns();
	err = redum_fifo_push(pp->ab, NULL);
	if (err)
		die("pp push", err);
	(void)re_main(NULL);
	re_thread_close();

	return NULL;
}

static struct lat bench_fifo_pp(uint64_t rounds, uint32_t spin_ns)
{
	struct fifo_pp pp;
	pthread_t a, b;
	struct lat l;
	int err;

	memset(&pp, 0, sizeof(pp));
	pp.rounds = rounds;
	pp.lat = calloc(rounds, sizeof(*pp.lat));
	if (!pp.lat)
		die("calloc", ENOMEM);
	err = redum_fifo_alloc(&pp.ab, REDUM_FIFO_SPSC, 16);
	if (!err)
		err = redum_fifo_alloc(&pp.ba, REDUM_FIFO_SPSC, 16);
	if (err)
		die("redum_fifo_alloc", err);
	redum_fifo_set_spin(pp.ab, spin_ns);
	redum_fifo_set_spin(pp.ba, spin_ns);
	sem_init(&pp.ready, 0, 0);

	if (pthread_create(&b, NULL, pp_b_thread, &pp))
		die("pthread_create", EAGAIN);
	sem_wait_intr(&pp.ready);
	if (pp.err)
		die("ping-pong B attach", pp.err);
	if (pthread_create(&a, NULL, pp_a_thread, &pp))
		die("pthread_create", EAGAIN);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	sem_destroy(&pp.ready);

	if (redum_fifo_free(pp.ab) || redum_fifo_free(pp.ba))
		die("redum_fifo_free", EBUSY);
	l = lat_summary(pp.lat, rounds);
	free(pp.lat);

	return l;
}


/* ======================================================================
 * Baseline: ring under a mutex, condvars for empty/full
 * ==================================================================== */

struct mtxq {
	pthread_mutex_t mtx;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	void **buf;
	uint32_t mask;
	uint32_t head;
	uint32_t count;
	unsigned prod_waiting;
	bool cons_waiting;
};

static void mtxq_init(struct mtxq *q, uint32_t cap)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mtx, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->buf = calloc(cap, sizeof(*q->buf));
	if (!q->buf)
		die("calloc", ENOMEM);
	q->mask = cap - 1;
}

static void mtxq_destroy(struct mtxq *q)
{
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->mtx);
	free(q->buf);
}

static void mtxq_push(struct mtxq *q, void *msg)
{
	pthread_mutex_lock(&q->mtx);
	while (q->count > q->mask) {
		++q->prod_waiting;
		pthread_cond_wait(&q->not_full, &q->mtx);
		--q->prod_waiting;
	}
	q->buf[(q->head + q->count) & q->mask] = msg;
	++q->count;
	/* Signal only a consumer that sleeps (no syscall otherwise). */
	if (q->cons_waiting)
		pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mtx);
}

/* Takes up to max messages in one critical section; waits while empty. */
static uint32_t mtxq_pop_batch(struct mtxq *q, void **out, uint32_t max)
{
	uint32_t i, n;

	pthread_mutex_lock(&q->mtx);
	while (q->count == 0) {
		q->cons_waiting = true;
		pthread_cond_wait(&q->not_empty, &q->mtx);
		q->cons_waiting = false;
	}
	n = q->count < max ? q->count : max;
	for (i = 0; i < n; ++i)
		out[i] = q->buf[(q->head + i) & q->mask];
	q->head += n;
	q->count -= n;
	if (q->prod_waiting)
		pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->mtx);

	return n;
}

struct mtx_tp {
	struct mtxq q;
	uint64_t n;
	uint64_t got;
	uint64_t t_end;
	void (*h)(void *msg, void *arg);   /* per message, like the FIFO */
};

static void mtx_tp_msg(void *msg, void *arg)
{
	struct mtx_tp *t = arg;

	(void)msg;
	++t->got;
}

static void *mtx_tp_consumer(void *arg)
{
	struct mtx_tp *t = arg;
	void *batch[MUTEX_BATCH];

	while (t->got < t->n) {
		uint32_t i, n = mtxq_pop_batch(&t->q, batch, MUTEX_BATCH);

		for (i = 0; i < n; ++i)
			t->h(batch[i], t);
	}
	t->t_end = now_ns();

	return NULL;
}

struct mtx_prod {
	struct mtxq *q;
	uint64_t n;
	pthread_t tid;
};

static void *mtx_tp_producer(void *arg)
{
	struct mtx_prod *p = arg;
	uint64_t i;

	for (i = 0; i < p->n; ++i)
		mtxq_push(p->q, (void *)(uintptr_t)i);

	return NULL;
}

static double bench_mutex_tp(uint64_t n)
{
	struct mtx_tp t;
	struct mtx_prod p;
	pthread_t ctid;
	uint64_t t0;

	memset(&t, 0, sizeof(t));
	mtxq_init(&t.q, QCAP);
	t.n = n;
	t.h = mtx_tp_msg;
	if (pthread_create(&ctid, NULL, mtx_tp_consumer, &t))
		die("pthread_create", EAGAIN);

	t0 = now_ns();
	p.q = &t.q;
	p.n = n;
	if (pthread_create(&p.tid, NULL, mtx_tp_producer, &p))
		die("pthread_create", EAGAIN);
	pthread_join(p.tid, NULL);
	pthread_join(ctid, NULL);
	mtxq_destroy(&t.q);

	return (double)n * 1e9 / (double)(t.t_end - t0);
}

struct mtx_pp {
	struct mtxq ab, ba;
	uint64_t rounds;
};

static void *mtx_pp_b(void *arg)
{
	struct mtx_pp *pp = arg;
	void *batch[MUTEX_BATCH];
	uint64_t got = 0;

	while (got < pp->rounds) {
		uint32_t i, n = mtxq_pop_batch(&pp->ab, batch, MUTEX_BATCH);

		for (i = 0; i < n; ++i)
			mtxq_push(&pp->ba, batch[i]);
		got += n;
	}

	return NULL;
}

static struct lat bench_mutex_pp(uint64_t rounds)
{
	struct mtx_pp pp;
	uint64_t *lat, i;
	void *batch[MUTEX_BATCH];
	pthread_t b;
	struct lat l;

	memset(&pp, 0, sizeof(pp));
	pp.rounds = rounds;
	mtxq_init(&pp.ab, 16);
	mtxq_init(&pp.ba, 16);
	lat = calloc(rounds, sizeof(*lat));
	if (!lat)
		die("calloc", ENOMEM);
	if (pthread_create(&b, NULL, mtx_pp_b, &pp))
		die("pthread_create", EAGAIN);

	for (i = 0; i < rounds; ++i) {
		uint64_t t0 = now_ns();

		mtxq_push(&pp.ab, NULL);
		(void)mtxq_pop_batch(&pp.ba, batch, MUTEX_BATCH);
		lat[i] = now_ns() - t0;
	}
	pthread_join(b, NULL);
	mtxq_destroy(&pp.ab);
	mtxq_destroy(&pp.ba);
	l = lat_summary(lat, rounds);
	free(lat);

	return l;
}


/* ======================================================================
 * libre mqueue (a non-blocking pipe; handler per message on a libre loop)
 * ==================================================================== */

struct mq_tp {
	struct mqueue *mq;
	uint64_t n;
	uint64_t got;
	uint64_t t_end;
	sem_t ready;
	int err;
};

static void mq_tp_msg(int id, void *data, void *arg)
{
	struct mq_tp *t = arg;

	(void)id;
	(void)data;
	if (++t->got == t->n) {
		t->t_end = now_ns();
		re_cancel();
	}
}

static void *mq_tp_consumer(void *arg)
{
	struct mq_tp *t = arg;

	t->err = re_thread_init();
	if (!t->err)
		t->err = mqueue_alloc(&t->mq, mq_tp_msg, t);
	sem_post(&t->ready);
	if (!t->err)
		(void)re_main(NULL);
	t->mq = mem_deref(t->mq);
	re_thread_close();

	return NULL;
}

struct mq_prod {
	struct mqueue *mq;
	uint64_t n;
	pthread_t tid;
};

static void *mq_tp_producer(void *arg)
{
	struct mq_prod *p = arg;
	uint64_t i;

	for (i = 0; i < p->n; ++i) {
		unsigned spins = 0;
		int err;

		/* The pipe is full: EAGAIN. */
		while ((err = mqueue_push(p->mq, 0, (void *)(uintptr_t)i))
		       == EAGAIN)
			backoff(&spins);
		if (err)
			die("mqueue_push", err);
	}

	return NULL;
}

static double bench_mqueue_tp(uint64_t n)
{
	struct mq_tp t;
	struct mq_prod p;
	pthread_t ctid;
	uint64_t t0;

	memset(&t, 0, sizeof(t));
	t.n = n;
	sem_init(&t.ready, 0, 0);
	if (pthread_create(&ctid, NULL, mq_tp_consumer, &t))
		die("pthread_create", EAGAIN);
	sem_wait_intr(&t.ready);
	if (t.err)
		die("mqueue consumer", t.err);

	t0 = now_ns();
	p.mq = t.mq;
	p.n = n;
	if (pthread_create(&p.tid, NULL, mq_tp_producer, &p))
		die("pthread_create", EAGAIN);
	pthread_join(p.tid, NULL);
	pthread_join(ctid, NULL);
	sem_destroy(&t.ready);

	return (double)n * 1e9 / (double)(t.t_end - t0);
}

struct mq_pp {
	struct mqueue *mq_a, *mq_b;   /* each consumed by its own thread */
	uint64_t rounds;
	uint64_t i;
	uint64_t t0;
	uint64_t *lat;
	sem_t b_ready;
	int err;
};

enum { MQ_PING = 0, MQ_STOP = 1 };

static void mq_pp_b_msg(int id, void *data, void *arg)
{
	struct mq_pp *pp = arg;
	int err;

	if (id == MQ_STOP) {
		re_cancel();
		return;
	}
	err = mqueue_push(pp->mq_a, MQ_PING, data);
	if (err)
		die("mqueue_push", err);
}

static void mq_pp_a_msg(int id, void *data, void *arg)
{
	struct mq_pp *pp = arg;
	uint64_t t = now_ns();
	int err;

	(void)id;
	pp->lat[pp->i++] = t - pp->t0;
	if (pp->i == pp->rounds) {
		err = mqueue_push(pp->mq_b, MQ_STOP, NULL);
		if (err)
			die("mqueue_push", err);
		re_cancel();
		return;
	}
	pp->t0 = now_ns();
	err = mqueue_push(pp->mq_b, MQ_PING, data);
	if (err)
		die("mqueue_push", err);
}

static void *mq_pp_b_thread(void *arg)
{
	struct mq_pp *pp = arg;

	pp->err = re_thread_init();
	if (!pp->err)
		pp->err = mqueue_alloc(&pp->mq_b, mq_pp_b_msg, pp);
	sem_post(&pp->b_ready);
	if (!pp->err)
		(void)re_main(NULL);
	pp->mq_b = mem_deref(pp->mq_b);
	re_thread_close();

	return NULL;
}

static struct lat bench_mqueue_pp(uint64_t rounds)
{
	struct mq_pp pp;
	pthread_t b;
	struct lat l;
	int err;

	memset(&pp, 0, sizeof(pp));
	pp.rounds = rounds;
	pp.lat = calloc(rounds, sizeof(*pp.lat));
	if (!pp.lat)
		die("calloc", ENOMEM);
	sem_init(&pp.b_ready, 0, 0);
	if (pthread_create(&b, NULL, mq_pp_b_thread, &pp))
		die("pthread_create", EAGAIN);
	sem_wait_intr(&pp.b_ready);
	if (pp.err)
		die("mqueue B", pp.err);

	/* A is this thread, with a loop of its own. */
	err = re_thread_init();
	if (!err)
		err = mqueue_alloc(&pp.mq_a, mq_pp_a_msg, &pp);
	if (err)
		die("mqueue A", err);
	pp.t0 = now_ns();
	err = mqueue_push(pp.mq_b, MQ_PING, NULL);
	if (err)
		die("mqueue_push", err);
	(void)re_main(NULL);
	pthread_join(b, NULL);
	pp.mq_a = mem_deref(pp.mq_a);
	re_thread_close();
	sem_destroy(&pp.b_ready);

	l = lat_summary(pp.lat, rounds);
	free(pp.lat);

	return l;
}


/* ======================================================================
 * main
 * ==================================================================== */

static void cpu_model(char *buf, size_t sz)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, sz, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c;

		if (strncmp(line, "model name", 10) || !(c = strchr(line, ':')))
			continue;
		c += 1 + (c[1] == ' ');
		c[strcspn(c, "\n")] = '\0';
		snprintf(buf, sz, "%s", c);
		break;
	}
	fclose(f);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: redum-bench-fifo [--json] [-n MSGS] [-q MQUEUE_MSGS] "
		"[-r ROUNDS]\n"
		"  -n  throughput messages per FIFO/mutex run (10000000)\n"
		"  -q  throughput messages for libre mqueue (1000000; it is "
		"slow)\n"
		"  -r  ping-pong round trips per contender (100000)\n");
	exit(2);
}

int main(int argc, char *argv[])
{
	uint64_t n = 10000000, nq = 1000000, rounds = 100000;
	struct redum_fifo_stats st_spsc, st_spsc0, st_mpsc, st_mpsc2, st_warm;
	double tp_spsc, tp_spsc0, tp_mpsc, tp_mpsc2, tp_mutex, tp_mq;
	struct lat l_fifo, l_fifo0, l_mutex, l_mq;
	bool json = false;
	char cpu[128];
	uint64_t t0;
	int i;

	for (i = 1; i < argc; ++i) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-q") && i + 1 < argc)
			nq = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			rounds = strtoull(argv[++i], NULL, 10);
		else
			usage();
	}
	if (n < 2 || nq < 1 || rounds < 1)
		usage();

	cpu_model(cpu, sizeof(cpu));
	t0 = now_ns();

	/* Warm-up (page faults, thread stacks, CPU frequency). */
	(void)bench_fifo_tp(REDUM_FIFO_SPSC, 1, n / 10 + 2, SPIN_DEFAULT,
			    &st_warm);
	(void)bench_mutex_tp(n / 10 + 2);

	tp_spsc = bench_fifo_tp(REDUM_FIFO_SPSC, 1, n, SPIN_DEFAULT, &st_spsc);
	tp_spsc0 = bench_fifo_tp(REDUM_FIFO_SPSC, 1, n, 0, &st_spsc0);
	tp_mpsc = bench_fifo_tp(REDUM_FIFO_MPSC, 1, n, SPIN_DEFAULT, &st_mpsc);
	tp_mpsc2 = bench_fifo_tp(REDUM_FIFO_MPSC, 2, n, SPIN_DEFAULT,
				 &st_mpsc2);
	tp_mutex = bench_mutex_tp(n);
	tp_mq = bench_mqueue_tp(nq);

	l_fifo = bench_fifo_pp(rounds, SPIN_DEFAULT);
	l_fifo0 = bench_fifo_pp(rounds, 0);
	l_mutex = bench_mutex_pp(rounds);
	l_mq = bench_mqueue_pp(rounds);

	printf("redum FIFO benchmark: %ld cores (%s), queue capacity %u\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, QCAP);
	printf("\nthroughput (producer thread -> consumer thread, "
	       "%llu messages; mqueue %llu)\n",
	       (unsigned long long)n, (unsigned long long)nq);
	printf("  %-24s %14s %12s %12s %10s\n", "contender", "msgs/s",
	       "doorbells", "self_rings", "wakes");
	printf("  %-24s %14.0f %12llu %12llu %10llu\n", "fifo spsc", tp_spsc,
	       (unsigned long long)st_spsc.doorbells,
	       (unsigned long long)st_spsc.self_rings,
	       (unsigned long long)st_spsc.wakes);
	printf("  %-24s %14.0f %12llu %12llu %10llu\n", "fifo spsc, spin 0",
	       tp_spsc0, (unsigned long long)st_spsc0.doorbells,
	       (unsigned long long)st_spsc0.self_rings,
	       (unsigned long long)st_spsc0.wakes);
	printf("  %-24s %14.0f %12llu %12llu %10llu\n", "fifo mpsc, 1 producer",
	       tp_mpsc, (unsigned long long)st_mpsc.doorbells,
	       (unsigned long long)st_mpsc.self_rings,
	       (unsigned long long)st_mpsc.wakes);
	printf("  %-24s %14.0f %12llu %12llu %10llu\n",
	       "fifo mpsc, 2 producers", tp_mpsc2,
	       (unsigned long long)st_mpsc2.doorbells,
	       (unsigned long long)st_mpsc2.self_rings,
	       (unsigned long long)st_mpsc2.wakes);
	printf("  %-24s %14.0f\n", "mutex+condvar", tp_mutex);
	printf("  %-24s %14.0f\n", "libre mqueue", tp_mq);
	printf("  fifo spsc / mutex  = %.2f\n", tp_spsc / tp_mutex);
	printf("  fifo spsc / mqueue = %.2f\n", tp_spsc / tp_mq);

	printf("\nping-pong round trip (%llu rounds, one message in flight)\n",
	       (unsigned long long)rounds);
	printf("  %-24s %12s %12s\n", "contender", "median us", "p99 us");
	printf("  %-24s %12.2f %12.2f\n", "fifo spsc (spin 2 us)",
	       l_fifo.median_ns / 1e3, l_fifo.p99_ns / 1e3);
	printf("  %-24s %12.2f %12.2f\n", "fifo spsc, spin 0 (sleeps)",
	       l_fifo0.median_ns / 1e3, l_fifo0.p99_ns / 1e3);
	printf("  %-24s %12.2f %12.2f\n", "mutex+condvar",
	       l_mutex.median_ns / 1e3, l_mutex.p99_ns / 1e3);
	printf("  %-24s %12.2f %12.2f\n", "libre mqueue",
	       l_mq.median_ns / 1e3, l_mq.p99_ns / 1e3);
	printf("\ntotal %.1f s\n", (double)(now_ns() - t0) / 1e9);

	if (json) {
		printf("{\"bench\":\"fifo\",\"cores\":%ld,\"cpu\":\"%s\","
		       "\"capacity\":%u,\"messages\":%llu,"
		       "\"mqueue_messages\":%llu,\"rounds\":%llu,"
		       "\"throughput_msgs_per_s\":{\"fifo_spsc\":%.0f,"
		       "\"fifo_spsc_spin0\":%.0f,\"fifo_mpsc_1p\":%.0f,\"fifo_mpsc_2p\":%.0f,"
		       "\"mutex\":%.0f,\"mqueue\":%.0f},"
		       "\"fifo_spsc_stats\":{\"doorbells\":%llu,"
		       "\"self_rings\":%llu,\"wakes\":%llu,"
		       "\"high_water\":%u},"
		       "\"latency_ns\":{\"fifo_spsc\":{\"median\":%.0f,"
		       "\"p99\":%.0f},\"fifo_spsc_spin0\":{\"median\":%.0f,"
		       "\"p99\":%.0f},\"mutex\":{\"median\":%.0f,"
		       "\"p99\":%.0f},\"mqueue\":{\"median\":%.0f,"
		       "\"p99\":%.0f}},"
		       "\"fifo_vs_mutex\":%.3f,\"fifo_vs_mqueue\":%.3f}\n",
		       sysconf(_SC_NPROCESSORS_ONLN), cpu, QCAP,
		       (unsigned long long)n, (unsigned long long)nq,
		       (unsigned long long)rounds, tp_spsc, tp_spsc0, tp_mpsc,
		       tp_mpsc2,
		       tp_mutex, tp_mq,
		       (unsigned long long)st_spsc.doorbells,
		       (unsigned long long)st_spsc.self_rings,
		       (unsigned long long)st_spsc.wakes, st_spsc.high_water,
		       l_fifo.median_ns, l_fifo.p99_ns, l_fifo0.median_ns,
		       l_fifo0.p99_ns, l_mutex.median_ns,
		       l_mutex.p99_ns, l_mq.median_ns, l_mq.p99_ns,
		       tp_spsc / tp_mutex, tp_spsc / tp_mq);
	}

	return 0;
}
