/**
 * @file test_timer.c  The timing wheel behind libre's timer API
 *
 * Most tests drive the wheel with a test clock (stack/tmr_wheel.h), so
 * minutes and days pass without waiting; the last ones run libre's real
 * loop and a real SIP client transaction on loopback to show that libre's
 * own timers land on the wheel.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <re.h>
#include "redum/timer.h"
#include "stack/tmr_wheel.h"

static uint64_t clk;

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return clk;
}

struct rec {
	struct tmr tmr;
	uint64_t seq;       /* start order                       */
	uint64_t jfs;       /* expected expiry                   */
	uint64_t fired_at;  /* clk when its handler ran          */
	unsigned fired;
};

enum { MAXREC = 20000 };
static struct rec *recs;
static struct rec *order[MAXREC * 2];
static size_t norder;
static uint64_t seq;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct list dummy_tmrl;

static void poll_now(void)
{
	tmr_poll(&dummy_tmrl);
}

static void rec_h(void *arg)
{
	struct rec *r = arg;

	cr_assert(!tmr_isrunning(&r->tmr), "th must be NULL in the handler");
	++r->fired;
	r->fired_at = clk;
	cr_assert_lt(norder, sizeof(order) / sizeof(order[0]));
	order[norder++] = r;
}

static void rec_start(struct rec *r, uint64_t delay)
{
	r->seq = ++seq;
	r->jfs = clk + delay;
	tmr_start(&r->tmr, delay, rec_h, r);
	cr_assert(tmr_isrunning(&r->tmr));
	cr_assert_eq(r->tmr.jfs, r->jfs);
}

static uint32_t pending(void)
{
	struct redum_tmr_stats st;

	redum_tmr_wheel_stats(&st);
	return st.pending;
}

/* Fired so far in (expiry, start) order, each exactly once, never early. */
static void check_order(void)
{
	size_t i;

	for (i = 0; i < norder; i++) {
		cr_assert_eq(order[i]->fired, 1, "fired %u times",
			     order[i]->fired);
		cr_assert_geq(order[i]->fired_at, order[i]->jfs, "fired early");
		if (i == 0)
			continue;
		cr_assert_leq(order[i - 1]->jfs, order[i]->jfs,
			      "expiry order broken at %zu", i);
		if (order[i - 1]->jfs == order[i]->jfs)
			cr_assert_lt(order[i - 1]->seq, order[i]->seq,
				     "start order broken at %zu", i);
	}
}

/* Nothing due at clk is left pending after a poll. */
static void check_none_overdue(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (tmr_isrunning(&recs[i].tmr))
			cr_assert_gt(recs[i].jfs, clk, "overdue timer %zu", i);
	}
}

/* tmr_next_timeout() is never later than the earliest pending expiry. */
static void check_next_timeout(size_t n)
{
	uint64_t nt = tmr_next_timeout(&dummy_tmrl);
	uint64_t min = UINT64_MAX;
	size_t i;

	for (i = 0; i < n; i++) {
		if (tmr_isrunning(&recs[i].tmr) && recs[i].jfs < min)
			min = recs[i].jfs;
	}

	if (min == UINT64_MAX) {
		cr_assert_eq(nt, 0, "empty wheel must give 0, got %llu",
			     (unsigned long long)nt);
		return;
	}

	cr_assert_geq(nt, 1);
	if (min <= clk)
		cr_assert_eq(nt, 1);
	else
		cr_assert_leq(nt, min - clk, "next_timeout %llu > %llu",
			      (unsigned long long)nt,
			      (unsigned long long)(min - clk));
}

static void setup(void)
{
	clk = 1000000;
	norder = 0;
	seq = 0;
	recs = calloc(MAXREC, sizeof(*recs));
	cr_assert_not_null(recs);
	cr_assert_eq(redum_tmr_wheel_set_clock(test_clock, NULL), 0);
}

