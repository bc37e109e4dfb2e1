/**
 * @file test_dum_sipp.c  DUM invite sessions and OPTIONS against SIPp on
 *                        loopback, both sides:
 *   UAS (SIPp calls redum): 180/200/ACK/BYE from either side, CANCEL
 *   before the 200, CANCEL racing the 200, lost ACK -> BYE, re-INVITE
 *   from SIPp, OPTIONS (DUM's automatic 200 and the application's).
 *   UAC (redum calls a SIPp UAS): 180+200, 486, 200 then SIPp's BYE,
 *   CANCEL after 180, re-INVITE from redum, INFO.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"
#include "dumtest_cr.h"

static struct tapp A;

enum { T = 8000, SIPP_WAIT = 25000 };

static pid_t sipp_uac(const char *scen)
{
	pid_t pid = tt_sipp_uac(tt_scen(scen), A.port, NULL);

	cr_assert(pid > 0);
	return pid;
}


static void start(uint32_t t1, bool options_app)
{
	memset(&A, 0, sizeof(A));
	A.options_app = options_app;
	cr_assert_eq(tapp_start(&A, t1, NULL), 0);
}


static redum_dum_handle expect_new(void)
{
	const struct tev *t = tapp_expect(&A, REDUM_DUM_EV_NEW, T);

	cr_assert(t, "no incoming call");
	cr_expect_eq(t->usage, REDUM_USAGE_INVITE_SERVER);
	cr_expect(t->body_len > 0 && strstr(t->body, "v=0"), "no offer");
	cr_expect_str_eq(t->ctype, "application/sdp");

	return t->h;
}


static void answer(redum_dum_handle h, uint16_t scode)
{
	const void *b = scode >= 200 ? tapp_sdp : NULL;

	cr_assert_eq(redum_invite_answer(A.dum, h, scode, NULL,
					 b ? "application/sdp" : NULL, b,
					 b ? strlen(tapp_sdp) : 0), 0);
}


/* A re-INVITE with our SDP on call @p h (accepted for sending). */
static void reinvite(redum_dum_handle h)
{
	cr_assert_eq(redum_invite_reinvite(A.dum, h, "application/sdp",
					   tapp_sdp, strlen(tapp_sdp)), 0);
}


TestSuite(dum_uas, .timeout = 60);
TestSuite(dum_uac, .timeout = 60);


