/**
 * @file test_shutdown_sipp.c  The staged shutdown over real sockets, with
 *                             SIPp peers (scenarios/) and a second redum
 *                             instance: deadlines, in-flight INVITEs,
 *                             repeated and escalated calls, calls from
 *                             any thread and from a handler, if-no-usages,
 *                             the stage order on the wire.
 *
 * Every wait has a watchdog (sapp_finish's timeout = the shutdown's
 * deadline + a margin): a shutdown that does not end fails the test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "shuttest.h"

#ifndef SHUT_SCEN_DIR
#define SHUT_SCEN_DIR "."
#endif

/* MARGIN: a hang detector on a loaded machine; still far below the 32 s
 * a transaction timeout would take, so a deadline that does not bound the
 * shutdown is caught */
enum { T = 5000, MARGIN = 6000 };

static struct sapp A, B;

static void setup(void)
{
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
}

static void teardown(void)
{
	if (A.stack)
		(void)sapp_finish(&A, 10000);
	if (B.stack)
		(void)sapp_finish(&B, 10000);
}

TestSuite(shutdown, .init = setup, .fini = teardown, .timeout = 120);


static const char *scen(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", SHUT_SCEN_DIR, name);
	return buf;
}


/* SIPp as UAS on a free port; *urip receives its URI. */
static pid_t sipp_uas(const char *name, char *uri, size_t sz)
{
	uint16_t port = tt_free_port();

	snprintf(uri, sz, "sip:sipp@127.0.0.1:%u", port);
	return tt_sipp_spawn(scen(name), NULL, port, "-timeout", "8s",
			     NULL);
}


static struct redum_shutdown_conf conf_ms(uint32_t give_up_ms)
{
	struct redum_shutdown_conf c;

	redum_shutdown_conf_init(&c);
	c.give_up_ms = give_up_ms;
	return c;
}


static bool is_ending(struct sapp *a, void *arg)
{
	struct redum_shutdown_progress *p = arg;

	return redum_dum_shutdown_progress(a->dum, p) == 0 &&
		p->phase == REDUM_SHUTDOWN_ENDING && p->stage > 0;
}


/* SIPp as UAS with a bounded run and its messages traced to @p trace. */
static pid_t sipp_uas_traced(const char *name, char *uri, size_t sz,
			     const char *trace)
{
	uint16_t port = tt_free_port();

	snprintf(uri, sz, "sip:sipp@127.0.0.1:%u", port);
	(void)unlink(trace);
	return tt_sipp_spawn(scen(name), NULL, port, "-timeout", "8s",
			     "-trace_msg", "-message_file", trace, NULL);
}


/* A call from A to SIPp running @p name, connected. */
static pid_t connected_call(const char *name, redum_dum_handle *hp)
{
	char uri[64];
	pid_t pid;

	pid = sipp_uas(name, uri, sizeof(uri));
	cr_assert(pid > 0);
	usleep(200000);    /* SIPp binds its port */
	cr_assert_eq(sapp_call(&A, uri, hp), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, 1, T),
		  "call not connected");
	return pid;
}


static int reporth_calls;
static bool reporth_before_final;
static uint32_t reporth_nforced;

static void reporth(struct redum_dum *dum,
		    const struct redum_shutdown_report *r, void *arg)
{
	struct sapp *a = arg;
	(void)dum;

	++reporth_calls;
	reporth_before_final = !atomic_load(&a->deleted);
	reporth_nforced = r->nforced;
}


