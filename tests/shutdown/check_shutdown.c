/**
 * @file check_shutdown.c  Threaded shutdown checks as a plain executable
 *                         (they also run under TSan):
 *
 *   check_shutdown_stress cycles N   N start/call/shutdown cycles of two
 *                              instances; fds (/proc/self/fd), threads
 *                              (/proc/self/task) and heap (mallinfo2,
 *                              where the allocator reports it) must not
 *                              grow
 *   check_shutdown_stress stress N [seed]
 *                              N iterations: two instances, a random mix
 *                              of calls (answered, ringing, both ways), a
 *                              registration, subscriptions, publications,
 *                              MESSAGEs, OPTIONS; shutdown at a random moment
 *                              in a random mode from a random thread
 *   check_shutdown_stress mixed N    N calls + N registrations + N
 *                              subscriptions + N publications from A to B,
 *                              then A's graceful shutdown: none force-ended
 *   check_shutdown_stress mixed_server N   the same, but B (N server invite
 *                              sessions, N server subscriptions) shuts down
 *                              first: none force-ended
 *   check_shutdown_stress calls N    N calls established between two instances,
 *                              then a graceful shutdown of the caller:
 *                              prints the time it took (a figure, not an
 *                              assertion) and checks none was force-ended
 *
 * Every shutdown has a watchdog: give-up deadline + margin. Prints
 * "N passed, N failed" last; exits non-zero on a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include "shuttest.h"
#include "check.h"


/* MARGIN: a hang detector, not a speed bound: wide enough for a loaded
 * 2-core machine running sanitizer builds side by side */
enum { MARGIN = 10000, T = 5000 };

static struct sapp A, B;


static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			++n;
	closedir(d);

	return n;
}


static bool start_pair(bool a_answers, bool b_answers)
{
	int err;

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.auto_answer = a_answers;
	B.auto_answer = b_answers;
	B.registrar = true;
	B.notifier = true;

	err = sapp_start(&A);
	CHECK(!err, "start A: %d", err);
	if (err)
		return false;
	err = sapp_start(&B);
	CHECK(!err, "start B: %d", err);

	return !err;
}


struct shut_arg {
	struct redum_dum *dum;
	int mode;            /* 0 graceful, 1 if-no-usages, 2 force */
	uint32_t give_up_ms;
	int ret;
};


static int do_shutdown(struct shut_arg *s)
{
	struct redum_shutdown_conf c;

	switch (s->mode) {
	case 1:
		return redum_dum_shutdown_if_no_usages(s->dum, s->give_up_ms);
	case 2:
		return redum_dum_shutdown_force(s->dum);
	default:
		redum_shutdown_conf_init(&c);
		c.give_up_ms = s->give_up_ms;
		c.log = false;
		c.all_at_once = (rand() % 4) == 0;
		return redum_dum_shutdown(s->dum, &c);
	}
}


static void *foreign(void *arg)
{
	struct shut_arg *s = arg;

	s->ret = do_shutdown(s);
	return NULL;
}


/* Shuts @p a down in @p mode from this or a foreign thread; an if-no-
 * usages that is refused (EBUSY) is followed by a graceful one. */
static bool shut(struct sapp *a, int mode, uint32_t give_up_ms, bool thr)
{
	struct shut_arg s = {a->dum, mode, give_up_ms, -1};
	pthread_t t;
	bool ok;

	if (thr && !pthread_create(&t, NULL, foreign, &s))
		pthread_join(t, NULL);
	else
		s.ret = do_shutdown(&s);

	CHECK(s.ret == 0 || (mode == 1 && s.ret == EBUSY),
	      "shutdown mode %d: %d", mode, s.ret);
	if (s.ret == EBUSY) {
		s.mode = 0;
		s.ret = do_shutdown(&s);
		CHECK(s.ret == 0, "graceful after EBUSY: %d", s.ret);
	}

	/* a second request is refused; a force may escalate */
	if (rand() % 3 == 0) {
		int r = redum_dum_shutdown(a->dum, NULL);
		CHECK(r == EALREADY, "second shutdown: %d", r);
	}
	if (mode != 2 && rand() % 5 == 0) {
		give_up_ms = 0;
		CHECK(redum_dum_shutdown_force(a->dum) == 0, "escalate");
	}

	ok = sapp_finish(a, (int)(give_up_ms ? give_up_ms : 4000) + MARGIN);
	CHECK(ok, "shutdown (mode %d) done by deadline + margin", mode);
	CHECK(a->got_report, "final report");

	return ok;
}


