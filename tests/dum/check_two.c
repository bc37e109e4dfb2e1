/**
 * @file check_two.c  Two stack+DUM instances in one process call each
 *                    other over loopback: connect, re-INVITE, INFO, BYE
 *                    (hung up by either side), a stale handle, counters.
 *
 * A plain executable (runs under TSan: every thread crossing of DUM is on
 * this path: app thread = this one, two DUM threads, two stack threads).
 * Usage: check_dum_two [calls]   Prints "N passed, N failed" last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "check.h"

static struct tapp A, B;

enum { T = 5000 };


static bool one_call(unsigned i)
{
	const struct tev *t;
	redum_dum_handle ha, hb;
	bool a_hangs_up = (i % 2) == 0;
	struct tapp *x, *y;
	redum_dum_handle hx, hy;
	int err;

	err = tapp_call(&A, B.uri, &ha);
	CHECK(err == 0 && ha != 0, "call: %d", err);
	if (err)
		return false;

	t = tapp_expect(&B, REDUM_DUM_EV_NEW, T);
	CHECK(t && t->body_len == strlen(tapp_sdp) &&
	      !strcmp(t->ctype, "application/sdp"), "B: new with the offer");
	if (!t)
		return false;
	hb = t->h;

	CHECK(redum_invite_answer(B.dum, hb, 180, NULL, NULL, NULL, 0) == 0,
	      "answer 180");
	t = tapp_expect(&A, REDUM_DUM_EV_PROVISIONAL, T);
	CHECK(t && t->h == ha && t->scode == 180, "A: 180");

	CHECK(redum_invite_answer(B.dum, hb, 200, NULL, "application/sdp",
				  tapp_sdp, strlen(tapp_sdp)) == 0,
	      "answer 200");
	t = tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T);
	CHECK(t && t->h == ha && t->scode == 200, "A: connected");
	t = tapp_expect(&A, REDUM_DUM_EV_ANSWER, T);
	CHECK(t && t->body_len == strlen(tapp_sdp), "A: answer");
	t = tapp_expect(&B, REDUM_DUM_EV_CONNECTED, T);
	CHECK(t && t->h == hb, "B: connected (ACK)");
	if (!t)
		return false;

	/* re-INVITE from either side */
	x = a_hangs_up ? &A : &B;
	y = a_hangs_up ? &B : &A;
	hx = a_hangs_up ? ha : hb;
	hy = a_hangs_up ? hb : ha;

	CHECK(redum_invite_reinvite(x->dum, hx, "application/sdp", tapp_sdp,
				    strlen(tapp_sdp)) == 0, "reinvite");
	t = tapp_expect(y, REDUM_DUM_EV_OFFER, T);
	CHECK(t && t->h == hy && t->body_len, "offer received");
	CHECK(redum_invite_answer(y->dum, hy, 200, NULL, "application/sdp",
				  tapp_sdp, strlen(tapp_sdp)) == 0,
	      "answer re-INVITE");
	t = tapp_expect(x, REDUM_DUM_EV_ANSWER, T);
	CHECK(t && t->h == hx && t->scode == 200, "answer received");

	/* INFO the other way */
	CHECK(redum_invite_info(y->dum, hy, "application/dtmf-relay",
				"Signal=5\r\n", 10) == 0, "info");
	t = tapp_expect(x, REDUM_DUM_EV_INFO, T);
	CHECK(t && t->h == hx && !strcmp(t->body, "Signal=5\r\n"),
	      "info received");
	t = tapp_expect(y, REDUM_DUM_EV_INFO_RESPONSE, T);
	CHECK(t && t->scode == 200, "info answered");

	/* BYE */
	CHECK(redum_invite_end(x->dum, hx) == 0, "end");
	t = tapp_expect(x, REDUM_DUM_EV_TERMINATED, T);
	CHECK(t && t->h == hx && t->reason == REDUM_TERM_LOCAL_BYE,
	      "local bye (%d)", t ? (int)t->reason : -1);
	t = tapp_expect(y, REDUM_DUM_EV_TERMINATED, T);
	CHECK(t && t->h == hy && t->reason == REDUM_TERM_REMOTE_BYE,
	      "remote bye (%d)", t ? (int)t->reason : -1);

	/* the handle is stale now: an error event, never a crash */
	CHECK(redum_invite_end(x->dum, hx) == 0, "end on a stale handle");
	t = tapp_expect(x, REDUM_DUM_EV_ERROR, T);
	CHECK(t && t->h == hx && t->err == ENOENT, "stale -> ENOENT");

	return atomic_load(&rtest_failed) == 0;
}