Test(shutdown, silent_bye_peer_force_ended_at_deadline)
{
	struct redum_shutdown_conf c = conf_ms(1000);
	struct redum_shutdown_progress p;
	redum_dum_handle h;
	pid_t pid;
	int64_t t0;
	char txt[4096];

	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_silent_bye.xml", &h);

	c.reporth = reporth;
	c.arg = &A;
	t0 = tt_now();
	cr_assert_eq(redum_dum_shutdown(A.dum, &c), 0);

	/* the progress snapshot names the call and what it waits for */
	cr_assert(sapp_wait(is_ending, &A, &p, T));
	sapp_pump(100);
	cr_assert_eq(redum_dum_shutdown_progress(A.dum, &p), 0);
	(void)re_snprintf(txt, sizeof(txt), "%H",
			  redum_shutdown_progress_print, &p);
	cr_log_info("progress:\n%s", txt);
	cr_assert_eq(p.phase, REDUM_SHUTDOWN_ENDING);
	cr_assert_eq(p.stage, 3, "stage %u (client invites)", p.stage);
	cr_assert_eq(p.oldest.h, h);
	cr_assert_eq(p.nwaiting, 1);
	cr_assert_eq(p.waiting[0].h, h);
	cr_assert(strstr(p.waiting[0].waiting_for, "BYE"), "%s",
		  p.waiting[0].waiting_for);

	cr_assert(sapp_finish(&A, 1000 + MARGIN), "not done by deadline");
	cr_assert(A.got_report);
	cr_log_info("report:\n%s", A.report_text);
	cr_assert(A.t_deleted - t0 >= 900, "ended before the deadline");
	cr_assert(A.rep.deadline_hit);
	cr_assert_eq(A.rep.nforced, 1);
	cr_assert_eq(A.forced[0].h, h);
	cr_assert_eq(A.forced[0].type, REDUM_USAGE_INVITE_CLIENT);
	cr_assert_str_eq(A.forced[0].state_name, "terminating");
	cr_assert(strstr(A.forced[0].waiting_for, "BYE"));
	/* the report handler ran once, before on_dum_can_be_deleted */
	cr_assert_eq(reporth_calls, 1);
	cr_assert(reporth_before_final);
	cr_assert_eq(reporth_nforced, 1);
	/* the application was told: TERMINATED, reason shutdown */
	cr_assert_eq(sapp_n(&A, REDUM_DUM_EV_TERMINATED), 1);
	(void)sapp_sipp_wait(pid, 10000);
}


Test(shutdown, answered_call_bye_then_done)
{
	redum_dum_handle h;
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_answer_bye.xml", &h);
	cr_assert_eq(redum_dum_stop(A.dum), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert(A.got_report);
	cr_assert_eq(A.rep.nforced, 0, "%s", A.report_text);
	cr_assert(!A.rep.deadline_hit);
	cr_assert_eq(A.rep.usages_at_start, 1);
	cr_assert_eq(A.rep.stages[2].ended, 1, "%s", A.report_text);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0, "SIPp saw a wrong flow");
}


Test(shutdown, inflight_invite_before_200_cancelled)
{
	char uri[64];
	redum_dum_handle h;
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	pid = sipp_uas("uas_ringing_cancel.xml", uri, sizeof(uri));
	usleep(200000);
	cr_assert_eq(sapp_call(&A, uri, &h), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_PROVISIONAL, 1, T));
	cr_assert_eq(redum_dum_stop(A.dum), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert_eq(A.rep.nforced, 0, "%s", A.report_text);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0, "SIPp: no CANCEL?");
}


Test(shutdown, inflight_invite_at_uas_487)
{
	char target[32];
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%u", A.port);
	pid = tt_sipp_spawn(scen("uac_unanswered.xml"), target,
			    tt_free_port(), NULL);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_NEW, 1, T), "no INVITE");
	cr_assert_eq(redum_dum_stop(A.dum), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert_eq(A.rep.nforced, 0, "%s", A.report_text);
	cr_assert_eq(A.rep.stages[0].ended, 1, "%s", A.report_text);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0, "SIPp: no 487?");
}