static void teardown(void)
{
	size_t i;

	for (i = 0; i < MAXREC; i++)
		tmr_cancel(&recs[i].tmr);
	free(recs);
	(void)redum_tmr_wheel_set_clock(NULL, NULL);
}

TestSuite(timer, .init = setup, .fini = teardown, .timeout = 60);


Test(timer, interposition_active)
{
	struct redum_tmr_stats st;

	cr_assert(redum_tmr_wheel_active(),
		  "libre's tmr_* do not resolve to libredum's");

	rec_start(&recs[0], 10);
	redum_tmr_wheel_stats(&st);
	cr_assert_eq(st.started, 1);
	cr_assert_eq(st.started_by_libre, 0, "started by this test, not libre");
	cr_assert_eq(st.pending, 1);
}


Test(timer, random_delays_fire_in_order)
{
	const size_t n = 10000;
	size_t started = 0, i;
	unsigned round;

	for (round = 0; started < n && round < 100000; round++) {
		const unsigned k = (unsigned)(rnd() % 20);

		for (i = 0; i < k && started < n; i++) {
			uint64_t d;

			switch (rnd() % 4) {
			case 0:  d = rnd() % 64; break;
			case 1:  d = rnd() % 5000; break;
			case 2:  d = rnd() % 300000; break;
			default: d = (rnd() % 8) * 500; break; /* equal expiries */
			}
			rec_start(&recs[started++], d);
		}

		check_next_timeout(started);
		clk += (rnd() % 8 == 0) ? rnd() % 20000 : rnd() % 70;
		poll_now();
		check_none_overdue(started);
	}
	cr_assert_eq(started, n);

	/* Drain the rest. */
	for (round = 0; pending() && round < 100000; round++) {
		check_next_timeout(n);
		clk += rnd() % 3000;
		poll_now();
		check_none_overdue(n);
	}

	cr_assert_eq(pending(), 0);
	cr_assert_eq(norder, n);
	check_order();
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 0);
}


/* Driving the clock by tmr_next_timeout() alone fires every timer exactly at
 * its expiry (never late), and the number of wakes stays small. */
Test(timer, next_timeout_drives_exact_expiry)
{
	const size_t n = 3000;
	unsigned wakes = 0;
	size_t i;

	for (i = 0; i < n; i++)
		rec_start(&recs[i], rnd() % (i % 3 ? 40000 : 2000000));

	while (pending()) {
		uint64_t nt = tmr_next_timeout(&dummy_tmrl);

		cr_assert_geq(nt, 1);
		clk += nt;
		poll_now();
		cr_assert_lt(++wakes, 100000, "busy looping");
	}

	cr_assert_eq(norder, n);
	check_order();
	for (i = 0; i < n; i++)
		cr_assert_eq(recs[i].fired_at, recs[i].jfs,
			     "timer %zu fired %llu ms late", i,
			     (unsigned long long)(recs[i].fired_at -
						  recs[i].jfs));
	/* At most: one wake per distinct expiry, plus a few per level. */
	cr_log_info("%u wakes for %zu timers", wakes, n);
}


Test(timer, equal_delays_fire_in_start_order)
{
	size_t i;

	for (i = 0; i < 100; i++)
		rec_start(&recs[i], 500);

	/* Same expiry reached from other delays, started later. */
	clk += 200;
	for (i = 100; i < 150; i++)
		rec_start(&recs[i], 300);
	clk += 299;
	rec_start(&recs[150], 1);
	poll_now();
	cr_assert_eq(norder, 0);

	clk += 1;
	poll_now();
	cr_assert_eq(norder, 151);
	for (i = 0; i < 151; i++)
		cr_assert_eq(order[i], &recs[i], "position %zu", i);
}


