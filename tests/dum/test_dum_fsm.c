/**
 * @file test_dum_fsm.c  The invite state machines in isolation: the stack is
 *   replaced by a recorder (dum_ops), events are synthetic (messages decoded
 *   from text by libre), DUM runs on this thread's loop. Each test drives one
 *   path and checks the exact stack calls and application events.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "dum/dum_int.h"

/* ---- the recording stack ------------------------------------------------ */

struct call {
	char op[16];
	uint64_t id, dlg;
	uint16_t scode;
	uint32_t flags, cseq;
	char method[16];
	char hdrs[256];
	size_t body_len;
};

static struct call calls[512];
static unsigned ncalls, ccur;
static int fake_tu_obj;
static struct redum_stack_tu *const FTU = (struct redum_stack_tu *)&fake_tu_obj;
static struct redum_fifo_stats fake_in = {.capacity = 1024};
static unsigned released;

static struct call *rec(const char *op)
{
	struct call *c = &calls[ncalls < 511 ? ncalls++ : 511];

	memset(c, 0, sizeof(*c));
	snprintf(c->op, sizeof(c->op), "%s", op);
	return c;
}

static int f_tu_alloc(struct redum_stack_tu **tup, struct redum_stack *s,
		      const struct redum_stack_tu_conf *conf)
{
	(void)s; (void)conf;
	*tup = FTU;
	return 0;
}
static int f_tu_attach(struct redum_stack_tu *tu, bool m, uint32_t b)
{ (void)tu; (void)m; (void)b; return 0; }
static int f_tu_remove(struct redum_stack_tu *tu, bool g)
{ (void)tu; rec("tu_remove")->flags = g; return 0; }
static int f_tu_free(struct redum_stack_tu *tu) { (void)tu; return 0; }
static void f_stats(const struct redum_stack_tu *tu, struct redum_fifo_stats *st)
{ (void)tu; *st = fake_in; }
static void f_release(struct redum_stack_tu *tu, struct redum_stack_event *ev)
{
	(void)tu;
	mem_deref(ev->ref);
	free(ev);
	++released;
}
static int f_reply(struct redum_stack_tu *tu, uint64_t id, uint16_t scode,
		   const char *reason, uint32_t flags, const char *hdrs,
		   const void *body, size_t len)
{
	struct call *c = rec("reply");
	(void)tu; (void)body;
	c->id = id; c->scode = scode; c->flags = flags; c->body_len = len;
	snprintf(c->hdrs, sizeof(c->hdrs), "%s", hdrs ? hdrs : "");
	snprintf(c->method, sizeof(c->method), "%s", reason ? reason : "");
	return 0;
}
static int f_srv_release(struct redum_stack_tu *tu, uint64_t id)
{ (void)tu; rec("srv_release")->id = id; return 0; }
static int f_request(struct redum_stack_tu *tu, uint64_t token, uint32_t fl,
		     const char *met, const char *uri, const char *route,
		     const char *hdrs, const void *body, size_t len)
{
	struct call *c = rec("request");
	(void)tu; (void)uri; (void)route; (void)body;
	c->id = token; c->flags = fl; c->body_len = len;
	snprintf(c->method, sizeof(c->method), "%s", met);
	snprintf(c->hdrs, sizeof(c->hdrs), "%s", hdrs ? hdrs : "");
	return 0;
}
static int f_drequest(struct redum_stack_tu *tu, uint64_t token, uint64_t dlg,
		      uint32_t fl, const char *met, const char *hdrs,
		      const void *body, size_t len)
{
	struct call *c = rec("drequest");
	(void)tu; (void)body;
	c->id = token; c->dlg = dlg; c->flags = fl; c->body_len = len;
	snprintf(c->method, sizeof(c->method), "%s", met);
	snprintf(c->hdrs, sizeof(c->hdrs), "%s", hdrs ? hdrs : "");
	return 0;
}
static int f_ack(struct redum_stack_tu *tu, uint64_t dlg, uint32_t cseq,
		 const char *hdrs, const void *body, size_t len)
{
	struct call *c = rec("ack");
	(void)tu; (void)hdrs; (void)body;
	c->dlg = dlg; c->cseq = cseq; c->body_len = len;
	return 0;
}
static int f_cancel(struct redum_stack_tu *tu, uint64_t token)
{ (void)tu; rec("cancel")->id = token; return 0; }
static int f_dlg_alloc(struct redum_stack_tu *tu, uint64_t dlg, const char *u,
		       const char *to, const char *fn, const char *fu)
{ (void)tu; (void)u; (void)to; (void)fn; (void)fu;
  rec("dlg_alloc")->dlg = dlg; return 0; }
