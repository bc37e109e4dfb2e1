/**
 * @file check_sub_two.c  Threaded check (the TSan build's): two stack+DUM
 *                        pairs in one process; A subscribes to B's presence
 *                        agent, publishes, gets the NOTIFY with the body,
 *                        unsubscribes, removes, sends a MESSAGE; N rounds.
 *   usage: check_sub_two [rounds]
 * Prints "N passed, N failed" last; exits non-zero on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "test_sub_app.h"
#include "check.h"

enum { T = 8000 };

static struct sapp A, B;


static void round_trip(const char *res, unsigned r)
{
	struct redum_sub_req req;
	redum_dum_handle hs, hp, hm;
	const struct sev *t;
	char body[32];
	int n, got_body = 0, got_pub = 0;

	snprintf(body, sizeof(body), "<state n='%u'/>", r);

	sapp_req(&A, res, "presence", 60, &req);
	CHECK(!redum_sub_subscribe(A.dum, &hs, &req), "subscribe");
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_UPDATE, T);
	CHECK(t && t->h == hs, "first NOTIFY");

	sapp_req(&A, res, "presence", 60, &req);
	req.ctype = "application/pidf+xml";
	req.body = body;
	req.body_len = strlen(body);
	CHECK(!redum_pub_publish(A.dum, &hp, &req), "publish");
	for (n = 0; n < 2; n++) {
		t = sapp_next(&A, T);
		if (!t)
			break;
		if (t->type == REDUM_DUM_EV_PUB_SUCCESS && t->h == hp)
			++got_pub;
		else if (t->type == REDUM_DUM_EV_SUB_UPDATE &&
			 !strcmp(t->body, body))
			++got_body;
	}
	CHECK(got_pub == 1, "PUB_SUCCESS");
	CHECK(got_body == 1, "NOTIFY with the published body");

	CHECK(!redum_sub_unsubscribe(A.dum, hs), "unsubscribe");
	t = sapp_expect(&A, REDUM_DUM_EV_SUB_TERMINATED, T);
	CHECK(t && t->h == hs && !t->timed_out, "terminated");

	CHECK(!redum_pub_remove(A.dum, hp), "remove");
	t = sapp_expect(&A, REDUM_DUM_EV_PUB_REMOVED, T);
	CHECK(t && t->h == hp && t->scode == 200, "removed");

	sapp_req(&A, res, NULL, 0, &req);
	req.body = body;
	req.body_len = strlen(body);
	CHECK(!redum_pager_send(A.dum, &hm, &req), "message");
	t = sapp_expect(&A, REDUM_DUM_EV_PAGER_RESULT, T);
	CHECK(t && t->h == hm && t->scode == 200, "message result");
	t = sapp_expect(&B, REDUM_DUM_EV_PAGER_MESSAGE, T);
	CHECK(t && !strcmp(t->body, body), "message received");
}


int main(int argc, char **argv)
{
	struct redum_sub_conf sc;
	struct redum_sub_stats st;
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 10, r;
	char res[96];
	int64_t t0;

	if (libre_init())
		return 2;

	redum_sub_conf_init(&sc);
	sc.notify_min_ms = 10;
	sc.pub_store = true;
	sc.presence_agent = true;
	sc.pager = true;

	CHECK(!sapp_start(&A, 100, NULL, false), "start A");
	CHECK(!sapp_start(&B, 100, &sc, false), "start B");
	if (atomic_load(&rtest_failed))
		goto out;
	B.quiet = true;    /* B's store/subscription events are not awaited */
	snprintf(res, sizeof(res), "sip:dave@127.0.0.1:%u", B.port);

	t0 = tt_now();
	for (r = 0; r < rounds && !atomic_load(&rtest_failed); r++)
		round_trip(res, r);
	printf("%u rounds in %lld ms\n", r, (long long)(tt_now() - t0));

	redum_sub_stats(B.dum, &st);
	CHECK(st.pub_entries == 0, "store empty");
	/* the stack routes a NOTIFY that overtakes the 2xx: never 481 */
	CHECK(st.notify_481_retries == 0, "%llu first NOTIFYs got 481",
	      (unsigned long long)st.notify_481_retries);
	printf("rounds %u notifies_out %llu presence_fanout %llu "
	       "notify_481_retries %llu\n", r,
	       (unsigned long long)st.notifies_out,
	       (unsigned long long)st.presence_fanout,
	       (unsigned long long)st.notify_481_retries);

 out:
	CHECK(sapp_stop(&A, 10000), "stop A");
	CHECK(sapp_stop(&B, 10000), "stop B");
	libre_close();

	return rtest_check_report();
}