static void call_some(unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		redum_dum_handle h;
		bool ab = rand() % 3 != 0;
		int err = ab ? sapp_call(&A, B.uri, &h) :
			sapp_call(&B, A.uri, &h);

		CHECK(!err, "call: %d", err);
	}
}


/* Subscriptions, publications, MESSAGEs and OPTIONS from A to B. */
static void other_usages(void)
{
	unsigned i, n = (unsigned)(rand() % 6);

	for (i = 0; i < n; i++) {
		struct redum_dum_req req;
		redum_dum_handle h;
		char from[80];
		int err;

		switch (rand() % 4) {
		case 0:
			err = sapp_subscribe(&A, B.uri, &h);
			break;
		case 1:
			err = sapp_publish(&A, B.uri, &h);
			break;
		case 2:
			err = sapp_message(&A, B.uri, &h);
			break;
		default:
			snprintf(from, sizeof(from), "sip:a@127.0.0.1:%u",
				 A.port);
			memset(&req, 0, sizeof(req));
			req.uri = B.uri;
			req.from = from;
			err = redum_dum_options(A.dum, &h, &req);
			break;
		}
		CHECK(!err, "usage %u: %d", i, err);
	}
}


static void cycles(unsigned n)
{
	unsigned fd0 = 0, th0 = 0, i;
	size_t heap0 = 0;

	for (i = 0; i < n; i++) {
		if (i == 3) {
			/* after warm-up: libre's and libc's one-time state */
			fd0 = count_dir("/proc/self/fd");
			th0 = count_dir("/proc/self/task");
			heap0 = mallinfo2().uordblks;
		}

		if (!start_pair(true, true))
			return;
		A.free_in_final = (i % 2) == 1;
		call_some(1);
		(void)sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, 1, T);
		(void)shut(&A, (int)(i % 3), 2000, i % 4 == 0);
		/* after a forced A, B's BYE is never answered: bounded by
		 * a short give-up */
		(void)shut(&B, 0, 300, false);
	}

	if (n > 3) {
		unsigned fd1, th1;
		size_t heap1;
		int64_t end = tt_now() + 2000;

		/* detached helper threads of deferred frees end by now */
		do {
			usleep(10000);
			th1 = count_dir("/proc/self/task");
		} while (th1 > th0 && tt_now() < end);
		fd1 = count_dir("/proc/self/fd");
		heap1 = mallinfo2().uordblks;

		printf("cycles %u: fds %u -> %u, threads %u -> %u, heap %zu "
		       "-> %zu bytes\n", n, fd0, fd1, th0, th1, heap0, heap1);
		CHECK(fd1 <= fd0, "fds grew: %u -> %u", fd0, fd1);
		CHECK(th1 <= th0, "threads grew: %u -> %u", th0, th1);
		/* tolerance: 256 KiB for allocator and libre pools */
		CHECK(heap0 == 0 || heap1 <= heap0 + 256 * 1024,
		      "heap grew: %zu -> %zu", heap0, heap1);
	}
}


