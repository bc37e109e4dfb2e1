/**
 * @file bench_timers.c  Timer cost with N pending long timers: wheel vs libre
 *
 * With N long timers pending (30-34 s, like the 32 s timers every SIP
 * transaction leaves behind), measures per operation:
 *  - insert:  tmr_start of a 500 ms timer (a SIP retransmission, timer E)
 *  - cancel:  tmr_cancel of those
 *  - expire:  firing of due 500 ms timers, in tmr_poll
 *  - churn:   one full 32 s cycle: every long timer fires and its handler
 *             re-arms it for 32 s (steady load; includes the wheel's
 *             cascades), cost per firing; the clock advances as re_main
 *             would, by tmr_next_timeout() then tmr_poll()
 * for libredum's wheel (the interposed tmr_*) and for libre 1.1.0's own
 * sorted list (its real tmr_* from libre.so, found with dlsym(RTLD_NEXT):
 * they run unchanged, on libre's per-thread list). Both read the same test
 * clock (stack/tmr_wheel.h): libre's code calls tmr_jiffies through the PLT,
 * i.e. ours. Timers live at shuffled addresses, as heap objects do.
 *
 * Usage: redum-bench-timers [--json] [--min-n N] [--max-n N] [--reps R]
 * Each figure is the best of R runs (default 3): the machine is shared, and
 * the minimum is the least disturbed. Prints a table; with --json also one
 * JSON object on the last line.
 * Figures only, no assertions; run from a release build.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "redum/timer.h"
#include "stack/tmr_wheel.h"

/* libre's own accessor of the calling thread's timer list (not in a header). */
struct list *tmrl_get(void);

struct impl {
	const char *name;
	void (*start)(struct tmr *, uint64_t, tmr_h *, void *);
	void (*cancel)(struct tmr *);
	void (*poll)(struct list *);
	uint64_t (*next_timeout)(struct list *);
};

enum { NSIZES = 4 };
static const size_t sizes[NSIZES] = {1000, 10000, 100000, 1000000};

struct result {
	double insert, cancel, expire, churn;   /* ns per operation */
};

/* Keeps the smaller figure of each operation. */
static void best(struct result *acc, const struct result *r)
{
	if (r->insert < acc->insert) acc->insert = r->insert;
	if (r->cancel < acc->cancel) acc->cancel = r->cancel;
	if (r->expire < acc->expire) acc->expire = r->expire;
	if (r->churn < acc->churn)   acc->churn = r->churn;
}

static uint64_t clk;
static uint64_t fired;
static const struct impl *cur_impl;