static int f_dlg_accept(struct redum_stack_tu *tu, uint64_t dlg, uint64_t srv)
{
	struct call *c = rec("dlg_accept");
	(void)tu;
	c->dlg = dlg; c->id = srv;
	return 0;
}
static int f_dlg_create(struct redum_stack_tu *tu, uint64_t dlg,
			struct redum_stack_event *ev)
{
	rec("dlg_create")->dlg = dlg;
	f_release(tu, ev);
	return 0;
}
static int f_dlg_fork(struct redum_stack_tu *tu, uint64_t dlg, uint64_t odlg,
		      struct redum_stack_event *ev)
{
	struct call *c = rec("dlg_fork");
	c->dlg = dlg; c->id = odlg;
	f_release(tu, ev);
	return 0;
}
static int f_dlg_destroy(struct redum_stack_tu *tu, uint64_t dlg)
{ (void)tu; rec("dlg_destroy")->dlg = dlg; return 0; }

static int f_dlg_alloc_route(struct redum_stack_tu *tu, uint64_t dlg,
			     const char *u, const char *to, const char *fn,
			     const char *fu, const char *route)
{
	struct call *c;
	(void)tu; (void)u; (void)to; (void)fn; (void)fu;
	c = rec("dlg_alloc");
	c->dlg = dlg;
	snprintf(c->hdrs, sizeof(c->hdrs), "%s", route);
	return 0;
}

static const struct dum_stack_ops fake_ops = {
	.tu_alloc = f_tu_alloc, .tu_attach = f_tu_attach,
	.tu_remove = f_tu_remove, .tu_free = f_tu_free,
	.tu_fifo_stats = f_stats, .event_release = f_release,
	.reply = f_reply, .srv_release = f_srv_release,
	.request = f_request, .drequest = f_drequest, .ack = f_ack,
	.cancel = f_cancel, .dlg_alloc = f_dlg_alloc,
	.dlg_accept = f_dlg_accept, .dlg_create = f_dlg_create,
	.dlg_fork = f_dlg_fork, .dlg_destroy = f_dlg_destroy,
	.dlg_alloc_route = f_dlg_alloc_route,
};

/* Next recorded stack call of @p op (others before it are skipped). */
static const struct call *expect_call(const char *op)
{
	while (ccur < ncalls) {
		const struct call *c = &calls[ccur++];
		if (!strcmp(c->op, op))
			return c;
	}
	cr_assert_fail("no stack call '%s'", op);
	return NULL;
}

static void no_more_calls(void)
{
	cr_expect_eq(ccur, ncalls, "unexpected stack call '%s'",
		     ccur < ncalls ? calls[ccur].op : "");
}

/* ---- the application side ----------------------------------------------- */

struct aev {
	enum redum_dum_ev_type type;
	redum_dum_handle h, related;
	uint16_t scode;
	enum redum_term_reason reason;
	int err;
	size_t body_len;
};

static struct aev aq[256];
static unsigned an, acur;
static bool deleted;
static struct redum_dum *dum;