Test(timer, cancel)
{
	size_t i;

	for (i = 0; i < 1000; i++)
		rec_start(&recs[i], 1 + rnd() % 100000);

	for (i = 0; i < 1000; i += 2) {
		tmr_cancel(&recs[i].tmr);
		cr_assert(!tmr_isrunning(&recs[i].tmr));
		cr_assert_eq(tmr_get_expire(&recs[i].tmr), 0);
	}
	cr_assert_eq(pending(), 500);

	/* Cancelling twice, and cancelling a never-started timer, are no-ops. */
	tmr_cancel(&recs[0].tmr);
	tmr_init(&recs[5000].tmr);
	tmr_cancel(&recs[5000].tmr);
	tmr_cancel(NULL);
	/* tmr_start with no handler cancels too. */
	tmr_start(&recs[1].tmr, 10, NULL, NULL);
	cr_assert(!tmr_isrunning(&recs[1].tmr));

	clk += 100000;
	poll_now();
	cr_assert_eq(norder, 499);
	for (i = 0; i < norder; i++)
		cr_assert_eq((order[i] - recs) % 2, 1);
	cr_assert_eq(recs[1].fired, 0);
	cr_assert_eq(pending(), 0);
	check_order();
}


Test(timer, restart_reschedules)
{
	rec_start(&recs[0], 1000);
	rec_start(&recs[1], 1000);
	rec_start(&recs[0], 5000);   /* later  */
	rec_start(&recs[1], 10);     /* sooner */
	cr_assert_eq(pending(), 2);
	cr_assert_eq(tmr_get_expire(&recs[0].tmr), 5000);
	cr_assert_eq(tmr_get_expire(&recs[1].tmr), 10);

	clk += 1000;
	poll_now();
	cr_assert_eq(norder, 1);
	cr_assert_eq(order[0], &recs[1]);

	clk += 3999;
	poll_now();
	cr_assert_eq(norder, 1);
	cr_assert_eq(tmr_get_expire(&recs[0].tmr), 1);
	clk += 1;
	poll_now();
	cr_assert_eq(norder, 2);
	cr_assert_eq(recs[0].fired_at, recs[0].jfs);
}


/* ---- handlers that start and cancel timers ---- */

static struct tmr periodic;
static unsigned periodic_n;
static uint64_t periodic_at[8];

static void periodic_h(void *arg)
{
	(void)arg;
	cr_assert(!tmr_isrunning(&periodic));
	periodic_at[periodic_n++] = clk;
	if (periodic_n < 8)
		tmr_start(&periodic, 100, periodic_h, NULL);
	/* A handler may also restart and cancel itself. */
	if (periodic_n == 8) {
		tmr_start(&periodic, 1, periodic_h, NULL);
		tmr_cancel(&periodic);
	}
}

Test(timer, handler_restarts_itself)
{
	unsigned i;

	tmr_init(&periodic);
	tmr_start(&periodic, 100, periodic_h, NULL);

	for (i = 0; i < 2000 && tmr_isrunning(&periodic); i++) {
		clk += 7;
		poll_now();
	}
	cr_assert_eq(periodic_n, 8);
	cr_assert(!tmr_isrunning(&periodic));
	for (i = 1; i < 8; i++)
		cr_assert_geq(periodic_at[i] - periodic_at[i - 1], 100);
	cr_assert_eq(pending(), 0);
}

static void cancel_other_h(void *arg)
{
	struct rec *self = arg;

	rec_h(arg);
	tmr_cancel(&recs[1].tmr);            /* due in this same poll */
	rec_start(&recs[2], 10);             /* moved later           */
	rec_start(&recs[3], 0);              /* new, due now          */
	(void)self;
}

