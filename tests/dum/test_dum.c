/**
 * @file test_dum.c  DUM framework tests without SIPp: argument checks,
 *   stale handles, a full command FIFO, congestion 503s (DUM embedded in
 *   this thread's loop, held back so the stack's events pile up), glare
 *   between two instances, stop with a live call, a call to nobody.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"

static struct tapp A, B;

enum { T = 8000 };


static void connect_ab(redum_dum_handle *ha, redum_dum_handle *hb)
{
	const struct tev *t;

	cr_assert_eq(tapp_call(&A, B.uri, ha), 0);

	t = tapp_expect(&B, REDUM_DUM_EV_NEW, T);
	cr_assert(t);
	*hb = t->h;
	cr_assert_eq(redum_invite_answer(B.dum, *hb, 200, NULL,
					 "application/sdp", tapp_sdp,
					 strlen(tapp_sdp)), 0);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));
	cr_assert(tapp_expect(&B, REDUM_DUM_EV_CONNECTED, T));
}


TestSuite(dum, .timeout = 90);


Test(dum, names)
{
	cr_expect_str_eq(redum_usage_name(REDUM_USAGE_INVITE_CLIENT),
			 "invite-client");
	cr_expect_str_eq(redum_usage_state_name(REDUM_USAGE_INVITE_SERVER,
						REDUM_INV_ACCEPTED),
			 "accepted");
	cr_expect_str_eq(redum_usage_state_name(REDUM_USAGE_INVITE_CLIENT, 99),
			 "?");
	cr_expect_str_eq(redum_usage_state_name(REDUM_USAGE_COUNT, 0), "?");
	cr_expect_str_eq(redum_term_reason_name(REDUM_TERM_ACK_TIMEOUT),
			 "ack-timeout");
	cr_expect_str_eq(redum_dum_ev_name(REDUM_DUM_EV_OFFER), "offer");
	cr_expect_str_eq(redum_dum_ev_name(999), "?");
}


Test(dum, bad_arguments)
{
	struct redum_dum_req req;
	redum_dum_handle h = 0;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);

	tapp_req(&A, "sip:x@127.0.0.1:9", &req);
	cr_expect_eq(redum_dum_call(NULL, &h, &req), EINVAL);
	cr_expect_eq(redum_dum_call(A.dum, NULL, &req), EINVAL);
	req.from = NULL;
	cr_expect_eq(redum_dum_call(A.dum, &h, &req), EINVAL);
	tapp_req(&A, "sip:x@127.0.0.1:9", &req);
	req.method = "INVITE";
	cr_expect_eq(redum_dum_request(A.dum, &h, &req), EINVAL);
	req.method = NULL;
	cr_expect_eq(redum_dum_request(A.dum, &h, &req), EINVAL);
	cr_expect_eq(h, 0, "no handle on failure");

	cr_expect_eq(redum_invite_answer(A.dum, 5, 100, NULL, NULL, NULL, 0),
		     EINVAL);
	cr_expect_eq(redum_invite_answer(A.dum, 5, 300, NULL, NULL, NULL, 0),
		     EINVAL);
	cr_expect_eq(redum_invite_reject(A.dum, 5, 200, NULL), EINVAL);
	cr_expect_eq(redum_invite_end(A.dum, 0), EINVAL);
	cr_expect_eq(redum_dum_respond(A.dum, 5, 99, NULL, NULL, NULL, NULL,
				       0), EINVAL);
	cr_expect_eq(redum_dum_stop(NULL), EINVAL);

	cr_expect(tapp_stop(&A, 10000));
	cr_expect_eq(redum_dum_free(NULL), 0);
}


Test(dum, stale_handles)
{
	redum_dum_handle bogus = 0xdead0000beefULL;
	struct redum_dum_stats st;
	const struct tev *t;
	int i;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);

	cr_assert_eq(redum_invite_end(A.dum, bogus), 0);
	cr_assert_eq(redum_invite_answer(A.dum, bogus, 200, NULL, NULL, NULL,
					 0), 0);
	cr_assert_eq(redum_invite_reject(A.dum, bogus, 486, NULL), 0);
	cr_assert_eq(redum_invite_info(A.dum, bogus, NULL, NULL, 0), 0);
	cr_assert_eq(redum_invite_reinvite(A.dum, bogus, NULL, NULL, 0), 0);
	cr_assert_eq(redum_dum_respond(A.dum, bogus, 200, NULL, NULL, NULL,
				       NULL, 0), 0);

	for (i = 0; i < 6; i++) {
		t = tapp_expect(&A, REDUM_DUM_EV_ERROR, T);
		cr_assert(t);
		cr_expect_eq(t->h, bogus);
		cr_expect_eq(t->err, ENOENT);
	}

	redum_dum_stats(A.dum, &st);
	cr_expect_eq(st.commands_stale, 6);
	cr_expect_eq(st.commands_posted, 6);
	cr_expect(tapp_stop(&A, 10000));
}


Test(dum, stale_handle_of_an_ended_call)
{
	redum_dum_handle ha, hb;
	const struct tev *t;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);
	connect_ab(&ha, &hb);

	cr_assert_eq(redum_invite_end(B.dum, hb), 0);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T));
	cr_assert(tapp_expect(&B, REDUM_DUM_EV_TERMINATED, T));

	/* both handles are stale now, on both sides */
	cr_assert_eq(redum_invite_info(A.dum, ha, NULL, NULL, 0), 0);
	cr_assert_eq(redum_invite_end(B.dum, hb), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_ERROR, T);
	cr_assert(t);
	cr_expect_eq(t->err, ENOENT);
	t = tapp_expect(&B, REDUM_DUM_EV_ERROR, T);
	cr_assert(t);
	cr_expect_eq(t->err, ENOENT);

	cr_expect(tapp_stop(&A, 10000));
	cr_expect(tapp_stop(&B, 10000));
}


