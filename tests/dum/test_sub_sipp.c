/**
 * @file test_sub_sipp.c  Subscriptions, publications and pager against SIPp
 *                        on loopback, both sides:
 *   client (SIPp notifies): NOTIFY/refresh/unsubscribe; a notifier that
 *   never answers the unsubscribe nor sends the final NOTIFY (our bounded
 *   wait ends it), also when DUM stops; NOTIFY before the 200; 481 to a
 *   refresh; a forked NOTIFY (481, the subscription undisturbed);
 *   server (SIPp subscribes): expiry without refresh; refresh and
 *   unsubscribe;
 *   publication client: refresh, 412 -> re-publish, remove;
 *   publication store: 412 for a wrong ETag, 489 for an unknown event;
 *   pager: MESSAGE to redum and from redum.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"
#include "test_sub_app.h"

enum { T = 8000, SIPP_WAIT = 25000 };

static struct sapp A;
static char sipp_uri[96];

TestSuite(sub_client, .timeout = 90);
TestSuite(sub_server, .timeout = 90);
TestSuite(pub_server, .timeout = 90);
TestSuite(pager_sipp, .timeout = 90);


static void client_start(uint32_t unsub_wait_ms)
{
	struct redum_sub_conf sc;

	redum_sub_conf_init(&sc);
	sc.unsub_wait_ms = unsub_wait_ms;
	sc.notify_wait_ms = 3000;
	cr_assert_eq(sapp_start(&A, 100, &sc, false), 0);
}


/* SIPp as the UAS of @p scen; returns its pid, sipp_uri set */
static pid_t sipp_uas(const char *scen)
{
	pid_t pid = tt_sipp_uas(tt_scen(scen), "bob", sipp_uri,
				sizeof(sipp_uri), NULL);

	cr_assert(pid > 0);
	return pid;
}


/* The end of a test: SIPp's scenario passed, DUM stopped in time. */
static void finish(pid_t pid)
{
	cr_expect_eq(sapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_expect(sapp_stop(&A, 10000));
}


static redum_dum_handle subscribe(uint32_t expires)
{
	struct redum_sub_req req;
	redum_dum_handle h = 0;

	sapp_req(&A, sipp_uri, "presence", expires, &req);
	cr_assert_eq(redum_sub_subscribe(A.dum, &h, &req), 0);
	cr_assert(h);
	return h;
}


Test(sub_client, notify_refresh_unsubscribe)
{
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("sub_uas_basic.xml");
	h = subscribe(2);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no first NOTIFY");
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->state, "active");
	cr_expect(!strncmp(t->body, "open", 4), "body '%s'", t->body);

	/* the refresh (after 1 s) brings the second NOTIFY */
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY after the refresh");
	cr_expect(!strncmp(t->body, "closed", 6), "body '%s'", t->body);

	cr_assert_eq(redum_sub_unsubscribe(A.dum, h), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect(!t->timed_out, "ended by the NOTIFY, not the timer");
	cr_expect_str_eq(t->reason, "timeout");

	finish(pid);
}


Test(sub_client, notifier_never_answers_unsubscribe)
{
	struct redum_sub_stats st;
	const struct sev *t;
	redum_dum_handle h;
	int64_t t0;
	pid_t pid;

	client_start(1000);    /* instead of 32 s */
	pid = sipp_uas("sub_uas_nounsub.xml");
	h = subscribe(60);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY");

	t0 = tt_now();
	cr_assert_eq(redum_sub_unsubscribe(A.dum, h), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t, "the unsubscribe hung");
	cr_expect_eq(t->h, h);
	cr_expect(t->timed_out, "must say it timed out");
	cr_expect_eq(t->err, ETIMEDOUT);
	cr_expect_str_eq(t->reason, "local-timeout");
	fprintf(stderr, "unsubscribe ended by timer after %lld ms\n",
		(long long)(tt_now() - t0));

	redum_sub_stats(A.dum, &st);
	cr_expect_eq(st.sub_timeouts, 1);

	finish(pid);
}


Test(sub_client, notify_before_200)
{
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("sub_uas_early.xml");
	h = subscribe(60);

	/* the early NOTIFY is taken (200, checked by SIPp) and makes the
	 * dialog; the one after the 200 comes in it */
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no early NOTIFY");
	cr_expect_eq(t->h, h);
	cr_expect(!strncmp(t->body, "early", 5), "body '%s'", t->body);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY in the dialog");
	cr_expect(!strncmp(t->body, "open", 4), "body '%s'", t->body);

	cr_assert_eq(redum_sub_unsubscribe(A.dum, h), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect(!t->timed_out);

	finish(pid);
}


Test(sub_client, refresh_481_ends_it)
{
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("sub_uas_refresh481.xml");
	h = subscribe(2);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY");

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t, "a 481 to the refresh must end the subscription");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 481);
	cr_expect_str_eq(t->reason, "refresh-failed");
	cr_expect(!t->timed_out);

	finish(pid);
}