static void app_h(struct redum_dum *d, const struct redum_dum_event *ev,
		  void *arg)
{
	struct aev *a = &aq[an < 255 ? an++ : 255];
	(void)d; (void)arg;

	a->type = ev->type; a->h = ev->h; a->related = ev->related;
	a->scode = ev->scode; a->reason = ev->reason; a->err = ev->err;
	a->body_len = ev->msg.body_len;
}

static void app_deleted(struct redum_dum *d, void *arg)
{
	(void)d; (void)arg;
	deleted = true;
}

static void cancel_h(void *arg) { (void)arg; re_cancel(); }

/* One pass of this thread's loop (commands, timers), then app events. */
static void pump(void)
{
	struct tmr t;

	tmr_init(&t);
	tmr_start(&t, 2, cancel_h, NULL);
	(void)re_main(NULL);
	tmr_cancel(&t);
	(void)redum_dum_app_drain(dum);
}

static const struct aev *expect_ev(enum redum_dum_ev_type type)
{
	pump();
	while (acur < an) {
		const struct aev *a = &aq[acur++];
		if (a->type == type)
			return a;
	}
	cr_assert_fail("no app event '%s'", redum_dum_ev_name(type));
	return NULL;
}

static void no_more_events(void)
{
	pump();
	cr_expect_eq(acur, an, "unexpected app event '%s'",
		     acur < an ? redum_dum_ev_name(aq[acur].type) : "");
}

static void inject(enum redum_stack_ev_type type, uint64_t id, uint64_t dlg,
		   int err, struct sip_msg *msg);
static struct sip_msg *resp(uint16_t scode, const char *met,
			    const char *totag, uint32_t cseq,
			    const char *body);

static void setup(bool want_forks)
{
	struct redum_dum_handlers hd = {
		.invite = {app_h, app_h, app_h, app_h, app_h, app_h, app_h,
			   app_h, app_h, app_h},
		.request = {NULL, app_h, app_h},
		.on_error = app_h,
		.on_dum_can_be_deleted = app_deleted,
	};
	struct redum_dum_conf conf;

	cr_assert_eq(libre_init(), 0);
	dum_ops = &fake_ops;
	redum_dum_conf_init(&conf);
	conf.want_forks = want_forks;
	cr_assert_eq(redum_dum_alloc(&dum, (struct redum_stack *)&fake_tu_obj,
				     &conf, &hd), 0);
	cr_assert_eq(redum_dum_attach(dum), 0);
	cr_assert_eq(redum_dum_app_attach(dum, true, 0), 0);
}

static void teardown(void)
{
	int i;

	cr_assert_eq(redum_dum_stop(dum), 0);
	for (i = 0; i < 50 && !deleted; i++) {
		pump();
		/* the peers answer the BYEs of the stop */
		for (unsigned k = 0; k < ncalls; k++) {
			if (!strcmp(calls[k].op, "drequest") &&
			    !strcmp(calls[k].method, "BYE") &&
			    calls[k].cseq == 0) {
				calls[k].cseq = 1;
				inject(REDUM_STACK_EV_RESPONSE, calls[k].id,
				       calls[k].dlg, 0,
				       resp(200, "BYE", "t", 9, NULL));
			}
		}
		/* the stack's TransactionUserRemoved, once asked */
		for (unsigned k = 0; k < ncalls; k++) {
			if (!strcmp(calls[k].op, "tu_remove") &&
			    calls[k].cseq == 0) {
				calls[k].cseq = 1;
				dum_removed_handler(FTU, dum);
			}
		}
	}
	cr_assert(deleted, "DUM did not finish");
	cr_assert_eq(redum_dum_free(dum), 0);
	libre_close();
}

/* ---- synthetic messages and events --------------------------------------- */