int main(int argc, char **argv)
{
	unsigned calls = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
	struct redum_dum_stats st;
	int64_t t0;
	unsigned i;

	CHECK(tapp_start(&A, 100, NULL) == 0, "start A");
	CHECK(tapp_start(&B, 100, NULL) == 0, "start B");
	if (atomic_load(&rtest_failed))
		goto out;

	t0 = tt_now();
	for (i = 0; i < calls; i++) {
		if (!one_call(i))
			break;
	}
	if (i)
		printf("%u calls in %lld ms\n", i,
		       (long long)(tt_now() - t0));

	/* a call refused by the peer */
	{
		struct redum_dum_req req;
		redum_dum_handle h;
		const struct tev *t;

		tapp_req(&A, B.uri, &req);
		CHECK(redum_dum_call(A.dum, &h, &req) == 0, "call 2");
		t = tapp_expect(&B, REDUM_DUM_EV_NEW, T);
		CHECK(t != NULL, "new 2");
		if (t)
			CHECK(redum_invite_reject(B.dum, t->h, 486, NULL) == 0,
			      "reject");
		t = tapp_expect(&A, REDUM_DUM_EV_FAILURE, T);
		CHECK(t && t->h == h && t->scode == 486, "failure 486");
		t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
		CHECK(t && t->reason == REDUM_TERM_REJECTED &&
		      t->scode == 486, "terminated rejected");
	}

	tapp_pump(50);
	redum_dum_stats(A.dum, &st);
	CHECK(st.usages_alive == 0 && st.dialogs == 0,
	      "A: all usages gone (%llu, %llu)",
	      (unsigned long long)st.usages_alive,
	      (unsigned long long)st.dialogs);
	redum_dum_stats(B.dum, &st);
	CHECK(st.usages_alive == 0 && st.dialogs == 0,
	      "B: all usages gone (%llu, %llu)",
	      (unsigned long long)st.usages_alive,
	      (unsigned long long)st.dialogs);
	CHECK(st.usages_created[REDUM_USAGE_INVITE_SERVER] == i + 1,
	      "B: %u server sessions", i + 1);

	/* stop A with live calls: each ends (BYE), B sees remote BYEs */
	{
		struct redum_dum_req req;
		redum_dum_handle h;
		const struct tev *t;
		unsigned k, live = 0, byes = 0;

		for (k = 0; k < 5; k++) {
			tapp_req(&A, B.uri, &req);
			CHECK(redum_dum_call(A.dum, &h, &req) == 0, "call");
			t = tapp_expect(&B, REDUM_DUM_EV_NEW, T);
			if (t && !redum_invite_answer(B.dum, t->h, 200, NULL,
						      NULL, NULL, 0) &&
			    tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T))
				++live;
		}
		CHECK(live == 5, "5 live calls (%u)", live);
		redum_dum_stats(A.dum, &st);
		re_printf("A before stop:\n%H", redum_dum_stats_print, &st);
		CHECK(tapp_stop(&A, 10000), "stop A with live calls");
		for (k = 0; k < live; k++) {
			t = tapp_expect(&B, REDUM_DUM_EV_TERMINATED, T);
			if (t && t->reason == REDUM_TERM_REMOTE_BYE)
				++byes;
		}
		CHECK(byes == live, "B: %u remote BYEs of %u", byes, live);
	}

 out:
	if (A.dum)
		CHECK(tapp_stop(&A, 10000), "stop A");
	CHECK(tapp_stop(&B, 10000), "stop B");

	return rtest_check_report();
}
