/**
 * @file bench_shutdown.c  redum-bench-shutdown: how long a staged shutdown
 *                         of many client usages takes against a responsive
 *                         peer (issue 9, item 3)
 *
 *   redum-bench-shutdown [N [T1_MS [PEER_HOST:PORT]]]
 *
 * Two instances in this process, each a stack thread + a DUM thread (the
 * harness of tests/shutdown, shuttest.c): A is the client, B the
 * responsive peer (answers calls, registrar, presence notifier). A makes
 * N calls, N registrations and N subscriptions to B (default N = 10000),
 * waits until every one is established (CONNECTED, REGISTERED, first
 * NOTIFY), then shuts down gracefully: every call gets its BYE, every
 * registration its REGISTER Expires 0, every subscription its
 * unSUBSCRIBE, stage by stage; B answers them all. Printed: the total, the
 * time of each stage (from the final report) and the TU removal. Then the
 * same N x 3 usages again on a new pair and a forced shutdown of A (nothing
 * sent; every usage freed): its time.
 *
 * Prints figures, asserts nothing about time. Exit 1 if the usages could
 * not be established or a graceful shutdown force-ended any. Bounded:
 * every wait has a watchdog. Run it from a release build, under the heavy
 * lock (tools/bench/shutdown/run does both).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <re.h>
#include "shuttest.h"

enum { BATCH = 500, WAIT_MS = 120000, GIVE_UP_MS = 60000 };

static struct sapp A, B;
static uint32_t t1_ms = 500;
static const char *peer;        /* HOST:PORT of an outside peer, or NULL */
static char peer_uri[80];
static uint16_t peer_port;


static bool n_at_least(struct sapp *a, void *arg)
{
	const unsigned *want = arg;
	return sapp_n(a, (enum redum_dum_ev_type)want[0]) >= want[1];
}


static bool wait_ev(struct sapp *a, enum redum_dum_ev_type t, unsigned n,
		    int ms)
{
	unsigned want[2] = {t, n};
	return sapp_wait(n_at_least, a, want, ms);
}


static int64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
		(int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
}


static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static uint64_t sum(const uint64_t *v, int n)
{
	uint64_t s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}


static void stage_names(char *buf, size_t sz, uint32_t types)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int t = 0; t < REDUM_USAGE_COUNT && len < sz; t++) {
		if (!(types & REDUM_USAGE_BIT(t)))
			continue;
		len += (size_t)snprintf(buf + len, sz - len, "%s%s",
					len ? "+" : "",
					redum_usage_name((enum redum_usage_type)t));
	}
}


/* Starts A and B and establishes n calls, n registrations and n
 * subscriptions from A to B. */
static bool establish(unsigned n)
{
	int64_t t0 = tt_now();
	unsigned i;
	bool ok;

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.t1_ms = B.t1_ms = t1_ms;
	B.auto_answer = true;
	B.registrar = true;
	B.notifier = true;
	if (sapp_start(&A) || (!peer && sapp_start(&B))) {
		fprintf(stderr, "bench-shutdown: cannot start the instances\n");
		return false;
	}
	if (!peer) {
		snprintf(peer_uri, sizeof(peer_uri), "%s", B.uri);
		peer_port = B.port;
	}

	for (i = 0; i < n; i++) {
		struct redum_reg_req rr;
		redum_dum_handle h;
		char aor[80];
		int err;

		err = sapp_call(&A, peer_uri, &h);
		memset(&rr, 0, sizeof(rr));
		snprintf(aor, sizeof(aor), "sip:u%u@127.0.0.1:%u", i,
			 peer_port);
		rr.registrar = peer_uri;
		rr.aor = aor;
		rr.expires = 3600;
		err = err ? err : redum_reg_register(A.dum, &h, &rr);
		err = err ? err : sapp_subscribe(&A, peer_uri, &h);
		if (err) {
			fprintf(stderr, "bench-shutdown: usage %u: %s\n", i,
				strerror(err));
			return false;
		}
		/* keep the FIFOs and the peer in step: a batch at a time */
		if (i % BATCH == BATCH - 1 &&
		    !(wait_ev(&A, REDUM_DUM_EV_CONNECTED, i + 1, WAIT_MS) &&
		      wait_ev(&A, REDUM_DUM_EV_REGISTERED, i + 1, WAIT_MS) &&
		      wait_ev(&A, REDUM_DUM_EV_SUB_UPDATE, i + 1, WAIT_MS)))
			break;
	}
	ok = wait_ev(&A, REDUM_DUM_EV_CONNECTED, n, WAIT_MS) &&
		wait_ev(&A, REDUM_DUM_EV_REGISTERED, n, WAIT_MS) &&
		wait_ev(&A, REDUM_DUM_EV_SUB_UPDATE, n, WAIT_MS);
	printf("established: calls %u, registrations %u, subscriptions %u "
	       "of %u each in %lld ms\n", sapp_n(&A, REDUM_DUM_EV_CONNECTED),
	       sapp_n(&A, REDUM_DUM_EV_REGISTERED),
	       sapp_n(&A, REDUM_DUM_EV_SUB_UPDATE), n,
	       (long long)(tt_now() - t0));
	fflush(stdout);

	/* let the establishing transactions' tails (ACK waits, 2xx
	 * retransmission timers) settle, so the shutdown is measured alone */
	sapp_pump(1000);

	return ok;
}