Test(dum, full_command_fifo_says_enospc)
{
	struct redum_dum_conf conf;
	struct redum_dum_stats st;
	unsigned accepted = 0, i;
	int err = 0;

	redum_dum_conf_init(&conf);
	conf.cmd_capacity = 8;
	A.no_start = true;
	cr_assert_eq(tapp_start(&A, 100, &conf), 0);

	/* nobody consumes yet: the FIFO fills and says so */
	for (i = 0; i < 1000; i++) {
		err = redum_invite_end(A.dum, 1000 + i);
		if (err)
			break;
		++accepted;
	}
	cr_expect_eq(err, ENOSPC);
	cr_expect(accepted >= 8 && accepted < 1000, "accepted %u", accepted);

	redum_dum_stats(A.dum, &st);
	cr_expect_eq(st.commands_rejected, 1);
	cr_expect_eq(st.commands_posted, accepted);

	/* once DUM runs, each queued command completes (stale: ENOENT) */
	cr_assert_eq(redum_dum_start(A.dum), 0);
	for (i = 0; i < accepted; i++)
		cr_assert(tapp_expect(&A, REDUM_DUM_EV_ERROR, T));
	cr_expect(tapp_stop(&A, 10000));
}


Test(dum, congestion_503_for_new_calls_only)
{
	struct redum_dum_conf conf;
	struct redum_dum_stats st;
	redum_dum_handle h[40];
	unsigned i, news = 0, busy = 0, other = 0;
	const unsigned n = 40;

	/* B calls A; A's DUM runs on this thread's loop, which we hold
	 * back while B's INVITEs pile up in A's inbound FIFO */
	redum_dum_conf_init(&conf);
	conf.tu_capacity = 128;
	conf.congestion_pct = 10;     /* 13 of 128 */
	conf.retry_after = 7;
	A.attached = true;
	cr_assert_eq(tapp_start(&A, 100, &conf), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);

	for (i = 0; i < n; i++) {
		struct redum_dum_req req;

		tapp_req(&B, A.uri, &req);
		cr_assert_eq(redum_dum_call(B.dum, &h[i], &req), 0);
	}
	usleep(500000);

	tapp_run(NULL, 1000);
	for (const struct tev *t; (t = tapp_pop(&A)) != NULL;) {
		if (t->type == REDUM_DUM_EV_NEW) {
			++news;
			cr_assert_eq(redum_invite_reject(A.dum, t->h, 486,
							 NULL), 0);
		}
	}
	tapp_run(NULL, 500);

	redum_dum_stats(A.dum, &st);
	cr_expect(st.busy_503 > 0, "no 503 sent");
	cr_expect(news > 0, "no call accepted");
	cr_expect_eq(news + st.busy_503, n, "%u + %llu != %u", news,
		     (unsigned long long)st.busy_503, n);
	cr_expect(st.inbound_high_water >= 13, "hw %u",
		  st.inbound_high_water);

	for (i = 0; i < n; i++) {
		const struct tev *t = tapp_expect(&B, REDUM_DUM_EV_FAILURE, T);

		cr_assert(t);
		if (t->scode == 503)
			++busy;
		else if (t->scode != 486)
			++other;
	}
	cr_expect_eq(busy, st.busy_503);
	cr_expect_eq(other, 0);

	cr_expect(tapp_stop(&B, 10000));
	cr_expect(tapp_stop(&A, 10000));
}