Test(timer, handler_cancels_and_starts_others)
{
	recs[0].seq = ++seq;
	recs[0].jfs = clk + 50;
	tmr_start(&recs[0].tmr, 50, cancel_other_h, &recs[0]);
	rec_start(&recs[1], 50);
	rec_start(&recs[2], 50);
	rec_start(&recs[4], 50);

	clk += 60;
	poll_now();
	/* 0 fires; 1 cancelled; 2 moved to clk + 10; 4 fires; 3 (started by
	 * the handler, due at clk) fires in this same poll, as in libre. */
	cr_assert_eq(norder, 3);
	cr_assert_eq(order[0], &recs[0]);
	cr_assert_eq(order[1], &recs[4]);
	cr_assert_eq(order[2], &recs[3]);
	cr_assert_eq(recs[1].fired, 0);
	cr_assert(tmr_isrunning(&recs[2].tmr));

	clk += 10;
	poll_now();
	cr_assert_eq(norder, 4);
	cr_assert_eq(order[3], &recs[2]);
}

static unsigned zero_chain;

static void zero_chain_h(void *arg)
{
	struct rec *r = arg;

	rec_h(arg);
	if (++zero_chain < 5) {
		r[1].seq = ++seq;
		r[1].jfs = clk;
		tmr_start(&r[1].tmr, 0, zero_chain_h, &r[1]);
	}
}

Test(timer, zero_ms_timers)
{
	rec_start(&recs[0], 0);
	rec_start(&recs[1], 0);
	rec_start(&recs[2], 0);
	cr_assert_eq(tmr_get_expire(&recs[0].tmr), 0);
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 1, "due now");
	cr_assert_eq(norder, 0, "0 ms timers fire in the next poll, not now");

	poll_now();
	cr_assert_eq(norder, 3);
	cr_assert_eq(order[0], &recs[0]);
	cr_assert_eq(order[2], &recs[2]);

	/* A 0 ms timer started by a handler fires in the same poll. */
	norder = 0;
	recs[10].seq = ++seq;
	recs[10].jfs = clk;
	tmr_start(&recs[10].tmr, 0, zero_chain_h, &recs[10]);
	poll_now();
	cr_assert_eq(zero_chain, 5);
	cr_assert_eq(norder, 5);
	cr_assert_eq(pending(), 0);
}


static void long_delay(uint64_t base, uint64_t delay)
{
	struct redum_tmr_stats st;
	unsigned wakes = 0;

	clk = base;
	cr_assert_eq(redum_tmr_wheel_set_clock(test_clock, NULL), 0);
	norder = 0;
	rec_start(&recs[0], delay);
	rec_start(&recs[1], 500);          /* a short one among them */
	rec_start(&recs[2], delay);        /* same expiry, later start */

	while (pending()) {
		uint64_t nt = tmr_next_timeout(&dummy_tmrl);

		cr_assert_geq(nt, 1);
		cr_assert_leq(nt, REDUM_TMR_MAX_WAIT);
		if (tmr_isrunning(&recs[0].tmr))
			cr_assert_leq(nt, recs[0].jfs - clk);
		clk += nt;
		poll_now();
		cr_assert_lt(++wakes, 200000);
	}

	cr_assert_eq(norder, 3);
	cr_assert_eq(order[0], &recs[1]);
	cr_assert_eq(order[1], &recs[0]);
	cr_assert_eq(order[2], &recs[2]);
	cr_assert_eq(recs[0].fired_at, base + delay);
	redum_tmr_wheel_stats(&st);
	cr_log_info("delay %llu ms: %u wakes, %llu cascades",
		    (unsigned long long)delay, wakes,
		    (unsigned long long)st.cascaded);
	/* Wakes: one per hour at most while far, plus one per level. */
	cr_assert_leq(wakes, delay / REDUM_TMR_MAX_WAIT + 2 * REDUM_TMR_WHEEL_LEVELS + 2);
}

Test(timer, long_delays)
{
	long_delay(1000000, 10 * 60 * 1000);            /* 10 min */
	long_delay(1000000, 3 * 24 * 3600 * 1000ull);   /* 3 days */
	long_delay(7777777, 32000);                     /* timer F */
	/* Across a 2^42 ms boundary: the overflow list. */
	long_delay((UINT64_C(1) << 42) - 300, 1000);
	long_delay((UINT64_C(1) << 43) - 2, 3 * 24 * 3600 * 1000ull);
}