static void stress(unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		redum_dum_handle hr;
		char aor[80];
		int mode = rand() % 3;
		uint32_t give_up = 300 + (uint32_t)(rand() % 1500);

		if (!start_pair(rand() % 4 != 0, rand() % 4 != 0))
			return;
		A.free_in_final = rand() % 2;

		if (rand() % 2) {
			snprintf(aor, sizeof(aor), "sip:a@127.0.0.1:%u",
				 B.port);
			CHECK(sapp_register(&A, B.uri, aor, &hr) == 0,
			      "register");
		}

		call_some((unsigned)(rand() % 20));
		other_usages();
		sapp_pump(rand() % 200);

		(void)shut(rand() % 2 ? &A : &B, mode, give_up, rand() % 2);
		(void)shut(A.stack ? &A : &B, rand() % 3, give_up,
			   rand() % 2);
	}
}


/* A's shutdown figures (printed, never asserted): from the request at
 * @p t0 to can-be-deleted, and the report's stages. */
static void print_shutdown(const char *what, unsigned n, int64_t t0)
{
	printf("shutdown of %u %s: %lld ms (report: total %llu ms, "
	       "ending %llu ms, removal %llu ms)\n", n, what,
	       (long long)(A.t_deleted - t0),
	       (unsigned long long)A.rep.total_ms,
	       (unsigned long long)A.rep.ending_ms,
	       (unsigned long long)A.rep.removal_ms);
}


/* B got the BYEs of A's @p n calls; then B ends too. */
static void b_saw_byes_then_ends(unsigned n)
{
	CHECK(sapp_wait_n(&B, REDUM_DUM_EV_TERMINATED, n, 20000),
	      "B saw %u BYEs of %u", sapp_n(&B, REDUM_DUM_EV_TERMINATED), n);
	(void)shut(&B, 1, 2000, false);
}


static void calls(unsigned n)
{
	struct redum_shutdown_conf c;
	unsigned i, batch = 100;
	int64_t t0, t1;
	bool ok;

	if (!start_pair(true, true))
		return;

	t0 = tt_now();
	for (i = 0; i < n; i += batch) {
		unsigned j, k = n - i < batch ? n - i : batch;

		for (j = 0; j < k; j++) {
			redum_dum_handle h;
			CHECK(sapp_call(&A, B.uri, &h) == 0, "call");
		}
		(void)sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, i + k, 30000);
	}
	t1 = tt_now();
	CHECK(sapp_n(&A, REDUM_DUM_EV_CONNECTED) == n, "connected %u of %u",
	      sapp_n(&A, REDUM_DUM_EV_CONNECTED), n);
	printf("calls %u established in %lld ms\n", n, (long long)(t1 - t0));

	redum_shutdown_conf_init(&c);
	c.give_up_ms = 20000;
	t0 = tt_now();
	CHECK(redum_dum_shutdown(A.dum, &c) == 0, "shutdown");
	ok = sapp_finish(&A, 20000 + MARGIN);
	CHECK(ok, "shutdown of %u calls done by deadline + margin", n);
	CHECK(A.rep.nforced == 0, "force-ended: %u", A.rep.nforced);
	print_shutdown("calls", n, t0);
	b_saw_byes_then_ends(n);
}


/* N usages of each client type at once (calls, registrations,
 * subscriptions, publications, from A to B), then one graceful shutdown of
 * A that must end all of them in order, none force-ended. */
