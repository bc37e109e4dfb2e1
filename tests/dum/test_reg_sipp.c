/**
 * @file test_reg_sipp.c  Registrations against SIPp on loopback, both
 *                        sides:
 *   registrar (SIPp registers with redum): add/refresh/query/remove and
 *   CSeq ordering, expiry by timer, wildcard removal, 423 Min-Expires,
 *   digest auth (right and wrong password);
 *   client (redum registers with a SIPp registrar): refresh before expiry
 *   and unregister, 401 answered with a digest SIPp verifies, repeated 401
 *   -> failure, 423 -> retry with Min-Expires, 503 Retry-After -> retry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"
#include "test_reg_app.h"

enum { T = 8000, SIPP_WAIT = 25000 };

static struct rapp A;

TestSuite(reg_registrar, .timeout = 90);
TestSuite(reg_client, .timeout = 90);


/* ---- registrar: SIPp is the UAC ------------------------------------------ */

static void registrar_start(const char *users)
{
	struct redum_registrar_conf rc;

	redum_registrar_conf_init(&rc);
	rc.realm = "redum.test";
	rc.users = users;
	rc.domains = "127.0.0.1";
	rc.min_expires = 2;
	rc.max_expires = 3600;
	cr_assert_eq(rapp_start(&A, 100, &rc), 0);
}


static pid_t sipp_uac(const char *scen)
{
	pid_t pid = tt_sipp_uac(tt_scen(scen), A.port, NULL);

	cr_assert(pid > 0);
	return pid;
}


static uint32_t bindings_of(const char *aor)
{
	const struct rev *t = rapp_lookup(&A, aor);

	cr_assert(t, "lookup unanswered");
	return t->bindingc;
}


static void registrar_finish(pid_t pid)
{
	cr_expect_eq(rapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
}


Test(reg_registrar, add_refresh_query_remove)
{
	struct redum_registrar_stats st;
	pid_t pid;

	registrar_start(NULL);
	pid = sipp_uac("reg_uac_basic.xml");
	registrar_finish(pid);

	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 0);
	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.registers, 7);
	cr_expect_eq(st.ok, 6);
	cr_expect_eq(st.rejected, 1, "the out-of-order CSeq");
	cr_expect_eq(st.aors, 0);
	cr_expect_eq(st.bindings, 0);
	cr_expect(rapp_stop(&A, 10000));
}


/* 1,500 AORs: the table starts at 256 buckets and grows at 512 AORs; every
 * AOR is still found after the move (first, middle, last). */
Test(reg_registrar, many_aors_grow_the_table)
{
	struct redum_registrar_stats st;
	pid_t pid;

	registrar_start(NULL);
	pid = tt_sipp_uac(tt_scen("reg_uac_many.xml"), A.port, "-m", "1500",
			  "-r", "500", NULL);
	cr_assert(pid > 0);
	registrar_finish(pid);

	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.ok, 1500);
	cr_expect_eq(st.aors, 1500);
	cr_expect_eq(st.bindings, 1500);
	cr_expect_eq(bindings_of("sip:u1@127.0.0.1"), 1);
	cr_expect_eq(bindings_of("sip:u700@127.0.0.1"), 1);
	cr_expect_eq(bindings_of("sip:u1500@127.0.0.1"), 1);
	cr_expect_eq(bindings_of("sip:u1501@127.0.0.1"), 0);
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_registrar, expiry_by_timer)
{
	struct redum_registrar_stats st;
	int64_t end = tt_now() + T;
	pid_t pid;

	registrar_start(NULL);
	pid = sipp_uac("reg_uac_expire.xml");

	/* while SIPp waits: the binding is there, then it goes */
	do {
		rapp_pump(20);
		redum_registrar_stats(A.dum, &st);
	} while (!st.bindings && tt_now() < end);
	cr_expect_eq(st.bindings, 1);
	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 1);

	registrar_finish(pid);
	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.expired, 1);
	cr_expect_eq(st.bindings, 0);
	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 0);
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_registrar, wildcard_removal)
{
	struct redum_registrar_stats st;
	pid_t pid;

	registrar_start(NULL);
	pid = sipp_uac("reg_uac_wildcard.xml");
	registrar_finish(pid);

	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.rejected, 2, "two 400s");
	cr_expect_eq(st.bindings, 0);
	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 0);
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_registrar, interval_too_brief)
{
	pid_t pid;

	registrar_start(NULL);
	pid = sipp_uac("reg_uac_423.xml");
	registrar_finish(pid);
	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 0);
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_registrar, digest_auth)
{
	struct redum_registrar_stats st;
	pid_t pid;

	registrar_start("alice:secret");
	pid = sipp_uac("reg_uac_auth_good.xml");
	registrar_finish(pid);

	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 1);
	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.challenged, 1);
	cr_expect_eq(st.ok, 1);
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_registrar, digest_auth_wrong_password)
{
	struct redum_registrar_stats st;
	pid_t pid;

	registrar_start("alice:secret");
	pid = sipp_uac("reg_uac_auth_bad.xml");
	registrar_finish(pid);

	cr_expect_eq(bindings_of("sip:alice@127.0.0.1"), 0);
	redum_registrar_stats(A.dum, &st);
	cr_expect_eq(st.challenged, 2);
	cr_expect_eq(st.ok, 0);
	cr_expect_eq(st.bindings, 0);
	cr_expect(rapp_stop(&A, 10000));
}