static const char offer[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";

static struct sip_msg *mkmsg(const char *fmt, ...)
{
	struct mbuf *mb = mbuf_alloc(2048);
	struct sip_msg *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	cr_assert_eq(mbuf_vprintf(mb, fmt, ap), 0);
	va_end(ap);
	mb->pos = 0;
	cr_assert_eq(sip_msg_decode(&msg, mb), 0, "bad test message");
	mem_deref(mb);

	return msg;
}

static struct sip_msg *req(const char *met, const char *totag, uint32_t cseq,
			   const char *body)
{
	return mkmsg("%s sip:dum@127.0.0.1:5060 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%u\r\n"
		     "From: <sip:a@127.0.0.1>;tag=peer\r\n"
		     "To: <sip:dum@127.0.0.1>%s%s\r\n"
		     "Call-ID: call-1\r\n"
		     "CSeq: %u %s\r\n"
		     "Contact: <sip:a@127.0.0.1:5070>\r\n"
		     "%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     met, cseq, totag ? ";tag=" : "", totag ? totag : "",
		     cseq, met,
		     body ? "Content-Type: application/sdp\r\n" : "",
		     body ? strlen(body) : 0, body ? body : "");
}

static struct sip_msg *resp(uint16_t scode, const char *met,
			    const char *totag, uint32_t cseq,
			    const char *body)
{
	return mkmsg("SIP/2.0 %u Whatever\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
		     "From: <sip:caller@127.0.0.1>;tag=ours\r\n"
		     "To: <sip:b@127.0.0.1>%s%s\r\n"
		     "Call-ID: call-2\r\n"
		     "CSeq: %u %s\r\n"
		     "Contact: <sip:b@127.0.0.1:5070>\r\n"
		     "%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     scode, totag ? ";tag=" : "", totag ? totag : "", cseq,
		     met, body ? "Content-Type: application/sdp\r\n" : "",
		     body ? strlen(body) : 0, body ? body : "");
}

static void inject(enum redum_stack_ev_type type, uint64_t id, uint64_t dlg,
		   int err, struct sip_msg *msg)
{
	struct redum_stack_event *ev = calloc(1, sizeof(*ev));

	cr_assert(ev);
	ev->type = type;
	ev->id = id;
	ev->dlg = dlg;
	ev->err = err;
	ev->msg = msg;
	ev->ref = msg;
	dum_stack_event_handler(FTU, ev, dum);
}

static uint64_t alive(enum redum_usage_type t, int state)
{
	struct redum_dum_stats st;

	redum_dum_stats(dum, &st);
	return st.usages[t][state];
}

/* ---- UAS ------------------------------------------------------------------ */

/* An incoming INVITE (server id 7): returns the call's handle and dialog. */
static redum_dum_handle uas_new(uint64_t *dlgp)
{
	const struct call *c;
	const struct aev *a;

	inject(REDUM_STACK_EV_REQUEST, 7, 0, 0, req("INVITE", NULL, 1, offer));
	c = expect_call("dlg_accept");
	cr_expect_eq(c->id, 7);
	*dlgp = c->dlg;
	a = expect_ev(REDUM_DUM_EV_NEW);
	cr_expect_eq(a->body_len, strlen(offer));
	return a->h;
}

static redum_dum_handle uas_connected(uint64_t *dlgp)
{
	redum_dum_handle h = uas_new(dlgp);
	const struct call *c;

	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, "application/sdp",
					 offer, strlen(offer)), 0);
	pump();
	c = expect_call("reply");
	cr_expect_eq(c->scode, 200);
	cr_expect(c->flags & REDUM_STACK_F_CONTACT);
	cr_expect(c->flags & REDUM_STACK_F_NO_ACK_VIEW,
		  "the offer was in the INVITE: no answer in the ACK");
	cr_expect(strstr(c->hdrs, "Content-Type: application/sdp"));
	inject(REDUM_STACK_EV_ACK, 7, *dlgp, 0, NULL);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_CONNECTED)->h, h);
	return h;
}