Test(dum, concurrent_reinvites)
{
	redum_dum_handle ha, hb;
	const struct tev *t;
	bool a_done = false, b_done = false, answered = false;
	int64_t end;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);
	connect_ab(&ha, &hb);

	/* both offer at about the same time. Whatever the interleaving,
	 * each offer ends answered, rejected (491 glare: the first retry
	 * wins, the loser is told OFFER_REJECTED 491), or refused at once
	 * (EBUSY: the peer's offer was already being handled); none hangs
	 * and at least one goes through. (tests/dum/scenarios/uas_glare_*
	 * check both 491 paths deterministically against SIPp.) */
	cr_assert_eq(redum_invite_reinvite(A.dum, ha, NULL, tapp_sdp,
					   strlen(tapp_sdp)), 0);
	cr_assert_eq(redum_invite_reinvite(B.dum, hb, NULL, tapp_sdp,
					   strlen(tapp_sdp)), 0);

	end = tt_now() + 12000;
	while (tt_now() < end && !(a_done && b_done)) {
		struct tapp *x[2] = {&A, &B};
		redum_dum_handle hx[2] = {ha, hb};
		bool *done[2] = {&a_done, &b_done};
		int i;

		for (i = 0; i < 2; i++) {
			while ((t = tapp_next(x[i], 10))) {
				if (t->type == REDUM_DUM_EV_OFFER)
					cr_assert_eq(redum_invite_answer(
						x[i]->dum, hx[i], 200, NULL,
						NULL, tapp_sdp,
						strlen(tapp_sdp)), 0);
				if (t->type == REDUM_DUM_EV_ANSWER)
					answered = *done[i] = true;
				if (t->type == REDUM_DUM_EV_OFFER_REJECTED ||
				    (t->type == REDUM_DUM_EV_ERROR &&
				     t->err == EBUSY))
					*done[i] = true;
			}
		}
	}

	cr_expect(a_done && b_done, "an offer was left hanging");
	cr_expect(answered, "no offer went through");

	/* the call is still up: BYE works */
	tapp_pump(200);
	cr_assert_eq(redum_invite_end(A.dum, ha), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->reason, REDUM_TERM_LOCAL_BYE);
	cr_expect(tapp_stop(&A, 10000));
	cr_expect(tapp_stop(&B, 10000));
}