Test(dum_uas, sipp_hangs_up)
{
	redum_dum_handle h;
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_bye.xml");
	h = expect_new();
	answer(h, 180);
	answer(h, 200);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));
	tcr_expect_term(&A, h, REDUM_TERM_REMOTE_BYE, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, redum_hangs_up)
{
	redum_dum_handle h;
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_wait_bye.xml");
	h = expect_new();
	answer(h, 180);
	answer(h, 200);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, cancel_before_200)
{
	redum_dum_handle h;
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_cancel.xml");
	h = expect_new();
	answer(h, 180);
	tcr_expect_term(&A, h, REDUM_TERM_CANCELLED, T);
	/* a late answer on the ended call: an error event, nothing sent */
	cr_assert_eq(redum_invite_answer(A.dum, h, 200, NULL, NULL, NULL, 0),
		     0);
	{
		const struct tev *t = tapp_expect(&A, REDUM_DUM_EV_ERROR, T);
		cr_assert(t);
		cr_expect_eq(t->err, ENOENT);
	}
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, cancel_races_200)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_cancel_race.xml");
	h = expect_new();
	answer(h, 180);
	answer(h, 200);   /* SIPp sends its CANCEL once it has the 200 */
	t = tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T);
	cr_assert(t);
	tcr_expect_term(&A, h, REDUM_TERM_REMOTE_BYE, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, lost_ack_ends_with_bye)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	/* T1 50 ms: the 2xx is given up after 64*T1 = 3.2 s */
	start(50, false);
	pid = sipp_uac("uac_no_ack.xml");
	h = expect_new();
	answer(h, 180);
	answer(h, 200);
	t = tapp_next(&A, T);
	cr_assert(t);
	cr_expect_eq(t->type, REDUM_DUM_EV_TERMINATED, "got %s",
		     redum_dum_ev_name(t->type));
	cr_expect_eq(t->reason, REDUM_TERM_ACK_TIMEOUT);
	cr_expect_eq(t->h, h);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, reinvite_from_sipp)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_reinvite.xml");
	h = expect_new();
	answer(h, 200);
	cr_assert(tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T));
	t = tapp_expect(&A, REDUM_DUM_EV_OFFER, T);
	cr_assert(t);
	cr_expect(strstr(t->body, "RTP/AVP 8") != NULL, "the new offer");
	answer(h, 200);
	tcr_expect_term(&A, h, REDUM_TERM_REMOTE_BYE, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uas, options_automatic)
{
	pid_t pid;

	start(100, false);
	pid = sipp_uac("uac_options.xml");
	cr_expect_eq(tt_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_expect_null(tapp_next(&A, 100), "no event expected");
	cr_expect(tapp_stop(&A, 10000));
}


Test(dum_uas, options_by_the_app)
{
	const struct tev *t;
	pid_t pid;

	start(100, true);
	pid = sipp_uac("uac_options_app.xml");
	t = tapp_expect(&A, REDUM_DUM_EV_OPTIONS, T);
	cr_assert(t);
	cr_expect_eq(t->usage, REDUM_USAGE_REQUEST_SERVER);
	cr_expect_str_eq(t->method, "OPTIONS");
	cr_assert_eq(redum_dum_respond(A.dum, t->h, 299, "Fine", NULL, NULL,
				       NULL, 0), 0);
	tcr_finish(&A, pid, SIPP_WAIT);
}


/* ---- UAC: redum calls SIPp ---------------------------------------------- */


static void expect_connected(redum_dum_handle h)
{
	const struct tev *t = tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T);

	cr_assert(t, "not connected");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->usage, REDUM_USAGE_INVITE_CLIENT);
	t = tapp_expect(&A, REDUM_DUM_EV_ANSWER, T);
	cr_assert(t, "no answer");
	cr_expect(strstr(t->body, "v=0") != NULL);
}


/* A SIPp UAS running @p scen, called and connected (the app started with
 * T1 100 ms). @return the call's handle; *pidp: SIPp */
static redum_dum_handle connected_call(const char *scen, pid_t *pidp)
{
	redum_dum_handle h;
	char uri[64];

	start(100, false);
	*pidp = tcr_sipp_uas(scen, uri, sizeof(uri));
	h = tcr_call(&A, uri);
	expect_connected(h);

	return h;
}