Test(timer, long_delays_polled_often)
{
	size_t i;

	/* 3 days in 1-min polls, with a mix of levels and a jump. */
	rec_start(&recs[0], 3 * 24 * 3600 * 1000ull);
	rec_start(&recs[1], 10 * 60 * 1000);
	rec_start(&recs[2], 17);
	for (i = 0; i < 3 * 24 * 60 + 1; i++) {
		clk += 60000;
		poll_now();
		check_none_overdue(3);
		check_next_timeout(3);
	}
	cr_assert_eq(norder, 3);
	check_order();
}

Test(timer, huge_delay_is_capped)
{
	rec_start(&recs[0], 0);
	tmr_start(&recs[1].tmr, UINT64_MAX, rec_h, &recs[1]);
	cr_assert(tmr_isrunning(&recs[1].tmr));
	cr_assert_eq(tmr_get_expire(&recs[1].tmr), REDUM_TMR_MAX_DELAY);
	poll_now();
	cr_assert_eq(norder, 1);
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), REDUM_TMR_MAX_WAIT);
	clk += 1000000000;
	poll_now();
	cr_assert_eq(norder, 1);
	cr_assert(tmr_isrunning(&recs[1].tmr));
}

Test(timer, next_timeout_values)
{
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 0);
	rec_start(&recs[0], 32000);
	/* Far timer: the first wake may be early (a cascade), never 0/1. */
	cr_assert_geq(tmr_next_timeout(&dummy_tmrl), 2);
	cr_assert_leq(tmr_next_timeout(&dummy_tmrl), 32000);
	rec_start(&recs[1], 40);
	cr_assert_leq(tmr_next_timeout(&dummy_tmrl), 40);
	clk += 45;
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 1, "overdue gives 1");
	poll_now();
	cr_assert_geq(tmr_next_timeout(&dummy_tmrl), 2);
	tmr_cancel(&recs[0].tmr);
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 0);
}

Test(timer, status_lists_timers)
{
	char *s = NULL;

	rec_start(&recs[0], 5);
	rec_start(&recs[1], 50000);
	cr_assert_eq(re_sdprintf(&s, "%H", tmr_status, NULL), 0);
	cr_assert_not_null(strstr(s, "Timers (2):"), "%s", s);
	cr_assert_not_null(strstr(s, "expire=50000ms"), "%s", s);
	mem_deref(s);
}

Test(timer, set_clock_refuses_when_pending)
{
	rec_start(&recs[0], 5);
	cr_assert_eq(redum_tmr_wheel_set_clock(test_clock, NULL), EBUSY);
}


static void *foreign_cancel(void *arg)
{
	struct redum_tmr_stats *st = arg;

	tmr_cancel(&recs[0].tmr);
	redum_tmr_wheel_stats(st);
	return NULL;
}

/* Cancelling another thread's timer breaks the contract; it is counted, and
 * the owner's wheel keeps working (here sequenced by create/join, so it is
 * not a data race). */
Test(timer, foreign_cancel_is_counted_and_harmless)
{
	struct redum_tmr_stats st;
	pthread_t tid;

	/* recs[0] alone in its slot: the slot's bit stays set after the
	 * foreign unlink, and the wheel must not stall on it. */
	rec_start(&recs[0], 10);
	rec_start(&recs[1], 40);
	cr_assert_eq(pthread_create(&tid, NULL, foreign_cancel, &st), 0);
	cr_assert_eq(pthread_join(tid, NULL), 0);
	cr_assert_eq(st.foreign, 1);
	cr_assert(!tmr_isrunning(&recs[0].tmr));

	rec_start(&recs[2], 0);
	poll_now();
	cr_assert_eq(norder, 1);
	cr_assert_eq(order[0], &recs[2]);
	clk += 10;
	poll_now();
	cr_assert_eq(norder, 1);
	clk += 30;
	poll_now();
	cr_assert_eq(norder, 2);
	cr_assert_eq(order[1], &recs[1]);
	cr_assert_eq(tmr_next_timeout(&dummy_tmrl), 0);
}


