/**
 * @file test_reg.c  Registrations without SIPp: the digest computation
 *                   against RFC 2617's example, the registrar's nonces, and
 *                   two redum instances on loopback (one registers to the
 *                   other, a registrar with digest authentication).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "dum/reg_int.h"
#include "dumtest.h"
#include "test_reg_app.h"

enum { T = 8000 };

TestSuite(reg_digest, .timeout = 30);
TestSuite(reg_two, .timeout = 90);


/* RFC 2617 3.5: Mufasa / "Circle Of Life" (qop=auth, nc, cnonce). */
Test(reg_digest, rfc2617_vector)
{
	char out[33];

	cr_assert_eq(redum_digest_response(out, "Mufasa",
					   "testrealm@host.com",
					   "Circle Of Life", "GET",
					   "/dir/index.html",
					   "dcd98b7102dd2f0e8b11d0f600bfb0c093",
					   "00000001", "0a4f113b", "auth"), 0);
	cr_expect_str_eq(out, "6629fae49393a05397450978507c4ef1");

	/* a wrong password gives another digest */
	cr_assert_eq(redum_digest_response(out, "Mufasa",
					   "testrealm@host.com",
					   "Circle of Life", "GET",
					   "/dir/index.html",
					   "dcd98b7102dd2f0e8b11d0f600bfb0c093",
					   "00000001", "0a4f113b", "auth"), 0);
	cr_expect_str_neq(out, "6629fae49393a05397450978507c4ef1");

	cr_expect_eq(redum_digest_response(out, "a", "b", "c", "GET", "/",
					   "n", NULL, NULL, "auth"), EINVAL);
}


/* RFC 2069 form (no qop): MD5(HA1:nonce:HA2), checked by hand. */
Test(reg_digest, rfc2069_form)
{
	uint8_t md[16];
	char ha1[33], ha2[33], expect[33], out[33];
	unsigned i;

	md5_printf(md, "u:r:p");
	for (i = 0; i < 16; i++)
		sprintf(ha1 + 2 * i, "%02x", md[i]);
	md5_printf(md, "REGISTER:sip:127.0.0.1");
	for (i = 0; i < 16; i++)
		sprintf(ha2 + 2 * i, "%02x", md[i]);
	md5_printf(md, "%s:abc:%s", ha1, ha2);
	for (i = 0; i < 16; i++)
		sprintf(expect + 2 * i, "%02x", md[i]);

	cr_assert_eq(redum_digest_response(out, "u", "r", "p", "REGISTER",
					   "sip:127.0.0.1", "abc", NULL, NULL,
					   NULL), 0);
	cr_expect_str_eq(out, expect);
}


Test(reg_digest, server_nonce_and_verify)
{
	uint8_t secret[16] = {1, 2, 3}, other[16] = {9};
	struct httpauth_digest_resp resp;
	char nonce[40], hdr[512], resp_hex[33];
	struct pl pl;

	cr_assert_eq(dum_auth_nonce(nonce, sizeof(nonce), secret, 100000), 0);
	pl_set_str(&pl, nonce);
	cr_expect_eq(dum_auth_nonce_check(&pl, secret, 100500, 1000), 0);
	cr_expect_eq(dum_auth_nonce_check(&pl, secret, 102000, 1000),
		     ETIMEDOUT);
	cr_expect_eq(dum_auth_nonce_check(&pl, other, 100500, 1000), EACCES);
	nonce[20] = nonce[20] == 'a' ? 'b' : 'a';
	cr_expect_eq(dum_auth_nonce_check(&pl, secret, 100500, 1000), EACCES);

	/* a response as a client would send it verifies, with the password
	 * it was made with only */
	cr_assert_eq(redum_digest_response(resp_hex, "alice", "redum",
					   "secret", "REGISTER",
					   "sip:127.0.0.1:5060", "n0nce",
					   "00000001", "c0ffee", "auth"), 0);
	re_snprintf(hdr, sizeof(hdr), "Digest username=\"alice\", "
		    "realm=\"redum\", nonce=\"n0nce\", "
		    "uri=\"sip:127.0.0.1:5060\", response=\"%s\", "
		    "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
		    resp_hex);
	pl_set_str(&pl, hdr);
	cr_assert_eq(httpauth_digest_response_decode(&resp, &pl), 0);
	cr_expect_eq(dum_auth_verify(&resp, "REGISTER", "secret"), 0);
	cr_expect_eq(dum_auth_verify(&resp, "REGISTER", "wrong"), EACCES);
	cr_expect_eq(dum_auth_verify(&resp, "INVITE", "secret"), EACCES);
}


/* ---- two instances ------------------------------------------------------ */

static struct rapp R, C;   /* registrar, client */

