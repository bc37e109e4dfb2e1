/**
 * @file test_sub.c  Subscriptions, publications and pager between two
 *                   redum instances in one process (no SIPp): presence
 *                   fan-out (three subscriptions, one PUBLISH, each gets a
 *                   NOTIFY with the body), client publication (refresh,
 *                   modify, remove), NOTIFY rate bound (coalescing),
 *                   terminate from the application, MESSAGE both ways
 *                   (with and without on_message).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "test_sub_app.h"

enum { T = 8000 };

static struct sapp A, B;
static char res_uri[96];
static uint32_t b_answer_ms;   /* B's bound of the app's answer (0: default) */

TestSuite(sub_two, .timeout = 120);


static void start_pair(bool b_on_new, uint32_t notify_min_ms)
{
	struct redum_sub_conf sc;

	cr_assert_eq(sapp_start(&A, 100, NULL, false), 0);

	redum_sub_conf_init(&sc);
	sc.notify_min_ms = notify_min_ms;
	sc.pub_store = true;
	sc.presence_agent = true;
	sc.pager = true;
	if (b_answer_ms)
		sc.notify_wait_ms = b_answer_ms;
	cr_assert_eq(sapp_start(&B, 100, &sc, b_on_new), 0);
	snprintf(res_uri, sizeof(res_uri), "sip:carol@127.0.0.1:%u", B.port);
}


static void stop_pair(void)
{
	cr_expect(sapp_stop(&A, 10000));
	cr_expect(sapp_stop(&B, 10000));
}


Test(sub_two, presence_fanout_to_three)
{
	struct redum_sub_stats st;
	struct redum_sub_req req;
	redum_dum_handle hs[3], hp;
	const struct sev *t;
	unsigned i, got[3] = {0};
	int n;

	start_pair(false, 50);   /* B: the presence agent accepts alone */

	for (i = 0; i < 3; i++) {
		sapp_req(&A, res_uri, "presence", 60, &req);
		cr_assert_eq(redum_sub_subscribe(A.dum, &hs[i], &req), 0);
	}
	for (i = 0; i < 3; i++) {
		t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
		cr_assert(t, "no first NOTIFY (%u)", i);
		cr_expect_str_eq(t->state, "active");
		cr_expect_eq(t->body_len, 0, "nothing published yet");
	}

	sapp_req(&A, res_uri, "presence", 60, &req);
	req.ctype = "application/pidf+xml";
	req.body = "<open/>";
	req.body_len = 7;
	cr_assert_eq(redum_pub_publish(A.dum, &hp, &req), 0);

	/* one PUBLISH: each subscription gets a NOTIFY with the body */
	for (n = 0; n < 4; n++) {
		t = sapp_next(&A, T);
		cr_assert(t, "missing events after the PUBLISH");
		if (t->type == REDUM_DUM_EV_PUB_SUCCESS) {
			cr_expect_eq(t->h, hp);
			cr_expect(t->etag[0]);
			continue;
		}
		cr_assert_eq(t->type, REDUM_DUM_EV_SUB_UPDATE, "got %s",
			     redum_dum_ev_name(t->type));
		cr_expect_str_eq(t->body, "<open/>");
		for (i = 0; i < 3; i++)
			if (t->h == hs[i])
				got[i]++;
	}
	for (i = 0; i < 3; i++)
		cr_expect_eq(got[i], 1, "subscription %u", i);

	/* modify: the new body everywhere */
	cr_assert_eq(redum_pub_modify(A.dum, hp, "application/pidf+xml",
				      "<closed/>", 9), 0);
	memset(got, 0, sizeof(got));
	for (n = 0; n < 4; n++) {
		t = sapp_next(&A, T);
		cr_assert(t, "missing events after the modify");
		if (t->type == REDUM_DUM_EV_PUB_SUCCESS)
			continue;
		cr_assert_eq(t->type, REDUM_DUM_EV_SUB_UPDATE);
		cr_expect_str_eq(t->body, "<closed/>");
		for (i = 0; i < 3; i++)
			if (t->h == hs[i])
				got[i]++;
	}
	for (i = 0; i < 3; i++)
		cr_expect_eq(got[i], 1, "subscription %u", i);

	redum_sub_stats(B.dum, &st);
	cr_expect_eq(st.presence_fanout, 6);
	cr_expect_eq(st.pub_entries, 1);

	/* remove the publication, then unsubscribe everyone */
	cr_assert_eq(redum_pub_remove(A.dum, hp), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_PUB_REMOVED, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 200);

	for (i = 0; i < 3; i++)
		cr_assert_eq(redum_sub_unsubscribe(A.dum, hs[i]), 0);
	for (i = 0; i < 3; i++) {
		t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
		cr_assert(t, "unsubscribe %u", i);
		cr_expect(!t->timed_out);
	}

	redum_sub_stats(B.dum, &st);
	cr_expect_eq(st.pub_entries, 0);
	stop_pair();
}