Test(shutdown, second_call_ealready_and_force_escalates)
{
	struct redum_shutdown_conf c = conf_ms(0);   /* wait forever */
	redum_dum_handle h;
	pid_t pid;
	int64_t t0;

	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_silent_bye.xml", &h);

	cr_assert_eq(redum_dum_shutdown(A.dum, &c), 0);
	cr_assert_eq(redum_dum_shutdown(A.dum, &c), EALREADY);
	cr_assert_eq(redum_dum_stop(A.dum), EALREADY);
	cr_assert_eq(redum_dum_shutdown_if_no_usages(A.dum, 0), EALREADY);

	/* the peer never answers: without a deadline only force ends it */
	{
		struct redum_shutdown_progress p;

		cr_assert(sapp_wait(is_ending, &A, &p, T));
	}
	sapp_pump(500);
	cr_assert(!atomic_load(&A.deleted));
	t0 = tt_now();
	cr_assert_eq(redum_dum_shutdown_force(A.dum), 0);
	cr_assert_eq(redum_dum_shutdown_force(A.dum), EALREADY);
	cr_assert(sapp_finish(&A, MARGIN), "force did not end it");
	cr_log_info("force took %lld ms\n%s", (long long)(A.t_deleted - t0),
		    A.report_text);
	cr_assert(A.rep.escalated);
	cr_assert_eq(A.rep.mode, REDUM_SHUTDOWN_GRACEFUL);
	cr_assert_eq(A.rep.nforced, 1);
	cr_assert_eq(A.forced[0].h, h);
	(void)sapp_sipp_wait(pid, 10000);
}


Test(shutdown, force_sends_nothing_frees_all)
{
	char uri[64], trace[128], line[512];
	redum_dum_handle h;
	unsigned byes = 0, invites = 0;
	FILE *f;
	pid_t pid;

	snprintf(trace, sizeof(trace), "/tmp/redum-shut-force-%d.log",
		 (int)getpid());
	cr_assert_eq(sapp_start(&A), 0);
	pid = sipp_uas_traced("uas_silent_bye.xml", uri, sizeof(uri), trace);
	cr_assert(pid > 0);
	usleep(200000);
	cr_assert_eq(sapp_call(&A, uri, &h), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, 1, T));

	cr_assert_eq(redum_dum_shutdown_force(A.dum), 0);
	cr_assert_eq(redum_dum_shutdown(A.dum, NULL), EALREADY);
	cr_assert(sapp_finish(&A, MARGIN));
	cr_assert_eq(A.rep.mode, REDUM_SHUTDOWN_FORCED);
	cr_assert(!A.rep.escalated);
	cr_assert_eq(A.rep.nforced, 1);
	cr_assert_str_eq(A.forced[0].state_name, "connected");
	cr_assert_eq(sapp_n(&A, REDUM_DUM_EV_TERMINATED), 1);

	/* SIPp's trace: the INVITE came, no BYE ever did */
	(void)sapp_sipp_wait(pid, 15000);
	f = fopen(trace, "r");
	cr_assert(f, "no SIPp trace");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "BYE ", 4))
			++byes;
		if (!strncmp(line, "INVITE ", 7))
			++invites;
	}
	fclose(f);
	(void)unlink(trace);
	cr_assert_eq(invites, 1, "trace format?");
	cr_assert_eq(byes, 0, "a BYE was sent after a forced shutdown");
}


Test(shutdown, if_no_usages_with_and_without)
{
	redum_dum_handle h;
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_answer_bye.xml", &h);

	cr_assert_eq(redum_dum_shutdown_if_no_usages(A.dum, 1000), EBUSY);
	/* nothing changed: the call is still up and DUM still takes work */
	sapp_pump(200);
	cr_assert(!atomic_load(&A.deleted));
	cr_assert_eq(sapp_n(&A, REDUM_DUM_EV_TERMINATED), 0);
	cr_assert_eq(redum_invite_end(A.dum, h), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_TERMINATED, 1, T));
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0);

	cr_assert_eq(redum_dum_shutdown_if_no_usages(A.dum, 1000), 0);
	cr_assert_eq(redum_dum_shutdown_if_no_usages(A.dum, 1000), EALREADY);
	cr_assert(sapp_finish(&A, 1000 + MARGIN));
	cr_assert_eq(A.rep.mode, REDUM_SHUTDOWN_IF_NO_USAGES);
	cr_assert_eq(A.rep.usages_at_start, 0);
	cr_assert_eq(A.rep.nforced, 0);
}


static void *foreign(void *arg)
{
	struct sapp *a = arg;
	return (void *)(intptr_t)redum_dum_shutdown(a->dum, NULL);
}