static void two_start(uint32_t nonce_ttl)
{
	struct redum_registrar_conf rc;

	redum_registrar_conf_init(&rc);
	rc.realm = "redum.test";
	rc.users = "alice:secret,bob:hunter2";
	rc.domains = "example.com, 127.0.0.1";
	rc.min_expires = 1;
	rc.max_expires = 600;
	if (nonce_ttl)
		rc.nonce_ttl = nonce_ttl;

	cr_assert_eq(rapp_start(&R, 100, &rc), 0);
	cr_assert_eq(rapp_start(&C, 100, NULL), 0);
}


static void two_stop(void)
{
	cr_expect(rapp_stop(&C, 10000));
	cr_expect(rapp_stop(&R, 10000));
}


static void req_init(struct redum_reg_req *q, char *registrar, size_t rsz,
		     char *contact, size_t csz, const char *user,
		     const char *pass)
{
	memset(q, 0, sizeof(*q));
	snprintf(registrar, rsz, "sip:127.0.0.1:%u", R.port);
	snprintf(contact, csz, "sip:%s@127.0.0.1:%u", user ? user : "anon",
		 C.port);
	q->registrar = registrar;
	q->aor = user && !strcmp(user, "bob") ? "sip:bob@example.com" :
		"sip:alice@example.com";
	q->contact = contact;
	q->user = user;
	q->password = pass;
	q->expires = 60;
	q->retry_min_s = 1;
	q->retry_max_s = 2;
}


/* The registrar's bindings of @p aor (a lookup): @p n of them. */
static const struct rev *expect_bindings(const char *aor, uint32_t n)
{
	const struct rev *t = rapp_lookup(&R, aor);

	cr_assert(t, "no lookup answer for %s", aor);
	cr_expect_eq(t->bindingc, n, "%s: %u bindings, expected %u", aor,
		     t->bindingc, n);
	return t;
}


/* Registers @p q from C; the registrar refuses it with @p scode. */
static void register_fails(const struct redum_reg_req *q, uint16_t scode)
{
	const struct rev *t;
	redum_dum_handle h;

	cr_assert_eq(redum_reg_register(C.dum, &h, q), 0);
	t = rapp_expect(&C, REDUM_DUM_EV_REG_FAILURE, T);
	cr_assert(t, "no failure");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, scode);
}


/* Unregisters @p h from C: 200 from the registrar. */
static void unregister(redum_dum_handle h)
{
	const struct rev *t;

	cr_assert_eq(redum_reg_unregister(C.dum, h), 0);
	t = rapp_expect(&C, REDUM_DUM_EV_UNREGISTERED, T);
	cr_assert(t, "not unregistered");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 200);
}


/* Pumps until the registrar holds no binding (bounded by @p ms); its
 * counters in @p st. */
static void wait_no_bindings(struct redum_registrar_stats *st, int ms)
{
	int64_t end = tt_now() + ms;

	do {
		rapp_pump(50);
		redum_registrar_stats(R.dum, st);
	} while (st->bindings && tt_now() < end);
}


Test(reg_two, register_lookup_unregister)
{
	char ruri[64], contact[80];
	struct redum_reg_req q;
	struct redum_registrar_stats st;
	const struct rev *t;
	redum_dum_handle h;

	two_start(0);
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "alice",
		 "secret");
	cr_assert_eq(redum_reg_register(C.dum, &h, &q), 0);
	cr_assert(h);

	t = rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "not registered");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->expires, 60);
	cr_expect_eq(t->refresh_in, 30);
	cr_expect_eq(t->bindingc, 1);
	cr_expect_str_eq(t->contact[0], contact);

	t = expect_bindings("sip:alice@EXAMPLE.com", 1);
	cr_expect_str_eq(t->contact[0], contact);
	cr_expect(t->bexp[0] > 55 && t->bexp[0] <= 60, "expires %u",
		  t->bexp[0]);

	redum_registrar_stats(R.dum, &st);
	cr_expect_eq(st.aors, 1);
	cr_expect_eq(st.bindings, 1);
	cr_expect_eq(st.challenged, 1, "one 401 before the 200");
	cr_expect_eq(st.ok, 1);

	unregister(h);
	expect_bindings("sip:alice@example.com", 0);
	redum_registrar_stats(R.dum, &st);
	cr_expect_eq(st.aors, 0);
	cr_expect_eq(st.bindings, 0);

	/* the handle is gone: a command on it is an ENOENT error */
	cr_assert_eq(redum_reg_unregister(C.dum, h), 0);
	t = rapp_expect(&C, REDUM_DUM_EV_ERROR, T);
	cr_assert(t);
	cr_expect_eq(t->err, ENOENT);

	two_stop();
}