Test(fsm, uas_ring_answer_ack_remote_bye)
{
	redum_dum_handle h;
	const struct call *c;
	const struct aev *a;
	uint64_t dlg;

	setup(false);
	h = uas_new(&dlg);
	cr_assert_eq(redum_invite_answer(dum, h, 180, NULL, NULL, NULL, 0), 0);
	pump();
	c = expect_call("reply");
	cr_expect_eq(c->scode, 180);
	cr_expect_str_eq(c->method, "Ringing");
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER, REDUM_INV_PROCEEDING), 1);

	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, NULL, offer,
					 strlen(offer)), 0);
	pump();
	cr_expect_eq(expect_call("reply")->scode, 200);
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER, REDUM_INV_ACCEPTED), 1);
	inject(REDUM_STACK_EV_ACK, 7, dlg, 0, NULL);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_CONNECTED)->h, h);

	inject(REDUM_STACK_EV_REQUEST, 8, dlg, 0, req("BYE", "me", 2, NULL));
	c = expect_call("reply");
	cr_expect_eq(c->id, 8);
	cr_expect_eq(c->scode, 200);
	cr_expect_eq(expect_call("dlg_destroy")->dlg, dlg);
	a = expect_ev(REDUM_DUM_EV_TERMINATED);
	cr_expect_eq(a->reason, REDUM_TERM_REMOTE_BYE);
	no_more_calls();
	no_more_events();
	teardown();
}

Test(fsm, uas_ack_timeout_sends_bye)
{
	redum_dum_handle h;
	const struct call *c;
	const struct aev *a;
	uint64_t dlg;

	setup(false);
	h = uas_new(&dlg);
	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, NULL, offer,
					 strlen(offer)), 0);
	pump();
	expect_call("reply");
	inject(REDUM_STACK_EV_ACK_TIMEOUT, 7, dlg, ETIMEDOUT, NULL);
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "BYE");
	cr_expect_eq(c->dlg, dlg);
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER, REDUM_INV_TERMINATING),
		     1);
	inject(REDUM_STACK_EV_RESPONSE, c->id, dlg, 0,
	       resp(200, "BYE", "x", 2, NULL));
	a = expect_ev(REDUM_DUM_EV_TERMINATED);
	cr_expect_eq(a->reason, REDUM_TERM_ACK_TIMEOUT);
	cr_expect_eq(a->h, h);
	cr_expect_eq(expect_call("dlg_destroy")->dlg, dlg);
	teardown();
}

Test(fsm, uas_cancelled)
{
	const struct aev *a;
	uint64_t dlg;

	setup(false);
	(void)uas_new(&dlg);
	inject(REDUM_STACK_EV_CANCELLED, 7, dlg, 0, NULL);
	cr_expect_eq(expect_call("srv_release")->id, 7);
	cr_expect_eq(expect_call("dlg_destroy")->dlg, dlg);
	a = expect_ev(REDUM_DUM_EV_TERMINATED);
	cr_expect_eq(a->reason, REDUM_TERM_CANCELLED);
	no_more_calls();
	teardown();
}

Test(fsm, uas_reject)
{
	redum_dum_handle h;
	const struct call *c;
	uint64_t dlg;

	setup(false);
	h = uas_new(&dlg);
	cr_assert_eq(redum_invite_reject(dum, h, 486, NULL), 0);
	pump();
	c = expect_call("reply");
	cr_expect_eq(c->scode, 486);
	cr_expect_str_eq(c->method, "Busy Here");
	cr_expect_eq(expect_ev(REDUM_DUM_EV_TERMINATED)->reason,
		     REDUM_TERM_REJECTED);
	/* the handle is stale now */
	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, NULL, NULL, 0), 0);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_ERROR)->err, ENOENT);
	teardown();
}