/* ---- client: SIPp is the registrar ------------------------------------ */

static char registrar_uri[64], contact_uri[80];

static pid_t sipp_registrar(const char *scen)
{
	pid_t pid;

	cr_assert_eq(rapp_start(&A, 100, NULL), 0);
	snprintf(contact_uri, sizeof(contact_uri), "sip:alice@127.0.0.1:%u",
		 A.port);
	pid = tt_sipp_uas(tt_scen(scen), NULL, registrar_uri,
			  sizeof(registrar_uri), NULL);
	cr_assert(pid > 0);

	return pid;
}


static redum_dum_handle do_register(uint32_t expires, const char *user,
				    const char *pass)
{
	struct redum_reg_req q;
	redum_dum_handle h = 0;

	memset(&q, 0, sizeof(q));
	q.registrar = registrar_uri;
	q.aor = "sip:alice@127.0.0.1";
	q.contact = contact_uri;
	q.user = user;
	q.password = pass;
	q.expires = expires;
	q.retry_min_s = 1;
	q.retry_max_s = 4;
	cr_assert_eq(redum_reg_register(A.dum, &h, &q), 0);

	return h;
}


static void client_finish(pid_t pid, redum_dum_handle h, bool end)
{
	const struct rev *t;

	if (end) {
		cr_assert_eq(redum_reg_end(A.dum, h), 0);
		t = rapp_expect(&A, REDUM_DUM_EV_UNREGISTERED, T);
		cr_expect(t && t->h == h);
	}
	cr_expect_eq(rapp_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_expect(rapp_stop(&A, 10000));
}


Test(reg_client, refresh_then_unregister)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_refresh.xml");
	h = do_register(2, NULL, NULL);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->expires, 2);
	cr_expect_eq(t->refresh_in, 1);
	cr_expect_eq(t->bindingc, 1);
	cr_expect_str_eq(t->contact[0], contact_uri);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "no refresh");
	cr_expect_eq(t->h, h);

	cr_assert_eq(redum_reg_unregister(A.dum, h), 0);
	t = rapp_expect(&A, REDUM_DUM_EV_UNREGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 200, "unregister answered %u", t->scode);
	client_finish(pid, h, false);
}


Test(reg_client, digest_challenge)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_auth.xml");
	h = do_register(3600, "alice", "secret");

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered (SIPp refused the digest?)");
	cr_expect_eq(t->expires, 3600);
	cr_expect_eq(t->refresh_in, 3600 - 32);
	client_finish(pid, h, true);
}