static void mixed(unsigned n, bool server_first)
{
	struct redum_shutdown_conf c;
	unsigned i;
	int64_t t0, t1;
	bool ok;

	if (!start_pair(true, true))
		return;

	t0 = tt_now();
	for (i = 0; i < n; i++) {
		redum_dum_handle h;
		char aor[80];

		CHECK(sapp_call(&A, B.uri, &h) == 0, "call %u", i);
		snprintf(aor, sizeof(aor), "sip:u%u@127.0.0.1:%u", i, B.port);
		CHECK(sapp_register(&A, B.uri, aor, &h) == 0, "register %u",
		      i);
		CHECK(sapp_subscribe(&A, B.uri, &h) == 0, "subscribe %u", i);
		CHECK(sapp_publish(&A, B.uri, &h) == 0, "publish %u", i);
		if (i % 100 == 99)   /* keep the FIFOs and peers in step */
			(void)sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, i + 1,
				      30000);
	}
	ok = sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, n, 30000) &&
		sapp_wait_n(&A, REDUM_DUM_EV_REGISTERED, n, 30000) &&
		sapp_wait_n(&A, REDUM_DUM_EV_SUB_UPDATE, n, 30000) &&
		sapp_wait_n(&A, REDUM_DUM_EV_PUB_SUCCESS, n, 30000);
	t1 = tt_now();
	CHECK(ok, "established: calls %u, registrations %u, subscriptions %u, "
	      "publications %u of %u each",
	      sapp_n(&A, REDUM_DUM_EV_CONNECTED),
	      sapp_n(&A, REDUM_DUM_EV_REGISTERED),
	      sapp_n(&A, REDUM_DUM_EV_SUB_UPDATE),
	      sapp_n(&A, REDUM_DUM_EV_PUB_SUCCESS), n);
	printf("mixed %u x 4 usages established in %lld ms\n", n,
	       (long long)(t1 - t0));

	if (server_first) {
		/* B holds N server invite sessions and N server
		 * subscriptions: it ends them all (BYE, NOTIFY terminated),
		 * none force-ended; A's calls and subscriptions end with it */
		redum_shutdown_conf_init(&c);
		c.give_up_ms = 30000;
		c.log = false;
		t0 = tt_now();
		CHECK(redum_dum_shutdown(B.dum, &c) == 0, "shutdown B");
		ok = sapp_finish(&B, 30000 + MARGIN);
		CHECK(ok, "shutdown of B done by deadline + margin");
		CHECK(B.rep.nforced == 0, "B force-ended: %u", B.rep.nforced);
		CHECK(B.rep.usages_at_start >= 2 * n,
		      "B usages at start %u < %u", B.rep.usages_at_start,
		      2 * n);
		printf("server side: shutdown of %u usages: %lld ms\n",
		       B.rep.usages_at_start, (long long)(B.t_deleted - t0));
		CHECK(sapp_wait_n(&A, REDUM_DUM_EV_TERMINATED, n, 20000),
		      "A saw %u of %u calls end",
		      sapp_n(&A, REDUM_DUM_EV_TERMINATED), n);
		CHECK(sapp_wait_n(&A, REDUM_DUM_EV_SUB_TERMINATED, n, 20000),
		      "A saw %u of %u subscriptions end",
		      sapp_n(&A, REDUM_DUM_EV_SUB_TERMINATED), n);
		/* A's registrations and publications now have no peer:
		 * bounded by a short give-up, not checked further */
		(void)shut(&A, 0, 500, false);
		return;
	}

	redum_shutdown_conf_init(&c);
	c.give_up_ms = 30000;
	c.log = false;
	t0 = tt_now();
	CHECK(redum_dum_shutdown(A.dum, &c) == 0, "shutdown");
	ok = sapp_finish(&A, 30000 + MARGIN);
	CHECK(ok, "shutdown of %u x 4 usages done by deadline + margin", n);
	CHECK(A.rep.nforced == 0, "force-ended: %u", A.rep.nforced);
	CHECK(A.rep.usages_at_start >= 4 * n, "usages at start %u < %u",
	      A.rep.usages_at_start, 4 * n);
	print_shutdown("x 4 usages", n, t0);
	b_saw_byes_then_ends(n);
}


int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "stress";
	unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 5;
	unsigned seed = argc > 3 ? (unsigned)atoi(argv[3]) :
		(unsigned)time(NULL);

	srand(seed);
	printf("check_shutdown %s %u (seed %u)\n", what, n, seed);

	if (!strcmp(what, "cycles"))
		cycles(n);
	else if (!strcmp(what, "calls"))
		calls(n);
	else if (!strcmp(what, "mixed"))
		mixed(n, false);
	else if (!strcmp(what, "mixed_server"))
		mixed(n, true);
	else
		stress(n);

	return rtest_check_report();
}