Test(fsm, reinvite_received_and_second_gets_500)
{
	redum_dum_handle h;
	const struct call *c;
	uint64_t dlg;

	setup(false);
	h = uas_connected(&dlg);
	inject(REDUM_STACK_EV_REQUEST, 9, dlg, 0, req("INVITE", "me", 2, offer));
	cr_expect_eq(expect_ev(REDUM_DUM_EV_OFFER)->h, h);
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER,
			   REDUM_INV_REINVITE_RECEIVED), 1);

	/* another INVITE before the app answered: 500 + Retry-After */
	inject(REDUM_STACK_EV_REQUEST, 10, dlg, 0,
	       req("INVITE", "me", 3, offer));
	c = expect_call("reply");
	cr_expect_eq(c->id, 10);
	cr_expect_eq(c->scode, 500);
	cr_expect(strstr(c->hdrs, "Retry-After:") != NULL);

	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, NULL, offer,
					 strlen(offer)), 0);
	pump();
	c = expect_call("reply");
	cr_expect_eq(c->id, 9);
	cr_expect_eq(c->scode, 200);
	inject(REDUM_STACK_EV_ACK, 9, dlg, 0, NULL);
	pump();
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER, REDUM_INV_CONNECTED), 1);
	teardown();
}

Test(fsm, glare_491_both_ways)
{
	redum_dum_handle h;
	const struct call *c;
	struct redum_dum_stats st;
	uint64_t dlg, tok;

	setup(false);
	h = uas_connected(&dlg);
	cr_assert_eq(redum_invite_reinvite(dum, h, NULL, offer,
					   strlen(offer)), 0);
	pump();
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "INVITE");
	tok = c->id;
	cr_expect(tok & DUM_TOKEN_BIT);

	/* their INVITE while ours is pending: 491 */
	inject(REDUM_STACK_EV_REQUEST, 11, dlg, 0,
	       req("INVITE", "me", 3, offer));
	c = expect_call("reply");
	cr_expect_eq(c->scode, 491);
	redum_dum_stats(dum, &st);
	cr_expect_eq(st.glare_491, 1);

	/* our INVITE gets 491: wait (the UAS side waits 0..2 s) */
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(491, "INVITE", "me", 5, NULL));
	pump();
	cr_expect_eq(alive(REDUM_USAGE_INVITE_SERVER, REDUM_INV_GLARE_WAIT),
		     1);
	no_more_calls();

	/* a re-INVITE of theirs during the wait wins */
	inject(REDUM_STACK_EV_REQUEST, 12, dlg, 0,
	       req("INVITE", "me", 4, offer));
	cr_expect_eq(expect_ev(REDUM_DUM_EV_OFFER_REJECTED)->scode, 491);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_OFFER)->h, h);
	teardown();
}

Test(fsm, info_481_ends_the_call)
{
	redum_dum_handle h;
	const struct call *c;
	uint64_t dlg;

	setup(false);
	h = uas_connected(&dlg);
	cr_assert_eq(redum_invite_info(dum, h, "text/plain", "x", 1), 0);
	pump();
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "INFO");
	inject(REDUM_STACK_EV_RESPONSE, c->id, dlg, 0,
	       resp(481, "INFO", "me", 3, NULL));
	cr_expect_eq(expect_ev(REDUM_DUM_EV_INFO_RESPONSE)->scode, 481);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_TERMINATED)->reason,
		     REDUM_TERM_DIALOG_GONE);
	teardown();
}

Test(fsm, congestion_503)
{
	const struct call *c;
	struct redum_dum_stats st;

	setup(false);
	fake_in.depth = 900;   /* of 1024: above 80 % */
	inject(REDUM_STACK_EV_REQUEST, 7, 0, 0, req("INVITE", NULL, 1, offer));
	c = expect_call("reply");
	cr_expect_eq(c->scode, 503);
	cr_expect(strstr(c->hdrs, "Retry-After: 5") != NULL);
	no_more_events();

	/* in-dialog traffic is not refused: a BYE for a gone dialog gets
	 * DUM's 481, not 503 */
	inject(REDUM_STACK_EV_REQUEST, 8, 99, 0, req("BYE", "x", 2, NULL));
	cr_expect_eq(expect_call("reply")->scode, 481);
	redum_dum_stats(dum, &st);
	cr_expect_eq(st.busy_503, 1);
	fake_in.depth = 0;
	teardown();
}