static void print_report(const struct sapp *a)
{
	const struct redum_shutdown_report *r = &a->rep;

	printf("  usages at start %u, force-ended %u, deadline hit %s\n",
	       r->usages_at_start, r->nforced, r->deadline_hit ? "yes" : "no");
	for (uint32_t i = 0; i < r->nstages; i++) {
		const struct redum_shutdown_stage *s = &r->stages[i];
		char names[256];

		if (!s->ended && !s->duration_ms)
			continue;
		stage_names(names, sizeof(names), s->types);
		printf("  stage %u %-40s ended %6u  start %5llu ms  "
		       "took %5llu ms\n", i + 1, names, s->ended,
		       (unsigned long long)s->start_ms,
		       (unsigned long long)s->duration_ms);
	}
	printf("  ending %llu ms, TU removal %llu ms, total %llu ms\n",
	       (unsigned long long)r->ending_ms,
	       (unsigned long long)r->removal_ms,
	       (unsigned long long)r->total_ms);
}


static void finish_b(void)
{
	if (peer)
		return;
	/* B's own usages ended with A's (graceful) or linger (forced):
	 * a forced stop of B, bounded */
	(void)redum_dum_shutdown_force(B.dum);
	(void)sapp_finish(&B, WAIT_MS);
}


int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
	struct redum_shutdown_conf c;
	struct redum_stack_stats b0, b1;
	double mono0;
	int64_t t0, c0;
	bool ok;
	int rc = 0;

	if (argc > 2)
		t1_ms = (uint32_t)atoi(argv[2]);
	if (argc > 3) {
		/* an outside peer (tools/bench/shutdown/run starts
		 * redum-bench-memd): this process's CPU is then the
		 * shutting-down side's alone */
		peer = argv[3];
		snprintf(peer_uri, sizeof(peer_uri), "sip:peer@%s", peer);
		peer_port = (uint16_t)atoi(strrchr(peer, ':') ?
					   strrchr(peer, ':') + 1 : "0");
	}
	if (!n || n > 200000) {
		fprintf(stderr, "usage: redum-bench-shutdown [N [T1_MS [PEER_HOST:PORT]]]\n");
		return 2;
	}
	printf("redum-bench-shutdown: %u calls + %u client registrations + "
	       "%u client subscriptions, T1 %u ms\n", n, n, n, t1_ms);

	/* 1. graceful */
	if (!establish(n)) {
		printf("FAILED: could not establish every usage\n");
		return 1;
	}
	redum_shutdown_conf_init(&c);
	c.give_up_ms = GIVE_UP_MS;
	c.log = false;
	redum_stack_stats(peer ? A.stack : B.stack, &b0);
	mono0 = mono();
	t0 = tt_now();
	c0 = cpu_ms();
	(void)redum_dum_shutdown(A.dum, &c);
	ok = sapp_finish(&A, GIVE_UP_MS + 30000);
	if (getenv("BENCH_MONO"))   /* for perf record -k CLOCK_MONOTONIC */
		printf("monotonic: %.6f .. %.6f\n", mono0, mono());
	printf("graceful shutdown of %u usages: %lld ms wall (request to "
	       "on_dum_can_be_deleted), process CPU %lld ms\n",
	       A.rep.usages_at_start, (long long)(A.t_deleted - t0),
	       (long long)(cpu_ms() - c0));
	print_report(&A);
	if (!ok || !A.got_report || A.rep.nforced) {
		printf("FAILED: graceful shutdown %s (force-ended %u)\n",
		       ok ? "finished" : "hung", A.rep.nforced);
		rc = 1;
	}
	if (!peer) {
		struct redum_registrar_stats rs;

		(void)wait_ev(&B, REDUM_DUM_EV_TERMINATED, n, 5000);
		redum_stack_stats(B.stack, &b1);
		printf("  peer stack during it: datagrams read %llu, kernel "
		       "drops %llu, requests in %llu, responses out %llu, "
		       "503 %llu\n",
		       (unsigned long long)(b1.rx_dgrams - b0.rx_dgrams),
		       (unsigned long long)(b1.rx_drops - b0.rx_drops),
		       (unsigned long long)(sum(b1.req_in, REDUM_STACK_M_COUNT) -
					    sum(b0.req_in, REDUM_STACK_M_COUNT)),
		       (unsigned long long)(sum(b1.resp_out, 6) -
					    sum(b0.resp_out, 6)),
		       (unsigned long long)(b1.busy_503 - b0.busy_503));
		redum_registrar_stats(B.dum, &rs);
		printf("  peer: calls ended by BYE %u of %u, registrar "
		       "bindings left %llu\n",
		       sapp_n(&B, REDUM_DUM_EV_TERMINATED), n,
		       (unsigned long long)rs.bindings);
	}
	finish_b();

	/* 2. forced */
	if (!establish(n)) {
		printf("FAILED: could not establish every usage (2nd pair)\n");
		return 1;
	}
	t0 = tt_now();
	c0 = cpu_ms();
	(void)redum_dum_shutdown_force(A.dum);
	ok = sapp_finish(&A, WAIT_MS);
	printf("forced shutdown of %u usages: %lld ms wall, process CPU "
	       "%lld ms\n", A.rep.usages_at_start,
	       (long long)(A.t_deleted - t0), (long long)(cpu_ms() - c0));
	print_report(&A);
	if (!ok) {
		printf("FAILED: forced shutdown hung\n");
		rc = 1;
	}
	finish_b();

	return rc;
}