/* ---- over libre's real loop (real clock) ---- */

static void stop_h(void *arg)
{
	(void)arg;
	re_cancel();
}

static void loop_setup(void)
{
	cr_assert_eq(libre_init(), 0);
}

static void loop_teardown(void)
{
	libre_close();
}

TestSuite(loop, .init = loop_setup, .fini = loop_teardown, .timeout = 20);

Test(loop, re_main_uses_the_wheel)
{
	struct tmr t;
	struct redum_tmr_stats st;
	uint64_t t0 = tmr_jiffies();

	cr_assert(redum_tmr_wheel_active());
	tmr_init(&t);
	tmr_start(&t, 30, stop_h, NULL);
	cr_assert_eq(re_main(NULL), 0);
	cr_assert_geq(tmr_jiffies() - t0, 30);
	redum_tmr_wheel_stats(&st);
	cr_assert_eq(st.fired, 1);
	cr_assert_eq(st.pending, 0);
}

static void resp_h(int err, const struct sip_msg *msg, void *arg)
{
	(void)err;
	(void)msg;
	(void)arg;
}

static int sink_bind(struct sa *sa)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	cr_assert_geq(fd, 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	sa_set_in(sa, INADDR_LOOPBACK, ntohs(in.sin_port));
	return fd;
}

/* A SIP client transaction to a UDP port that never answers: libre's own
 * ctrans.c starts timers E (retransmit) and F (32 s timeout); the
 * retransmission must arrive at the silent peer, driven by the wheel. */
Test(loop, libre_transaction_timers_use_the_wheel)
{
	struct sip *sip = NULL;
	struct sip_request *req = NULL;
	struct sa laddr, sink;
	struct tmr stop;
	struct redum_tmr_stats st;
	char uri[64], buf[4096];
	int fd, got = 0;

	fd = sink_bind(&sink);
	cr_assert_eq(sip_alloc(&sip, NULL, 32, 32, 32, "redum-test", NULL,
			       NULL), 0);
	cr_assert_eq(sa_set_str(&laddr, "127.0.0.1", 0), 0);
	cr_assert_eq(sip_transp_add(sip, SIP_TRANSP_UDP, &laddr), 0);

	re_snprintf(uri, sizeof(uri), "sip:x@127.0.0.1:%u", sa_port(&sink));
	cr_assert_eq(sip_requestf(&req, sip, true, "OPTIONS", uri, NULL, NULL,
				  NULL, resp_h, NULL,
				  "To: <%s>\r\n"
				  "From: <sip:t@127.0.0.1>;tag=wheel1\r\n"
				  "Call-ID: wheel-test-1\r\n"
				  "CSeq: 1 OPTIONS\r\n"
				  "Content-Length: 0\r\n\r\n", uri), 0);

	/* T1 = 500 ms: sent at 0 and retransmitted at 500 and 1500 ms. */
	tmr_init(&stop);
	tmr_start(&stop, 1200, stop_h, NULL);
	cr_assert_eq(re_main(NULL), 0);

	while (recv(fd, buf, sizeof(buf), 0) > 0)
		++got;

	redum_tmr_wheel_stats(&st);
	cr_log_info("datagrams %d, started %llu, by libre %llu, fired %llu",
		    got, (unsigned long long)st.started,
		    (unsigned long long)st.started_by_libre,
		    (unsigned long long)st.fired);
	cr_assert_geq(got, 2, "no retransmission: timer E never fired");
	/* E and F at the start, E again after its first firing. */
	cr_assert_geq(st.started_by_libre, 3);
	cr_assert_geq(st.fired, 2);   /* E, and our stop timer */

	mem_deref(req);
	sip_close(sip, true);
	mem_deref(sip);
	close(fd);
}
