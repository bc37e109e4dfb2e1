/**
 * @file test_auth_sipp.c  Client digest authentication of DUM's requests
 *                         (redum_dum_conf.creds) against SIPp UASs that
 *                         challenge with 401 and 407 and verify the answer:
 *   INVITE 401 -> re-sent with a new CSeq, verified, 200; the ACK carries
 *   the credentials; BYE 407 -> re-sent with Proxy-Authorization;
 *   INVITE challenged twice with the same nonce -> FAILURE 401, no third;
 *   OPTIONS 407 (qop, opaque), MESSAGE 401 (verified);
 *   SUBSCRIBE 401 (verified), in-dialog refresh 407;
 *   INFO 401 in a call (verified, digest-uri the peer's Contact);
 *   PUBLISH 401 (verified), its removal 407;
 *   no credentials -> the 401 is the application's failure.
 * Suite cmd_fail: stack commands refused (ENOSPC) end the usage visibly.
 * Credentials: realm "sipp.test" -> alice/secret, any other realm ->
 * bob/pw (an exact realm wins over the "any realm" entry).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"
#include "dumtest_cr.h"
#include "test_sub_app.h"

enum { T = 8000, SIPP_WAIT = 25000 };

static struct tapp A;

#ifndef SECRET
#define SECRET "secret"  /* -DSECRET='"x"' shows the checks failing */
#endif

static const struct redum_dum_cred creds[] = {
	{ NULL,        "bob",   "pw"     },
	{ "sipp.test", "alice", SECRET },
};

TestSuite(auth_uac, .timeout = 60);


static void start(bool with_creds)
{
	struct redum_dum_conf dc;

	redum_dum_conf_init(&dc);
	if (with_creds) {
		dc.creds  = creds;
		dc.ncreds = 2;
	}
	memset(&A, 0, sizeof(A));
	cr_assert_eq(tapp_start(&A, 100, &dc), 0);
}