Test(dum_uac, ringing_then_answer)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(100, false);
	pid = tcr_sipp_uas("uas_answer.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	t = tapp_expect(&A, REDUM_DUM_EV_PROVISIONAL, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 180);
	cr_expect(strstr(t->to, "tag=") != NULL, "early dialog To-tag");
	expect_connected(h);
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, busy)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(100, false);
	pid = tcr_sipp_uas("uas_busy.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	t = tapp_expect(&A, REDUM_DUM_EV_FAILURE, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 486);
	cr_expect_eq(t->h, h);
	t = tcr_expect_term(&A, h, REDUM_TERM_REJECTED, T);
	cr_expect_eq(t->scode, 486);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, remote_bye)
{
	redum_dum_handle h;
	pid_t pid;

	h = connected_call("uas_bye.xml", &pid);
	tcr_expect_term(&A, h, REDUM_TERM_REMOTE_BYE, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, cancel_after_180)
{
	const struct tev *t;
	redum_dum_handle h;
	char uri[64];
	pid_t pid;

	start(100, false);
	pid = tcr_sipp_uas("uas_cancel.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	t = tapp_expect(&A, REDUM_DUM_EV_PROVISIONAL, T);
	cr_assert(t);
	cr_assert_eq(redum_invite_end(A.dum, h), 0);
	t = tcr_expect_term(&A, h, REDUM_TERM_CANCELLED, T);
	cr_expect_eq(t->scode, 487);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, reinvite_from_redum)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	h = connected_call("uas_reinvite.xml", &pid);
	reinvite(h);
	/* a second one while the first is pending: EBUSY, not sent */
	reinvite(h);
	t = tapp_expect(&A, REDUM_DUM_EV_ERROR, T);
	cr_assert(t);
	cr_expect_eq(t->err, EBUSY);
	t = tapp_expect(&A, REDUM_DUM_EV_ANSWER, T);
	cr_assert(t);
	cr_expect(strstr(t->body, "o=- 1 2") != NULL, "the new answer");
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, info)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	h = connected_call("uas_info.xml", &pid);
	cr_assert_eq(redum_invite_info(A.dum, h, "application/dtmf-relay",
				       "Signal=7\r\nDuration=160\r\n", 25), 0);
	t = tapp_expect(&A, REDUM_DUM_EV_INFO_RESPONSE, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 200);
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, reinvite_491_is_retried)
{
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;
	int64_t t0;

	h = connected_call("uas_glare_491.xml", &pid);
	t0 = tt_now();
	reinvite(h);
	t = tapp_expect(&A, REDUM_DUM_EV_ANSWER, 10000);
	cr_assert(t, "the retried re-INVITE was not answered");
	cr_expect(strstr(t->body, "o=- 1 3") != NULL, "the retry's answer");
	/* the Call-ID owner waits 2.1..4 s (a protocol rule, not speed) */
	cr_expect(tt_now() - t0 >= 2000, "retried after %lld ms",
		  (long long)(tt_now() - t0));
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, glare_incoming_reinvite_gets_491)
{
	struct redum_dum_stats st;
	const struct tev *t;
	redum_dum_handle h;
	pid_t pid;

	h = connected_call("uas_glare_in.xml", &pid);
	reinvite(h);
	t = tapp_next(&A, 10000);
	cr_assert(t);
	cr_expect_eq(t->type, REDUM_DUM_EV_ANSWER, "got %s (no OFFER may "
		     "reach the app: DUM answers 491 itself)",
		     redum_dum_ev_name(t->type));
	redum_dum_stats(A.dum, &st);
	cr_expect_eq(st.glare_491, 1);
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, fork_ended_by_dum)
{
	struct redum_dum_stats st;
	redum_dum_handle h;
	pid_t pid;
	int64_t end;

	h = connected_call("uas_fork.xml", &pid);
	end = tt_now() + T;
	do {
		tapp_pump(20);
		redum_dum_stats(A.dum, &st);
	} while (st.forks_ended == 0 && tt_now() < end);
	cr_expect_eq(st.forks_ended, 1, "the second 2xx was not ended");
	tcr_hang_up(&A, h, T);
	cr_expect_null(tapp_next(&A, 200), "the fork must stay silent");
	tcr_finish(&A, pid, SIPP_WAIT);
}


Test(dum_uac, fork_kept_as_a_call)
{
	struct redum_dum_conf conf;
	const struct tev *t;
	redum_dum_handle h, hf;
	char uri[64];
	pid_t pid;

	memset(&A, 0, sizeof(A));
	redum_dum_conf_init(&conf);
	conf.want_forks = true;
	cr_assert_eq(tapp_start(&A, 100, &conf), 0);
	pid = tcr_sipp_uas("uas_fork.xml", uri, sizeof(uri));
	h = tcr_call(&A, uri);
	expect_connected(h);
	t = tapp_expect(&A, REDUM_DUM_EV_CONNECTED, T);
	cr_assert(t, "the fork was not reported");
	cr_expect_eq(t->related, h);
	cr_expect_neq(t->h, h);
	hf = t->h;
	tcr_hang_up(&A, hf, T);
	tcr_hang_up(&A, h, T);
	tcr_finish(&A, pid, SIPP_WAIT);
}