Test(reg_client, repeated_challenge_fails)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_401twice.xml");
	h = do_register(3600, "alice", "secret");

	t = rapp_expect(&A, REDUM_DUM_EV_REG_FAILURE, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 401);
	cr_expect_not(t->was_registered);
	client_finish(pid, h, false);
}


Test(reg_client, interval_too_brief_retried)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_423.xml");
	h = do_register(5, NULL, NULL);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->expires, 30);
	client_finish(pid, h, true);
}


Test(reg_client, retry_after_503)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_503.xml");
	h = do_register(60, NULL, NULL);

	t = rapp_expect(&A, REDUM_DUM_EV_REG_RETRYING, T);
	cr_assert(t);
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 503);
	cr_expect_eq(t->retry_in, 1, "Retry-After not honoured");
	cr_expect_not(t->was_registered);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "no registration after the retry");
	cr_expect_eq(t->expires, 60);
	client_finish(pid, h, true);
}


/* An outbound proxy: the request URI stays the registrar's, the REGISTER
 * goes to the route (SIPp), which checks both. */
Test(reg_client, outbound_proxy_route)
{
	struct redum_reg_req q;
	const struct rev *t;
	redum_dum_handle h = 0;
	char route[80];
	pid_t pid;

	pid = sipp_registrar("reg_uas_proxy.xml");
	/* sipp_registrar() wrote SIPp's address as the registrar URI: it is
	 * the proxy here */
	snprintf(route, sizeof(route), "%s;lr", registrar_uri);

	memset(&q, 0, sizeof(q));
	q.registrar = "sip:192.0.2.1:5060";
	q.route = route;
	q.aor = "sip:alice@192.0.2.1";
	q.contact = contact_uri;
	q.expires = 600;
	cr_assert_eq(redum_reg_register(A.dum, &h, &q), 0);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered through the proxy");
	cr_expect_eq(t->expires, 600);
	cr_expect_eq(t->refresh_in, 600 - 32);
	client_finish(pid, h, true);
}


/* A failed refresh: RETRYING with was_registered, after the back-off's
 * first delay (retry_min_s 1), then registered again. */
Test(reg_client, refresh_failure_retried)
{
	const struct rev *t;
	redum_dum_handle h;
	pid_t pid;

	pid = sipp_registrar("reg_uas_refresh_fail.xml");
	h = do_register(2, NULL, NULL);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->expires, 2);

	t = rapp_expect(&A, REDUM_DUM_EV_REG_RETRYING, T);
	cr_assert(t, "the refresh's 500 was not retried");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 500);
	cr_expect_eq(t->retry_in, 1);
	cr_expect(t->was_registered);

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered after the retry");
	cr_expect_eq(t->expires, 60);
	client_finish(pid, h, true);
}


/* 500 three times without Retry-After: RETRYING after 1 s, 2 s, 2 s
 * (doubling from retry_min_s, capped by retry_max_s), then registered. */
Test(reg_client, backoff_doubles_to_the_cap)
{
	struct redum_reg_req q;
	const struct rev *t;
	redum_dum_handle h = 0;
	uint32_t want[3] = {1, 2, 2};
	unsigned i;
	pid_t pid;

	pid = sipp_registrar("reg_uas_backoff.xml");
	memset(&q, 0, sizeof(q));
	q.registrar = registrar_uri;
	q.aor = "sip:alice@127.0.0.1";
	q.contact = contact_uri;
	q.expires = 60;
	q.retry_min_s = 1;
	q.retry_max_s = 2;
	cr_assert_eq(redum_reg_register(A.dum, &h, &q), 0);

	for (i = 0; i < 3; i++) {
		t = rapp_expect(&A, REDUM_DUM_EV_REG_RETRYING, T);
		cr_assert(t, "retry %u", i);
		cr_expect_eq(t->h, h);
		cr_expect_eq(t->scode, 500);
		cr_expect_eq(t->retry_in, want[i], "retry %u in %u s", i,
			     t->retry_in);
		cr_expect_not(t->was_registered);
	}

	t = rapp_expect(&A, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered after the retries");
	cr_expect_eq(t->expires, 60);
	client_finish(pid, h, true);
}