Test(shutdown, from_a_foreign_thread)
{
	redum_dum_handle h;
	pthread_t t;
	void *ret;
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_answer_bye.xml", &h);
	cr_assert_eq(pthread_create(&t, NULL, foreign, &A), 0);
	pthread_join(t, &ret);
	cr_assert_eq((intptr_t)ret, 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert_eq(A.rep.nforced, 0);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0);
}


static int hook_ret = -1;

/* Shuts down from inside the CONNECTED handler, then makes a call there:
 * it must complete with an error, never silently. */
static void shut_in_handler(struct sapp *a, const struct redum_dum_event *ev)
{
	redum_dum_handle h;

	if (ev->type != REDUM_DUM_EV_CONNECTED)
		return;
	hook_ret = redum_dum_shutdown(a->dum, NULL);
	(void)sapp_call(a, "sip:nobody@127.0.0.1:9", &h);
}


Test(shutdown, from_inside_a_handler_and_free_in_final)
{
	redum_dum_handle h;
	pid_t pid;

	A.hook = shut_in_handler;
	A.free_in_final = true;
	cr_assert_eq(sapp_start(&A), 0);
	pid = connected_call("uas_answer_bye.xml", &h);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert_eq(hook_ret, 0);
	cr_assert(A.freed);
	cr_assert_eq(A.err_shutdown, 1, "the call after the shutdown: %u",
		     A.err_shutdown);
	cr_assert_eq(A.rep.commands_refused, 1, "%s", A.report_text);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0);
	usleep(100000);    /* the deferred free's helper thread ends */
}


Test(shutdown, commands_after_the_end_fail_at_once)
{
	redum_dum_handle h;

	cr_assert_eq(sapp_start(&A), 0);
	cr_assert_eq(redum_dum_shutdown(A.dum, NULL), 0);
	{
		int64_t end = tt_now() + T;

		while (!atomic_load(&A.deleted) && tt_now() < end)
			sapp_pump(5);
	}
	cr_assert(atomic_load(&A.deleted));
	cr_assert_eq(sapp_call(&A, "sip:x@127.0.0.1:9", &h), EPIPE);
	cr_assert_eq(redum_invite_end(A.dum, 1), EPIPE);
	cr_assert(sapp_finish(&A, T));
}


/* The order on the wire, between two instances: A has a call from B
 * (invite-server), two calls to B (invite-client) and a registration
 * with B (B is a registrar). A's default order: B receives the BYE of
 * A's server session before those of A's client sessions, and A's
 * un-REGISTER goes out only after every BYE was answered. */
Test(shutdown, order_server_calls_client_calls_registration)
{
	redum_dum_handle h1, h2, hb, hr;
	char aor[80];
	unsigned i, last_term = 0, unreg = 0, b_srv_last = 0, b_cli_first = 0;

	A.auto_answer = true;
	B.auto_answer = true;
	B.registrar = true;
	cr_assert_eq(sapp_start(&A), 0);
	cr_assert_eq(sapp_start(&B), 0);

	snprintf(aor, sizeof(aor), "sip:alice@127.0.0.1:%u", B.port);
	cr_assert_eq(sapp_register(&A, B.uri, aor, &hr), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_REGISTERED, 1, T));

	cr_assert_eq(sapp_call(&A, B.uri, &h1), 0);
	cr_assert_eq(sapp_call(&A, B.uri, &h2), 0);
	cr_assert_eq(sapp_call(&B, A.uri, &hb), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, 3, T));
	cr_assert(sapp_wait_n(&B, REDUM_DUM_EV_CONNECTED, 3, T));

	A.nseq = 0;
	B.nseq = 0;
	cr_assert_eq(redum_dum_shutdown(A.dum, NULL), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_log_info("A:\n%s", A.report_text);
	cr_assert_eq(A.rep.nforced, 0);

	for (i = 0; i < A.nseq; i++) {
		if (A.seq[i].type == REDUM_DUM_EV_TERMINATED)
			last_term = i + 1;
		if (A.seq[i].type == REDUM_DUM_EV_UNREGISTERED && !unreg)
			unreg = i + 1;
	}
	cr_assert(unreg, "no UNREGISTERED");
	cr_assert(last_term && last_term < unreg,
		  "un-REGISTER before the last BYE was answered");

	/* B saw the BYEs in A's order: its own call (A's server session)
	 * first */
	cr_assert(sapp_wait_n(&B, REDUM_DUM_EV_TERMINATED, 3, T));
	for (i = 0; i < B.nseq; i++) {
		if (B.seq[i].type != REDUM_DUM_EV_TERMINATED)
			continue;
		if (B.seq[i].usage == REDUM_USAGE_INVITE_CLIENT)
			b_srv_last = i + 1;
		else if (!b_cli_first)
			b_cli_first = i + 1;
	}
	cr_assert(b_srv_last && b_cli_first && b_srv_last < b_cli_first,
		  "A's client BYE reached B before its server BYE");
	/* the binding is gone at the registrar */
	cr_assert_eq(redum_registrar_lookup(B.dum, &hr, aor), 0);
	cr_assert(sapp_wait_n(&B, REDUM_DUM_EV_REG_BINDINGS, 1, T));
	cr_assert_eq(B.last_bindingc, 0, "the binding outlived A");
	cr_assert(sapp_finish(&B, T));
}