/* ---- server: SIPp subscribes ---------------------------------------------- */

static pid_t sipp_uac(const char *scen)
{
	pid_t pid = tt_sipp_uac(tt_scen(scen), A.port, NULL);

	cr_assert(pid > 0);
	return pid;
}


static void server_start(bool on_new)
{
	struct redum_sub_conf sc;

	redum_sub_conf_init(&sc);
	sc.events = "presence, dialog";
	sc.min_expires = 1;
	sc.notify_min_ms = 100;
	sc.pub_store = true;
	sc.presence_agent = true;
	sc.pager = true;
	cr_assert_eq(sapp_start(&A, 100, &sc, on_new), 0);
}


Test(sub_server, expiry_without_refresh)
{
	struct redum_sub_stats st;
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	server_start(true);
	pid = sipp_uac("sub_uac_expire.xml");

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_NEW, T);
	cr_assert(t, "no SUB_NEW");
	h = t->h;
	cr_expect_str_eq(t->event, "presence");
	cr_expect_str_eq(t->resource, "alice@127.0.0.1");
	cr_expect_eq(t->expires, 2);
	cr_assert_eq(redum_sub_accept(A.dum, h, 200, "active", "text/plain",
				      "basic-open", 10), 0);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t, "no expiry");
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->reason, "timeout");
	cr_expect_eq(t->scode, 200, "the final NOTIFY answered");

	redum_sub_stats(A.dum, &st);
	cr_expect_eq(st.sub_expired, 1);
	cr_expect_eq(st.notifies_out, 2);

	finish(pid);
}


Test(sub_server, unsubscribe_gets_final_notify)
{
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	server_start(true);
	pid = sipp_uac("sub_uac_unsub.xml");

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_NEW, T);
	cr_assert(t, "no SUB_NEW");
	h = t->h;
	cr_assert_eq(redum_sub_accept(A.dum, h, 202, NULL, "text/plain",
				      "x", 1), 0);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t, "no termination");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);

	finish(pid);
}