Test(sub_two, notify_rate_bound_coalesces)
{
	struct redum_sub_stats st;
	struct redum_sub_req req;
	redum_dum_handle ha, hb;
	const struct sev *t;
	char body[16];
	int i, updates = 0;

	start_pair(true, 500);

	sapp_req(&A, res_uri, "presence", 60, &req);
	cr_assert_eq(redum_sub_subscribe(A.dum, &ha, &req), 0);
	t = sapp_expect(&B, REDUM_DUM_EV_SUB_NEW, T);
	cr_assert(t);
	hb = t->h;
	cr_assert_eq(redum_sub_accept(B.dum, hb, 200, "active", "text/plain",
				      "s0", 2), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t);
	cr_expect_str_eq(t->body, "s0");

	/* ten changes at once: at most one NOTIFY per 500 ms, the latest */
	for (i = 1; i <= 10; i++) {
		snprintf(body, sizeof(body), "s%d", i);
		cr_assert_eq(redum_sub_notify(B.dum, hb, "active",
					      "text/plain", body,
					      strlen(body)), 0);
	}
	for (;;) {
		t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
		cr_assert(t, "the latest state never came");
		++updates;
		if (!strcmp(t->body, "s10"))
			break;
	}
	cr_expect(updates < 10, "%d NOTIFYs for 10 changes", updates);
	redum_sub_stats(B.dum, &st);
	cr_expect(st.notifies_coalesced >= 1);
	fprintf(stderr, "10 changes -> %d NOTIFYs (%llu coalesced)\n",
		updates, (unsigned long long)st.notifies_coalesced);

	/* terminate from the application, with a reason and retry-after */
	cr_assert_eq(redum_sub_terminate(B.dum, hb, "noresource", 30), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->h, ha);
	cr_expect_str_eq(t->reason, "noresource");
	cr_expect_eq(t->retry_after, 30);
	cr_expect(!t->timed_out);
	t = sapp_expect(&B, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect_str_eq(t->reason, "noresource");

	stop_pair();
}


Test(sub_two, rejected_subscription_fails)
{
	struct redum_sub_req req;
	redum_dum_handle ha;
	const struct sev *t;

	start_pair(true, 100);

	sapp_req(&A, res_uri, "presence", 60, &req);
	cr_assert_eq(redum_sub_subscribe(A.dum, &ha, &req), 0);
	t = sapp_expect(&B, REDUM_DUM_EV_SUB_NEW, T);
	cr_assert(t);
	cr_assert_eq(redum_sub_reject(B.dum, t->h, 403, "Forbidden"), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_FAILURE, T);
	cr_assert(t);
	cr_expect_eq(t->h, ha);
	cr_expect_eq(t->scode, 403);

	/* an event package B does not take: 489 */
	sapp_req(&A, res_uri, "dialog", 60, &req);
	cr_assert_eq(redum_sub_subscribe(A.dum, &ha, &req), 0);
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_FAILURE, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 489);

	stop_pair();
}


Test(sub_two, message_both_ways)
{
	struct redum_sub_stats st;
	struct redum_sub_req req;
	redum_dum_handle h;
	const struct sev *t;

	start_pair(false, 100);

	/* A -> B: B's on_message gets it, A gets the 200 */
	sapp_req(&A, res_uri, NULL, 0, &req);
	req.body = "hi B";
	req.body_len = 4;
	cr_assert_eq(redum_pager_send(A.dum, &h, &req), 0);
	t = sapp_expect(&B, REDUM_DUM_EV_PAGER_MESSAGE, T);
	cr_assert(t);
	cr_expect_str_eq(t->body, "hi B");
	t = sapp_expect(&A, REDUM_DUM_EV_PAGER_RESULT, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);

	/* B -> A: A takes no MESSAGE (no pager conf): the stack's 501 */
	sapp_req(&B, A.uri, NULL, 0, &req);
	req.body = "hi A";
	req.body_len = 4;
	cr_assert_eq(redum_pager_send(B.dum, &h, &req), 0);
	t = sapp_expect(&B, REDUM_DUM_EV_PAGER_RESULT, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 501);

	redum_sub_stats(B.dum, &st);
	cr_expect_eq(st.messages_in, 1);
	cr_expect_eq(st.messages_auto200, 0);
	stop_pair();
}


Test(sub_two, message_auto_200_without_handler)
{
	struct redum_sub_stats st;
	struct redum_sub_req req;
	redum_dum_handle h;
	const struct sev *t;
	int i;

	sapp_no_on_message = true;
	start_pair(false, 100);
	sapp_no_on_message = false;

	for (i = 0; i < 3; i++) {
		sapp_req(&A, res_uri, NULL, 0, &req);
		req.body = "x";
		req.body_len = 1;
		cr_assert_eq(redum_pager_send(A.dum, &h, &req), 0);
		t = sapp_expect(&A, REDUM_DUM_EV_PAGER_RESULT, T);
		cr_assert(t);
		cr_expect_eq(t->scode, 200);
	}

	redum_sub_stats(B.dum, &st);
	cr_expect_eq(st.messages_in, 3);
	cr_expect_eq(st.messages_auto200, 3);
	stop_pair();
}


/* An application that never answers SUB_NEW: bounded, 480. */
Test(sub_two, unanswered_subscribe_gets_480)
{
	struct redum_sub_req req;
	redum_dum_handle ha, hb;
	const struct sev *t;

	b_answer_ms = 500;
	start_pair(true, 100);
	b_answer_ms = 0;

	sapp_req(&A, res_uri, "presence", 60, &req);
	cr_assert_eq(redum_sub_subscribe(A.dum, &ha, &req), 0);
	t = sapp_expect(&B, REDUM_DUM_EV_SUB_NEW, T);
	cr_assert(t);
	hb = t->h;

	t = sapp_expect(&A, REDUM_DUM_EV_SUB_FAILURE, T);
	cr_assert(t, "the unanswered SUBSCRIBE hung");
	cr_expect_eq(t->h, ha);
	cr_expect_eq(t->scode, 480);
	t = sapp_expect(&B, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->h, hb);
	cr_expect_str_eq(t->reason, "no-answer");

	stop_pair();
}