static uint64_t bench_clock(void *arg)
{
	(void)arg;
	return clk;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void count_h(void *arg)
{
	(void)arg;
	++fired;
}

static void rearm_h(void *arg)
{
	++fired;
	cur_impl->start(arg, 32000, rearm_h, arg);
}

/* Timers at shuffled addresses: pointer-chasing a list visits memory in
 * random order, as with timers inside separately allocated transactions. */
static struct tmr **shuffled(struct tmr *arr, size_t n)
{
	struct tmr **p = malloc(n * sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		p[i] = &arr[i];
	for (i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1);
		struct tmr *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

static int run(const struct impl *im, size_t n, struct result *r)
{
	struct list *tmrl = tmrl_get();
	/* Short-timer operations per measurement: libre's insert walks the
	 * whole list, so fewer for it at large N. */
	size_t m = 100000;
	struct tmr *longs, *shorts;
	struct tmr **lp, **sp;
	uint64_t base;
	double t0;
	size_t i;

	if (im->start != tmr_start) {
		m = 20000000 / n;
		if (m > 100000)
			m = 100000;
		if (m < 20)
			m = 20;
	}

	longs = calloc(n, sizeof(*longs));
	shorts = calloc(m, sizeof(*shorts));
	if (!longs || !shorts)
		return ENOMEM;
	lp = shuffled(longs, n);
	sp = shuffled(shorts, m);
	if (!lp || !sp)
		return ENOMEM;
	/* Fault the pages in now, not inside a measurement. */
	for (i = 0; i < m; i++)
		tmr_init(&shorts[i]);

	cur_impl = im;
	clk = base = 1000000000;
	/* The wheel is empty here: restart it at the rewound clock. */
	if (redum_tmr_wheel_set_clock(bench_clock, NULL))
		return EBUSY;

	/* N long timers, 30..34 s, started in expiry order (cheap for both). */
	for (i = 0; i < n; i++)
		im->start(lp[i], 30000 + (i * 4000) / n, rearm_h, lp[i]);

	/* insert: 500 ms timers among them */
	t0 = now_ns();
	for (i = 0; i < m; i++)
		im->start(sp[i], 500, count_h, NULL);
	r->insert = (now_ns() - t0) / (double)m;

	/* cancel */
	t0 = now_ns();
	for (i = 0; i < m; i++)
		im->cancel(sp[i]);
	r->cancel = (now_ns() - t0) / (double)m;

	/* expire: the same 500 ms timers again, then time passes */
	for (i = 0; i < m; i++)
		im->start(sp[i], 500, count_h, NULL);
	fired = 0;
	clk += 500;
	t0 = now_ns();
	im->poll(tmrl);
	r->expire = (now_ns() - t0) / (double)m;
	if (fired != m) {
		fprintf(stderr, "%s: %llu of %zu short timers fired\n",
			im->name, (unsigned long long)fired, m);
		return EPROTO;
	}

	/* churn: run 34 s as re_main would; every long timer fires, re-arms */
	fired = 0;
	t0 = now_ns();
	while (clk < base + 34000) {
		const uint64_t to = im->next_timeout(tmrl);

		if (!to)
			break;
		clk += to < base + 34000 - clk ? to : base + 34000 - clk;
		im->poll(tmrl);
	}
	r->churn = (now_ns() - t0) / (double)n;
	if (fired != n) {
		fprintf(stderr, "%s: %llu of %zu long timers fired\n",
			im->name, (unsigned long long)fired, n);
		return EPROTO;
	}

	for (i = 0; i < n; i++)
		im->cancel(&longs[i]);

	free(lp);
	free(sp);
	free(longs);
	free(shorts);

	return 0;
}

int main(int argc, char *argv[])
{
	struct impl wheel = {"wheel", tmr_start, tmr_cancel, tmr_poll,
			     tmr_next_timeout};
	struct impl list = {"list", NULL, NULL, NULL, NULL};
	struct result res[NSIZES][2];
	size_t max_n = 1000000, min_n = 0, reps = 3;
	bool json = false;
	int i, k, k0, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--max-n") && i + 1 < argc)
			max_n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--min-n") && i + 1 < argc)
			min_n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [--json] [--min-n N] "
				"[--max-n N] [--reps R]\n",
				argv[0]);
			return 2;
		}
	}

	if (!redum_tmr_wheel_active()) {
		fprintf(stderr, "the wheel is not interposed on libre\n");
		return 1;
	}

	/* libre's originals: the next definitions after ours. */
	*(void **)&list.start = dlsym(RTLD_NEXT, "tmr_start");
	*(void **)&list.cancel = dlsym(RTLD_NEXT, "tmr_cancel");
	*(void **)&list.poll = dlsym(RTLD_NEXT, "tmr_poll");
	*(void **)&list.next_timeout = dlsym(RTLD_NEXT, "tmr_next_timeout");
	if (!list.start || !list.cancel || !list.poll || !list.next_timeout) {
		fprintf(stderr, "libre's tmr_* not found: %s\n", dlerror());
		return 1;
	}

	if (redum_tmr_wheel_set_clock(bench_clock, NULL)) {
		fprintf(stderr, "cannot set the test clock\n");
		return 1;
	}

	printf("Timers with N pending long (30-34 s) timers, ns per operation\n");
	printf("%9s  %-7s %12s %12s %10s\n", "N", "op", "libre list",
	       "wheel", "list/wheel");

	for (k0 = 0; k0 < NSIZES && sizes[k0] < min_n; k0++)
		;
	for (k = k0; k < NSIZES && sizes[k] <= max_n; k++) {
		static const char *const ops[] = {"insert", "cancel",
						  "expire", "churn"};
		int o;

		for (size_t r = 0; r < (reps ? reps : 1); r++) {
			struct result lr, wr;

			err = run(&list, sizes[k], &lr);
			err |= run(&wheel, sizes[k], &wr);
			if (err) {
				fprintf(stderr, "run failed (%d)\n", err);
				return 1;
			}
			if (r == 0) {
				res[k][0] = lr;
				res[k][1] = wr;
			}
			else {
				best(&res[k][0], &lr);
				best(&res[k][1], &wr);
			}
		}

		for (o = 0; o < 4; o++) {
			const double *l = &res[k][0].insert + o;
			const double *w = &res[k][1].insert + o;

			printf("%9zu  %-7s %12.1f %12.1f %10.1f\n", sizes[k],
			       ops[o], *l, *w, *l / *w);
		}
		fflush(stdout);
	}

	if (json) {
		int n = k;

		printf("{\"bench\":\"timers\",\"unit\":\"ns/op\",\"results\":[");
		for (k = k0; k < n; k++) {
			const struct result *l = &res[k][0], *w = &res[k][1];

			printf("%s{\"n\":%zu,"
			       "\"insert_list\":%.1f,\"insert_wheel\":%.1f,"
			       "\"insert_ratio\":%.2f,"
			       "\"cancel_list\":%.1f,\"cancel_wheel\":%.1f,"
			       "\"cancel_ratio\":%.2f,"
			       "\"expire_list\":%.1f,\"expire_wheel\":%.1f,"
			       "\"expire_ratio\":%.2f,"
			       "\"churn_list\":%.1f,\"churn_wheel\":%.1f,"
			       "\"churn_ratio\":%.2f}",
			       k > k0 ? "," : "", sizes[k],
			       l->insert, w->insert, l->insert / w->insert,
			       l->cancel, w->cancel, l->cancel / w->cancel,
			       l->expire, w->expire, l->expire / w->expire,
			       l->churn, w->churn, l->churn / w->churn);
		}
		printf("]}\n");
	}

	return 0;
}