Test(pub_server, store_412_489_refresh_remove)
{
	struct redum_sub_stats st;
	const struct sev *t;
	char etag[64];
	pid_t pid;

	server_start(true);
	pid = sipp_uac("pub_uac_412.xml");

	t = sapp_expect(&A, REDUM_DUM_EV_PUB_STATE, T);
	cr_assert(t, "no PUB_STATE");
	cr_expect(!t->removed);
	cr_expect_str_eq(t->resource, "alice@127.0.0.1");
	cr_expect(!strncmp(t->body, "basic-open", 10));
	snprintf(etag, sizeof(etag), "%s", t->etag);

	t = sapp_expect(&A, REDUM_DUM_EV_PUB_STATE, T);
	cr_assert(t, "no refresh");
	cr_expect(!t->removed);
	cr_expect_str_neq(t->etag, etag, "a refresh gets a new ETag");

	t = sapp_expect(&A, REDUM_DUM_EV_PUB_STATE, T);
	cr_assert(t, "no removal");
	cr_expect(t->removed);

	cr_expect_eq(sapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	/* the counters are written by the DUM thread, which may still be
	 * finishing the removal when SIPp has its last 200: wait (bounded)
	 * until they settle */
	for (int64_t end = tt_now() + 3000;;) {
		redum_sub_stats(A.dum, &st);
		if ((st.publish_in == 5 && st.pub_entries == 0) ||
		    tt_now() > end)
			break;
		usleep(10000);
	}
	cr_expect_eq(st.publish_in, 5);
	cr_expect_eq(st.pub_412, 1);
	cr_expect_eq(st.pub_489, 1);
	cr_expect_eq(st.pub_entries, 0);
	cr_expect(sapp_stop(&A, 10000));
}


/* ---- pager ---------------------------------------------------------------- */

Test(pager_sipp, message_to_redum)
{
	struct redum_sub_stats st;
	const struct sev *t;
	pid_t pid;

	server_start(false);
	pid = sipp_uac("msg_uac.xml");

	t = sapp_expect(&A, REDUM_DUM_EV_PAGER_MESSAGE, T);
	cr_assert(t, "no PAGER_MESSAGE");
	cr_expect(!strncmp(t->body, "hello redum", 11), "body '%s'", t->body);

	cr_expect_eq(sapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	redum_sub_stats(A.dum, &st);
	cr_expect_eq(st.messages_in, 1);
	cr_expect(sapp_stop(&A, 10000));
}


Test(pager_sipp, message_from_redum)
{
	struct redum_sub_req req;
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("msg_uas.xml");

	sapp_req(&A, sipp_uri, NULL, 0, &req);
	req.ctype = "text/plain";
	req.body = "hello sipp";
	req.body_len = 10;
	cr_assert_eq(redum_pager_send(A.dum, &h, &req), 0);

	t = sapp_expect(&A, REDUM_DUM_EV_PAGER_RESULT, T);
	cr_assert(t, "no PAGER_RESULT");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 202);

	finish(pid);
}


/* The issue itself: DUM stops while the notifier is dead. The stop ends
 * the subscription (unsubscribe), the final NOTIFY never comes, and the
 * stop still finishes, the application told SUB_TERMINATED first. */
Test(sub_client, stop_with_dead_notifier_is_bounded)
{
	const struct sev *t;
	redum_dum_handle h;
	bool term = false;
	pid_t pid;

	client_start(1000);
	pid = sipp_uas("sub_uas_nounsub.xml");
	h = subscribe(60);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY");

	cr_assert(sapp_stop(&A, 15000), "the stop hung");
	while ((t = sapp_next(&A, 0))) {
		if (t->type == REDUM_DUM_EV_SUB_TERMINATED && t->h == h) {
			term = true;
			cr_expect(t->timed_out);
		}
	}
	cr_expect(term, "no SUB_TERMINATED before the end");
	cr_expect_eq(sapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
}


/* ---- client publication ---------------------------------------------------- */

TestSuite(pub_client, .timeout = 90);

Test(pub_client, refresh_412_republish_remove)
{
	struct redum_sub_req req;
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("pub_uas_412.xml");

	sapp_req(&A, sipp_uri, "presence", 2, &req);
	req.ctype = "text/plain";
	req.body = "basic-open";
	req.body_len = 10;
	cr_assert_eq(redum_pub_publish(A.dum, &h, &req), 0);

	t = sapp_expect(&A, REDUM_DUM_EV_PUB_SUCCESS, T);
	cr_assert(t, "no PUB_SUCCESS");
	cr_expect_str_eq(t->etag, "e1");
	cr_expect_eq(t->expires, 2);

	/* the refresh after 1 s gets 412: published afresh */
	t = sapp_expect(&A, REDUM_DUM_EV_PUB_SUCCESS, T);
	cr_assert(t, "no re-publish after the 412");
	cr_expect_str_eq(t->etag, "e2");

	cr_assert_eq(redum_pub_remove(A.dum, h), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_PUB_REMOVED, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);

	finish(pid);
}


Test(sub_client, forked_notify_is_refused)
{
	const struct sev *t;
	redum_dum_handle h;
	pid_t pid;

	client_start(5000);
	pid = sipp_uas("sub_uas_fork.xml");
	h = subscribe(60);

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY");
	cr_expect(!strncmp(t->body, "open", 4));

	/* the fork's NOTIFY (481, checked by SIPp) makes no event: next
	 * is the termination by the first notifier */
	t = sapp_next(&A, T);
	cr_assert(t, "no termination");
	cr_expect_eq(t->type, REDUM_DUM_EV_SUB_TERMINATED, "got %s",
		     redum_dum_ev_name(t->type));
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->reason, "noresource");
	cr_expect_eq(t->retry_after, 5);
	cr_expect(!t->timed_out);

	finish(pid);
}