Test(reg_two, wrong_password_fails_and_binds_nothing)
{
	char ruri[64], contact[80];
	struct redum_reg_req q;
	struct redum_registrar_stats st;
	const struct rev *t;
	redum_dum_handle h;

	two_start(0);
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "alice",
		 "not-the-password");
	cr_assert_eq(redum_reg_register(C.dum, &h, &q), 0);

	t = rapp_expect(&C, REDUM_DUM_EV_REG_FAILURE, T);
	cr_assert(t, "no failure");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->scode, 401);
	cr_expect_not(t->was_registered);

	expect_bindings("sip:alice@example.com", 0);
	redum_registrar_stats(R.dum, &st);
	cr_expect_eq(st.bindings, 0);
	cr_expect_geq(st.challenged, 2);
	cr_expect_eq(st.ok, 0);

	/* no credentials at all: the first 401 is final */
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), NULL,
		 NULL);
	register_fails(&q, 401);

	/* bob's credentials for alice's AOR: authenticated, not allowed */
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "bob",
		 "hunter2");
	q.aor = "sip:alice@example.com";
	register_fails(&q, 403);

	/* a domain the registrar does not serve */
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "alice",
		 "secret");
	q.aor = "sip:alice@elsewhere.org";
	register_fails(&q, 404);

	expect_bindings("sip:alice@example.com", 0);

	two_stop();
}


/* expires 4 s: refreshed after 2 s with the cached nonce, which the
 * registrar (nonce TTL 1 s) finds stale: 401 stale=true, answered at once
 * with the new nonce, and the binding is refreshed. Then end without
 * unregistering: the binding expires at the registrar by itself. */
Test(reg_two, refresh_stale_nonce_and_expiry)
{
	char ruri[64], contact[80];
	struct redum_reg_req q;
	struct redum_registrar_stats st;
	const struct rev *t;
	redum_dum_handle h;

	two_start(1);
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "bob",
		 "hunter2");
	q.expires = 4;
	cr_assert_eq(redum_reg_register(C.dum, &h, &q), 0);

	t = rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->expires, 4);
	cr_expect_eq(t->refresh_in, 2);

	t = rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t, "no refresh");
	cr_expect_eq(t->h, h);

	redum_registrar_stats(R.dum, &st);
	cr_expect_geq(st.stale, 1, "the refresh's nonce was not stale");
	cr_expect_eq(st.bindings, 1);

	cr_assert_eq(redum_reg_end(C.dum, h), 0);
	t = rapp_expect(&C, REDUM_DUM_EV_UNREGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->scode, 0);

	/* bounded wait for the registrar's timer (4 s at most) */
	wait_no_bindings(&st, 8000);
	cr_expect_eq(st.bindings, 0);
	cr_expect_eq(st.expired, 1);
	expect_bindings("sip:bob@example.com", 0);

	two_stop();
}


/* Without a Contact of our own the stack's listening address is used;
 * the registrar's 200 lists it and it is found by lookup. */
Test(reg_two, contact_from_the_stack)
{
	char ruri[64], contact[80], port[16];
	struct redum_reg_req q;
	const struct rev *t;
	redum_dum_handle h;

	two_start(0);
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "alice",
		 "secret");
	q.contact = NULL;
	cr_assert_eq(redum_reg_register(C.dum, &h, &q), 0);

	t = rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T);
	cr_assert(t);
	cr_expect_eq(t->expires, 60);
	cr_expect_eq(t->bindingc, 1);
	snprintf(port, sizeof(port), ":%u", C.port);
	cr_expect(strstr(t->contact[0], port), "contact %s", t->contact[0]);

	expect_bindings("sip:alice@example.com", 1);

	unregister(h);
	expect_bindings("sip:alice@example.com", 0);

	two_stop();
}


/* Stopping DUM unregisters its registrations. */
Test(reg_two, stop_unregisters)
{
	char ruri[64], contact[80];
	struct redum_reg_req q;
	struct redum_registrar_stats st;
	redum_dum_handle h;

	two_start(0);
	req_init(&q, ruri, sizeof(ruri), contact, sizeof(contact), "alice",
		 "secret");
	cr_assert_eq(redum_reg_register(C.dum, &h, &q), 0);
	cr_assert(rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T));

	cr_expect(rapp_stop(&C, 10000));
	wait_no_bindings(&st, 5000);
	cr_expect_eq(st.bindings, 0, "the stop did not unregister");

	expect_bindings("sip:alice@example.com", 0);
	cr_expect(rapp_stop(&R, 10000));
}


/* A lookup on a DUM without registrar answers ENODEV. */
Test(reg_two, lookup_without_registrar)
{
	const struct rev *t;

	cr_assert_eq(rapp_start(&C, 100, NULL), 0);
	t = rapp_lookup(&C, "sip:alice@example.com");
	cr_assert(t);
	cr_expect_eq(t->err, ENODEV);
	cr_expect(rapp_stop(&C, 10000));
}