Test(dum, stop_ends_live_calls)
{
	redum_dum_handle ha, hb;
	const struct tev *t;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);
	connect_ab(&ha, &hb);

	cr_assert(tapp_stop(&A, 10000));
	/* A's app saw TERMINATED(shutdown) before can-be-deleted */
	{
		bool seen = false;

		while ((t = tapp_pop(&A)) != NULL) {
			if (t->type == REDUM_DUM_EV_TERMINATED && t->h == ha &&
			    t->reason == REDUM_TERM_SHUTDOWN)
				seen = true;
		}
		cr_expect(seen, "no terminated(shutdown) for the call");
	}
	t = tapp_expect(&B, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->reason, REDUM_TERM_REMOTE_BYE);

	cr_expect(tapp_stop(&B, 10000));
}


Test(dum, call_to_nobody_fails)
{
	struct redum_dum_req req;
	redum_dum_handle h;
	const struct tev *t;
	char uri[64];

	cr_assert_eq(tapp_start(&A, 50, NULL), 0);
	snprintf(uri, sizeof(uri), "sip:nobody@127.0.0.1:%u", tt_free_port());
	tapp_req(&A, uri, &req);
	cr_assert_eq(redum_dum_call(A.dum, &h, &req), 0);

	/* libre's INVITE client transaction gives up after 64*500 ms (its
	 * own T1, whatever the stack's), unless ICMP says so earlier */
	t = tapp_expect(&A, REDUM_DUM_EV_FAILURE, 45000);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_neq(t->err, 0);
	t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->reason, REDUM_TERM_ERROR);
	cr_expect(tapp_stop(&A, 10000));
}


Test(dum, options_and_message_between_instances)
{
	struct redum_dum_req req;
	redum_dum_handle h;
	const struct tev *t;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);

	/* OPTIONS: B answers it itself (no on_options) */
	tapp_req(&A, B.uri, &req);
	cr_assert_eq(redum_dum_options(A.dum, &h, &req), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);
	cr_expect_str_eq(t->method, "OPTIONS");

	/* MESSAGE: B's application answers it */
	tapp_req(&A, B.uri, &req);
	req.method = "MESSAGE";
	req.ctype = "text/plain";
	req.body = "hello";
	req.body_len = 5;
	cr_assert_eq(redum_dum_request(A.dum, &h, &req), 0);
	t = tapp_expect(&B, REDUM_DUM_EV_REQUEST, T);
	cr_assert(t);
	cr_expect_str_eq(t->method, "MESSAGE");
	cr_expect_str_eq(t->body, "hello");
	cr_expect_str_eq(t->ctype, "text/plain");
	cr_assert_eq(redum_dum_respond(B.dum, t->h, 202, NULL, NULL, NULL,
				       NULL, 0), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 202);

	cr_expect(tapp_stop(&A, 10000));
	cr_expect(tapp_stop(&B, 10000));
}


Test(dum, cancel_before_any_answer)
{
	struct redum_dum_req req;
	redum_dum_handle ha;
	const struct tev *t;

	cr_assert_eq(tapp_start(&A, 100, NULL), 0);
	cr_assert_eq(tapp_start(&B, 100, NULL), 0);

	tapp_req(&A, B.uri, &req);
	cr_assert_eq(redum_dum_call(A.dum, &ha, &req), 0);
	t = tapp_expect(&B, REDUM_DUM_EV_NEW, T);
	cr_assert(t);

	/* the app never answered: only the stack's 100 went back, which is
	 * enough for libre to send the CANCEL */
	cr_assert_eq(redum_invite_end(A.dum, ha), 0);
	t = tapp_expect(&B, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->reason, REDUM_TERM_CANCELLED);
	t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->h, ha);
	cr_expect_eq(t->reason, REDUM_TERM_CANCELLED);
	cr_expect_eq(t->scode, 487);

	cr_expect(tapp_stop(&A, 10000));
	cr_expect(tapp_stop(&B, 10000));
}