/* ---- UAC ------------------------------------------------------------------ */

static redum_dum_handle uac_call(uint64_t *dlgp, uint64_t *tokp)
{
	struct redum_dum_req r = {
		.uri = "sip:b@127.0.0.1:5070", .from = "sip:caller@127.0.0.1",
		.ctype = "application/sdp", .body = offer,
		.body_len = sizeof(offer) - 1,
	};
	redum_dum_handle h;
	const struct call *c;

	cr_assert_eq(redum_dum_call(dum, &h, &r), 0);
	pump();
	*dlgp = expect_call("dlg_alloc")->dlg;
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "INVITE");
	cr_expect_eq(c->dlg, *dlgp);
	cr_expect(c->flags & REDUM_STACK_F_CONTACT);
	*tokp = c->id;
	return h;
}

Test(fsm, uac_180_200_ack)
{
	redum_dum_handle h;
	const struct call *c;
	const struct aev *a;
	uint64_t dlg, tok;

	setup(false);
	h = uac_call(&dlg, &tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(100, "INVITE", NULL, 1, NULL));
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(180, "INVITE", "t1", 1, NULL));
	a = expect_ev(REDUM_DUM_EV_PROVISIONAL);   /* 180, not the 100 */
	cr_expect_eq(a->scode, 180);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t1", 1, offer));
	cr_expect_eq(expect_call("dlg_create")->dlg, dlg);
	c = expect_call("ack");
	cr_expect_eq(c->dlg, dlg);
	cr_expect_eq(c->cseq, 1);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_CONNECTED)->h, h);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_ANSWER)->body_len, strlen(offer));
	no_more_calls();
	teardown();
}

Test(fsm, uac_cancel_crossed_by_200)
{
	const struct call *c;
	redum_dum_handle h;
	uint64_t dlg, tok;

	setup(false);
	h = uac_call(&dlg, &tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(180, "INVITE", "t1", 1, NULL));
	cr_assert_eq(redum_invite_end(dum, h), 0);
	pump();
	cr_expect_eq(expect_call("cancel")->id, tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t1", 1, offer));
	expect_call("dlg_create");
	expect_call("ack");
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "BYE");
	inject(REDUM_STACK_EV_RESPONSE, c->id, dlg, 0,
	       resp(200, "BYE", "t1", 2, NULL));
	cr_expect_eq(expect_ev(REDUM_DUM_EV_TERMINATED)->reason,
		     REDUM_TERM_CANCELLED);
	pump();
	/* no CONNECTED was reported for a call the app had ended */
	for (unsigned i = 0; i < an; i++)
		cr_expect_neq(aq[i].type, REDUM_DUM_EV_CONNECTED);
	teardown();
}