Test(auth_uac, invite_401_then_bye_407)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(true);
	pid = tcr_sipp_uas("auth_uas_invite.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);

	t = tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T);
	cr_assert(t, "not connected after the challenge");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);

	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(auth_uac, info_401_in_a_call)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(true);
	pid = tcr_sipp_uas("auth_uas_info.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));
	cr_assert_eq(redum_invite_info(A.dum, h, "application/dtmf-relay",
				       "Signal=7\r\nDuration=160\r\n", 25), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_INFO_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 200, "INFO answered %u", t->scode);

	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(auth_uac, invite_same_nonce_twice_fails_401)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(true);
	pid = tcr_sipp_uas("auth_uas_invite_twice.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);

	t = tapp_expect(&A, REDUM_DUM_EV_FAILURE, T);
	cr_assert(t, "no failure");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 401);
	t = tcr_expect_term(&A, h, REDUM_TERM_REJECTED, T);
	cr_expect_eq(t->scode, 401);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(auth_uac, invite_without_creds_fails_401)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(false);
	pid = tcr_sipp_uas("auth_uas_invite_nocreds.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);

	t = tcr_expect_term(&A, h, REDUM_TERM_REJECTED, T);
	cr_expect_eq(t->scode, 401);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(auth_uac, options_407)
{
	struct redum_dum_req req;
	const struct tev *t;
	redum_dum_handle h = 0;
	char uri[64];
	pid_t pid;

	start(true);
	pid = tcr_sipp_uas("auth_uas_options.xml", uri, sizeof(uri));
	tapp_req(&A, uri, &req);
	cr_assert_eq(redum_dum_options(A.dum, &h, &req), 0);

	t = tapp_expect(&A, REDUM_DUM_EV_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);
	cr_expect_eq(t->err, 0);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(auth_uac, message_401)
{
	struct redum_dum_req req;
	const struct tev *t;
	redum_dum_handle h = 0;
	char uri[64];
	pid_t pid;

	start(true);
	pid = tcr_sipp_uas("auth_uas_message.xml", uri, sizeof(uri));
	tapp_req(&A, uri, &req);
	req.method = "MESSAGE";
	req.ctype = "text/plain";
	req.body = "hello";
	req.body_len = 5;
	cr_assert_eq(redum_dum_request(A.dum, &h, &req), 0);

	t = tapp_expect(&A, REDUM_DUM_EV_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200, "digest refused: %u", t->scode);
	tcr_finish(&A, pid, SIPP_WAIT);
}


/* A subscription client @p S (with our credentials, @p sc) and a SIPp UAS
 * running @p scen (@p uri: its). @return SIPp's pid */
static pid_t sub_start(struct sapp *S, const struct redum_sub_conf *sc,
		       const char *scen, char *uri, size_t sz)
{
	sapp_creds = creds;
	sapp_ncreds = 2;
	memset(S, 0, sizeof(*S));
	cr_assert_eq(sapp_start(S, 100, sc, false), 0);
	sapp_creds = NULL;
	sapp_ncreds = 0;

	return tcr_sipp_uas(scen, uri, sz);
}


static void sub_finish(struct sapp *S, pid_t pid)
{
	cr_expect_eq(sapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_expect(sapp_stop(S, 10000));
}


Test(auth_uac, subscribe_401_refresh_407)
{
	static struct sapp S;
	struct redum_sub_conf sc;
	struct redum_sub_req req;
	const struct sev *t;
	redum_dum_handle h = 0;
	char uri[64];
	pid_t pid;

	redum_sub_conf_init(&sc);
	sc.notify_wait_ms = 3000;
	pid = sub_start(&S, &sc, "auth_uas_subscribe.xml", uri, sizeof(uri));
	sapp_req(&S, uri, "presence", 2, &req);
	cr_assert_eq(redum_sub_subscribe(S.dum, &h, &req), 0);

	t = sapp_expect(&S, REDUM_DUM_EV_SUB_UPDATE, T);
	cr_assert(t, "no NOTIFY after the challenge");
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->state, "active");

	/* the refresh (after about 1 s) is challenged too */
	t = sapp_expect(&S, REDUM_DUM_EV_SUB_TERMINATED, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->reason, "noresource");
	cr_expect(!t->timed_out);

	sub_finish(&S, pid);
}


Test(auth_uac, publish_401_remove_407)
{
	static struct sapp S;
	struct redum_sub_req req;
	const struct sev *t;
	redum_dum_handle h = 0;
	char uri[64];
	pid_t pid;

	pid = sub_start(&S, NULL, "auth_uas_publish.xml", uri, sizeof(uri));
	sapp_req(&S, uri, "presence", 60, &req);
	req.ctype = "text/plain";
	req.body = "basic-open";
	req.body_len = 10;
	cr_assert_eq(redum_pub_publish(S.dum, &h, &req), 0);

	t = sapp_expect(&S, REDUM_DUM_EV_PUB_SUCCESS, T);
	cr_assert(t, "no PUB_SUCCESS after the challenge");
	cr_expect_eq(t->h, h);
	cr_expect_str_eq(t->etag, "e1");

	cr_assert_eq(redum_pub_remove(S.dum, h), 0);
	t = sapp_expect(&S, REDUM_DUM_EV_PUB_REMOVED, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);

	sub_finish(&S, pid);
}


/* ---- stack commands refused (docs/DUM.md, "When the stack refuses a
 *      command"): the stack thread is stalled and its command FIFO filled
 *      with the test hook's own commands, so DUM's next post gets ENOSPC;
 *      the usage must end with an event, never hang. ---- */

TestSuite(cmd_fail, .timeout = 60);

enum { STALL_MS = 1500 };

/* Stalls the stack and fills its command FIFO; false if never full. */
static bool fill_stack_fifo(void)
{
	uint32_t i;

	cr_assert_eq(redum_stack_debug_stall(A.stack, STALL_MS), 0);
	for (i = 0; i < 1000000; i++) {
		if (redum_stack_debug_stall(A.stack, 0) == ENOSPC)
			return true;
	}

	return false;
}


static void expect_stack_error(void)
{
	struct redum_dum_stats st;

	redum_dum_stats(A.dum, &st);
	cr_expect(st.stack_errors > 0, "no stack error counted");
}


Test(cmd_fail, bye_refused_ends_call_with_error)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(false);
	pid = tcr_sipp_uas("cmdfail_uas_nobye.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));

	cr_assert(fill_stack_fifo(), "the command FIFO never filled");
	cr_assert_eq(redum_invite_end(A.dum, h), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t, "the call hangs");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->reason, REDUM_TERM_ERROR, "reason %s",
		     redum_term_reason_name(t->reason));
	cr_expect_eq(t->err, ENOSPC);
	expect_stack_error();

	tapp_pump(STALL_MS + 200);   /* the stack drains its FIFO */
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(cmd_fail, invite_and_options_refused)
{
	struct redum_dum_req req;
	const struct tev *t;
	redum_dum_handle h, ho = 0;
	char uri[64];
	uint16_t port = tt_free_port();

	/* nothing listens there: nothing may be sent anyway */
	cr_assert(port);
	snprintf(uri, sizeof(uri), "sip:nobody@127.0.0.1:%u", port);
	start(false);
	cr_assert(fill_stack_fifo(), "the command FIFO never filled");

	h = tcr_call(&A, uri);
	t = tapp_expect(&A, REDUM_DUM_EV_TERMINATED, T);
	cr_assert(t, "the call hangs");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->reason, REDUM_TERM_ERROR);
	cr_expect_eq(t->err, ENOSPC);

	tapp_req(&A, uri, &req);
	cr_assert_eq(redum_dum_options(A.dum, &ho, &req), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_ERROR, T);
	cr_assert(t, "the OPTIONS hangs");
	cr_expect_eq(t->h, ho);
	cr_expect_eq(t->err, ENOSPC);
	expect_stack_error();

	tapp_pump(STALL_MS + 200);
	tcr_expect_clean(&A);
	cr_expect(tapp_stop(&A, 10000));
}