/* Shutdown after our 200 and before the peer's ACK: the BYE waits for the
 * ACK (SIPp fails the call on a BYE before its ACK). */
Test(shutdown, inflight_invite_after_200_bye_after_ack)
{
	char target[32];
	pid_t pid;

	A.auto_answer = true;
	cr_assert_eq(sapp_start(&A), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%u", A.port);
	pid = tt_sipp_spawn(scen("uac_late_ack.xml"), target,
			    tt_free_port(), NULL);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_NEW, 1, T), "no INVITE");
	sapp_pump(200);       /* our 200 is out; the ACK comes after 1 s */
	cr_assert_eq(sapp_n(&A, REDUM_DUM_EV_CONNECTED), 0);
	cr_assert_eq(redum_dum_stop(A.dum), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_assert_eq(A.rep.nforced, 0, "%s", A.report_text);
	cr_assert_eq(sapp_sipp_wait(pid, 10000), 0, "BYE before the ACK?");
}


/* A registrar that never answers the un-REGISTER: the registration is
 * force-ended at the deadline and named in the report. */
Test(shutdown, silent_registrar_force_ended_at_deadline)
{
	struct redum_shutdown_conf c = conf_ms(1000);
	redum_dum_handle hr;
	char uri[64], aor[80];
	uint16_t port = tt_free_port();
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u", port);
	snprintf(aor, sizeof(aor), "sip:alice@127.0.0.1:%u", port);
	pid = tt_sipp_spawn(scen("reg_uas_silent_unreg.xml"), NULL, port,
			    "-timeout", "8s", NULL);
	usleep(200000);
	cr_assert_eq(sapp_register(&A, uri, aor, &hr), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_REGISTERED, 1, T));

	cr_assert_eq(redum_dum_shutdown(A.dum, &c), 0);
	cr_assert(sapp_finish(&A, 1000 + MARGIN));
	cr_log_info("%s", A.report_text);
	cr_assert(A.rep.deadline_hit);
	cr_assert_eq(A.rep.nforced, 1);
	cr_assert_eq(A.forced[0].h, hr);
	cr_assert_eq(A.forced[0].type, REDUM_USAGE_REGISTRATION_CLIENT);
	cr_assert(strstr(A.forced[0].waiting_for, "REGISTER"), "%s",
		  A.forced[0].waiting_for);
	/* stages 1..6 were empty and passed at once; 7 held it */
	cr_assert(A.rep.stages[6].reached);
	cr_assert_eq(A.rep.stages[6].ended, 1);
	(void)sapp_sipp_wait(pid, 10000);
}


/* A notifier that never answers the unsubscribe nor sends the final
 * NOTIFY: the subscription is force-ended at the deadline, named. */