Test(fsm, uac_fork_ended)
{
	const struct call *c;
	struct redum_dum_stats st;
	uint64_t dlg, tok, fdlg;

	setup(false);
	(void)uac_call(&dlg, &tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t1", 1, offer));
	expect_call("dlg_create");
	expect_call("ack");
	expect_ev(REDUM_DUM_EV_CONNECTED);
	expect_ev(REDUM_DUM_EV_ANSWER);
	/* a second 2xx from another branch */
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t2", 1, offer));
	c = expect_call("dlg_fork");
	cr_expect_eq(c->id, dlg);
	fdlg = c->dlg;
	cr_expect_neq(fdlg, dlg);
	cr_expect_eq(expect_call("ack")->dlg, fdlg);
	c = expect_call("drequest");
	cr_expect_str_eq(c->method, "BYE");
	cr_expect_eq(c->dlg, fdlg);
	inject(REDUM_STACK_EV_RESPONSE, c->id, fdlg, 0,
	       resp(200, "BYE", "t2", 2, NULL));
	cr_expect_eq(expect_call("dlg_destroy")->dlg, fdlg);
	no_more_events();   /* forks DUM ends are silent */
	redum_dum_stats(dum, &st);
	cr_expect_eq(st.forks_ended, 1);
	teardown();
}

Test(fsm, uac_fork_kept)
{
	redum_dum_handle h;
	const struct aev *a;
	uint64_t dlg, tok;

	setup(true);
	h = uac_call(&dlg, &tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t1", 1, offer));
	expect_ev(REDUM_DUM_EV_CONNECTED);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t2", 1, offer));
	expect_call("dlg_fork");
	a = expect_ev(REDUM_DUM_EV_CONNECTED);
	cr_expect_neq(a->h, h);
	cr_expect_eq(a->related, h);
	teardown();
}

Test(fsm, uac_rejected)
{
	redum_dum_handle h;
	const struct aev *a;
	uint64_t dlg, tok;

	setup(false);
	h = uac_call(&dlg, &tok);
	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(603, "INVITE", "t1", 1, NULL));
	a = expect_ev(REDUM_DUM_EV_FAILURE);
	cr_expect_eq(a->scode, 603);
	a = expect_ev(REDUM_DUM_EV_TERMINATED);
	cr_expect_eq(a->reason, REDUM_TERM_REJECTED);
	cr_expect_eq(a->scode, 603);
	cr_expect_eq(a->h, h);
	cr_expect_eq(expect_call("dlg_destroy")->dlg, dlg);
	teardown();
}

Test(fsm, every_event_view_goes_back)
{
	uint64_t dlg;

	setup(false);
	released = 0;
	(void)uas_connected(&dlg);
	inject(REDUM_STACK_EV_REQUEST, 8, dlg, 0, req("INFO", "me", 2, NULL));
	inject(REDUM_STACK_EV_REQUEST, 9, 0, 0, req("OPTIONS", NULL, 1, NULL));
	inject(REDUM_STACK_EV_RESPONSE, DUM_TOKEN_BIT | 999, 0, 0,
	       resp(200, "OPTIONS", "x", 1, NULL));
	inject(REDUM_STACK_EV_ACK_TIMEOUT, 4242, 0, ETIMEDOUT, NULL);
	cr_expect_eq(released, 6, "released %u of 6 events", released);
	teardown();
}

Test(fsm, uac_late_offer_answered_in_ack)
{
	struct redum_dum_req r = {
		.uri = "sip:b@127.0.0.1:5070", .from = "sip:caller@127.0.0.1",
	};
	redum_dum_handle h;
	const struct call *c;
	uint64_t dlg, tok;

	setup(false);
	cr_assert_eq(redum_dum_call(dum, &h, &r), 0);   /* no offer */
	pump();
	dlg = expect_call("dlg_alloc")->dlg;
	c = expect_call("drequest");
	cr_expect_eq(c->body_len, 0);
	tok = c->id;

	inject(REDUM_STACK_EV_RESPONSE, tok, dlg, 0,
	       resp(200, "INVITE", "t1", 1, offer));
	expect_call("dlg_create");
	no_more_calls();                 /* no ACK before the answer */
	cr_expect_eq(expect_ev(REDUM_DUM_EV_CONNECTED)->h, h);
	cr_expect_eq(expect_ev(REDUM_DUM_EV_OFFER)->body_len, strlen(offer));
	cr_expect_eq(alive(REDUM_USAGE_INVITE_CLIENT, REDUM_INV_ANSWER_WAIT),
		     1);

	cr_assert_eq(redum_invite_answer(dum, h, 200, NULL, "application/sdp",
					 offer, strlen(offer)), 0);
	pump();
	c = expect_call("ack");
	cr_expect_eq(c->dlg, dlg);
	cr_expect_eq(c->cseq, 1);
	cr_expect_eq(c->body_len, strlen(offer), "the answer rides the ACK");
	cr_expect_eq(alive(REDUM_USAGE_INVITE_CLIENT, REDUM_INV_CONNECTED), 1);
	teardown();
}