Test(shutdown, silent_notifier_force_ended_at_deadline)
{
	struct redum_shutdown_conf c = conf_ms(1000);
	struct redum_sub_req req;
	redum_dum_handle h;
	char uri[64], from[80];
	pid_t pid;

	cr_assert_eq(sapp_start(&A), 0);
	pid = sipp_uas("sub_uas_silent_unsub.xml", uri, sizeof(uri));
	usleep(300000);
	snprintf(from, sizeof(from), "sip:watcher@127.0.0.1:%u", A.port);
	memset(&req, 0, sizeof(req));
	req.uri = uri;
	req.from = from;
	req.event = "presence";
	req.expires = 60;
	cr_assert_eq(redum_sub_subscribe(A.dum, &h, &req), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_SUB_UPDATE, 1, T), "no NOTIFY");

	cr_assert_eq(redum_dum_shutdown(A.dum, &c), 0);
	cr_assert(sapp_finish(&A, 1000 + MARGIN));
	cr_log_info("%s", A.report_text);
	cr_assert(A.rep.deadline_hit);
	cr_assert_eq(A.rep.nforced, 1);
	cr_assert_eq(A.forced[0].h, h);
	cr_assert_eq(A.forced[0].type, REDUM_USAGE_SUBSCRIPTION_CLIENT);
	cr_assert(A.rep.stages[3].reached && A.rep.stages[3].ended == 1);
	cr_assert(!A.rep.stages[4].reached, "stage 5 reached");
	(void)sapp_sipp_wait(pid, 10000);
}


static unsigned first_of(const struct sapp *a, enum redum_dum_ev_type t)
{
	unsigned i;

	for (i = 0; i < a->nseq; i++)
		if (a->seq[i].type == t)
			return i + 1;
	return 0;
}


static unsigned last_of(const struct sapp *a, enum redum_dum_ev_type t)
{
	unsigned i, n = 0;

	for (i = 0; i < a->nseq; i++)
		if (a->seq[i].type == t)
			n = i + 1;
	return n;
}


/* The whole default order at A: calls (BYE answered), then the
 * subscription (unsubscribed), then the publication (removed), then the
 * registration (un-REGISTER answered) — each stage only after the one
 * before it finished, as A's events show. */
Test(shutdown, order_with_subscription_publication_registration)
{
	redum_dum_handle h, hs, hp, hr;
	char aor[80];
	unsigned term, subt, pubr, unreg;

	A.auto_answer = true;
	B.auto_answer = true;
	B.registrar = true;
	B.notifier = true;
	cr_assert_eq(sapp_start(&A), 0);
	cr_assert_eq(sapp_start(&B), 0);

	snprintf(aor, sizeof(aor), "sip:alice@127.0.0.1:%u", B.port);
	cr_assert_eq(sapp_register(&A, B.uri, aor, &hr), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_REGISTERED, 1, T));
	cr_assert_eq(sapp_publish(&A, B.uri, &hp), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_PUB_SUCCESS, 1, T));
	cr_assert_eq(sapp_subscribe(&A, B.uri, &hs), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_SUB_UPDATE, 1, T));
	cr_assert_eq(sapp_call(&A, B.uri, &h), 0);
	cr_assert(sapp_wait_n(&A, REDUM_DUM_EV_CONNECTED, 1, T));

	A.nseq = 0;
	cr_assert_eq(redum_dum_shutdown(A.dum, NULL), 0);
	cr_assert(sapp_finish(&A, 4000 + MARGIN));
	cr_log_info("A:\n%s", A.report_text);
	cr_assert_eq(A.rep.nforced, 0);

	term  = last_of(&A, REDUM_DUM_EV_TERMINATED);
	subt  = first_of(&A, REDUM_DUM_EV_SUB_TERMINATED);
	pubr  = first_of(&A, REDUM_DUM_EV_PUB_REMOVED);
	unreg = first_of(&A, REDUM_DUM_EV_UNREGISTERED);
	cr_assert(term && subt && pubr && unreg,
		  "events: term %u sub %u pub %u unreg %u", term, subt, pubr,
		  unreg);
	cr_assert(term < subt && subt < pubr && pubr < unreg,
		  "order: term %u sub %u pub %u unreg %u", term, subt, pubr,
		  unreg);
	cr_assert(sapp_finish(&B, T));
}
