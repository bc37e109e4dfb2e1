/**
 * @file sub_server.c  The server subscription usage (RFC 6665 notifier)
 *
 * Runs on the DUM thread. A new SUBSCRIBE becomes a usage in OFFERED and a
 * SUB_NEW event; the application accepts (200/202 and the first NOTIFY with
 * its body) or rejects. Then:
 *  - state changes (redum_sub_notify(), the presence agent) are NOTIFYed
 *    at most once per conf.notify_min_ms, one NOTIFY transaction at a time
 *    (RFC 6665 4.2.2): changes meanwhile are coalesced and only the latest
 *    is sent (counter notifies_coalesced);
 *  - a refresh (in-dialog SUBSCRIBE) restarts the expiry timer and re-sends
 *    the current state; Expires: 0 ends it with a final NOTIFY;
 *  - the expiry timer ends it with NOTIFY terminated;reason=timeout;
 *  - redum_sub_terminate() ends it with the application's reason;
 *  - a NOTIFY answered 481/408/any failure ends it silently (the
 *    subscriber is gone), except that the FIRST NOTIFY is re-sent once
 *    after 250 ms on a 481: the subscriber's stack may not have taken our
 *    2xx yet, and a stack that matches only established dialogs answers
 *    a NOTIFY that overtook the 2xx with 481 (RFC 6665 4.1.2.4 allows
 *    the NOTIFY first; redum's own stack routes it to the early dialog).
 * SUB_TERMINATED is posted once the final NOTIFY is answered (or failed:
 * the stack's Timer F bounds it).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "sub_int.h"

enum {
	CT_NOTIFY = 1,
	ST_SUB = 1,
	RETRY_481_MS = 250,
};

struct ssub {
	struct dum_usage u;
	struct le le;                /* subs->ssubl                         */
	struct dum_st *st;           /* the initial SUBSCRIBE, until answered*/
	char *event, resource[128];
	uint32_t expires;            /* granted                             */
	uint64_t expires_at;         /* tmr_jiffies() of the end            */
	struct tmr tmr_exp, tmr_rate;
	struct dum_ct *ct;           /* NOTIFY in flight                    */
	char *state, *ctype;         /* current state (mem strings)         */
	uint8_t *body;
	size_t body_len;
	bool dirty;                  /* current state not yet NOTIFYed      */
	bool final_pend;             /* the final NOTIFY is to be sent      */
	bool final_sent;
	bool any_ok;                 /* some NOTIFY got a 2xx               */
	bool retried_481;
	bool posted;
	char freason[32];
	uint32_t fretry;
	uint64_t coalesced;
};

static const char *const ssub_states[REDUM_SUBS_STATE_COUNT] = {
	"offered", "active", "terminating",
};

static void ssub_request(struct dum_usage *u, struct redum_stack_event *ev);
static void ssub_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev);
static void ssub_srv_event(struct dum_usage *u, struct dum_st *st,
			   struct redum_stack_event *ev);
static void ssub_command(struct dum_usage *u, struct dum_cmd *cmd);
static void ssub_end(struct dum_usage *u);
static void ssub_destroy(struct dum_usage *u);

const struct dum_class dum_ssub_class = {
	.type = REDUM_USAGE_SUBSCRIPTION_SERVER,
	.nstates = REDUM_SUBS_STATE_COUNT,
	.state_names = ssub_states,
	.dlg_methods = REDUM_STACK_MBIT(REDUM_STACK_M_SUBSCRIBE),
	.request = ssub_request,
	.response = ssub_response,
	.srv_event = ssub_srv_event,
	.command = ssub_command,
	.end = ssub_end,
	.destroy = ssub_destroy,
};

#define SCNT_INC(d, f) \
	atomic_fetch_add_explicit(&(d)->subs->f, 1, memory_order_relaxed)


static const struct redum_sub_conf *conf_of(const struct ssub *s)
{
	return &s->u.dum->subs->conf;
}


static void post(struct ssub *s, enum redum_dum_ev_type type,
		 const struct sip_msg *msg, const char *state,
		 const char *reason, uint16_t scode, int err)
{
	struct redum_sub_info info;
	struct redum_dum_event *ev;

	memset(&info, 0, sizeof(info));
	info.event = s->event;
	info.state = state;
	info.reason = reason;
	info.resource = s->resource;
	info.expires = s->expires;
	info.coalesced = s->coalesced;

	ev = dum_sub_ev(s->u.dum, REDUM_USAGE_SUBSCRIPTION_SERVER, s->u.h,
			type, msg, &info, NULL, NULL, 0);
	if (ev) {
		ev->scode = scode;
		ev->err = err;
	}
	if (type == REDUM_DUM_EV_SUB_TERMINATED)
		s->posted = true;
	dum_ev_post(s->u.dum, ev);
}


static void finish(struct ssub *s, const char *reason, uint16_t scode,
		   int err)
{
	post(s, REDUM_DUM_EV_SUB_TERMINATED, NULL, "terminated", reason,
	     scode, err);
	dum_usage_free(&s->u);
}


static uint32_t remaining(const struct ssub *s)
{
	uint64_t now = tmr_jiffies();

	return s->expires_at > now ?
		(uint32_t)((s->expires_at - now + 999) / 1000) : 0;
}


static void kick(struct ssub *s);

static void rate_fired(void *arg)
{
	kick(arg);
}


static int send_notify(struct ssub *s, bool final)
{
	struct redum_dum *dum = s->u.dum;
	char *hdrs = NULL, ss[96];
	struct dum_ct *ct;
	int err;

	if (final) {
		int n = re_snprintf(ss, sizeof(ss), "terminated%s%s",
				    s->freason[0] ? ";reason=" : "",
				    s->freason);
		if (s->fretry && n > 0)
			re_snprintf(ss + n, sizeof(ss) - (size_t)n,
				    ";retry-after=%u", s->fretry);
	}
	else {
		re_snprintf(ss, sizeof(ss), "%s;expires=%u",
			    s->state ? s->state : "active", remaining(s));
	}

	err = re_sdprintf(&hdrs, "Event: %s\r\nSubscription-State: %s\r\n"
			  "%s%s%s",
			  s->event, ss,
			  s->body_len ? "Content-Type: " : "",
			  s->body_len ? (s->ctype ? s->ctype : "text/plain")
			  : "", s->body_len ? "\r\n" : "");
	if (err)
		return err;

	ct = dum_ct_new(&s->u, CT_NOTIFY);
	if (!ct) {
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->drequest(dum->tu, ct->token, s->u.dlg->id,
				REDUM_STACK_F_CONTACT, "NOTIFY", hdrs,
				s->body, s->body_len);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		dum_ct_free(ct);
		return err;
	}

	SCNT_INC(dum, notifies_out);
	s->ct = ct;
	s->dirty = false;
	if (final) {
		s->final_sent = true;
		dum_usage_set_state(&s->u, REDUM_SUBS_TERMINATING);
	}

	/* the rate bound: the next NOTIFY no sooner than this */
	if (conf_of(s)->notify_min_ms)
		tmr_start(&s->tmr_rate, conf_of(s)->notify_min_ms,
			  rate_fired, s);
	return 0;
}


/* Sends what is due, if a NOTIFY may go now. */
static void kick(struct ssub *s)
{
	int err;

	if (s->u.state == REDUM_SUBS_OFFERED || s->final_sent || s->ct ||
	    tmr_isrunning(&s->tmr_rate))
		return;

	if (s->final_pend) {
		tmr_cancel(&s->tmr_exp);
		err = send_notify(s, true);
		if (err)
			finish(s, s->freason, 0, err);
		return;
	}

	if (s->dirty) {
		err = send_notify(s, false);
		if (err)
			finish(s, "notify-failed", 0, err);
	}
}


static void end_with(struct ssub *s, const char *reason, uint32_t retry)
{
	if (s->final_pend)
		return;
	s->final_pend = true;
	str_ncpy(s->freason, reason ? reason : "", sizeof(s->freason));
	s->fretry = retry;
	kick(s);
}


static void expired(void *arg)
{
	struct ssub *s = arg;

	SCNT_INC(s->u.dum, sub_expired);
	end_with(s, "timeout", 0);
}


static void set_expiry(struct ssub *s, uint32_t expires)
{
	s->expires = expires;
	s->expires_at = tmr_jiffies() + (uint64_t)expires * 1000;
	tmr_start(&s->tmr_exp, (uint64_t)expires * 1000, expired, s);
}


void dum_ssub_set_state(struct dum_usage *u, const char *state,
			const char *ctype, const void *body, size_t len)
{
	struct ssub *s = (struct ssub *)u;
	uint8_t *b = NULL;
	char *st = NULL, *ct = NULL;

	if (len) {
		b = mem_alloc(len, NULL);
		if (!b)
			return;
		memcpy(b, body, len);
	}
	if (dum_sub_sdup(&st, state) || dum_sub_sdup(&ct, ctype)) {
		mem_deref(b);
		mem_deref(st);
		return;
	}

	mem_deref(s->state);
	mem_deref(s->ctype);
	mem_deref(s->body);
	s->state = st;
	s->ctype = ct;
	s->body = b;
	s->body_len = len;

	if (s->dirty) {
		++s->coalesced;
		SCNT_INC(u->dum, notifies_coalesced);
	}
	s->dirty = true;
	kick(s);
}


bool dum_ssub_matches(const struct dum_usage *u, const char *event,
		      const char *resource)
{
	const struct ssub *s = (const struct ssub *)u;

	return u->state == REDUM_SUBS_ACTIVE && !s->final_pend &&
		!strcasecmp(s->event, event) &&
		!strcasecmp(s->resource, resource);
}


static uint32_t expires_asked(const struct ssub *s, const struct sip_msg *m)
{
	uint32_t e = pl_isset(&m->expires) ? pl_u32(&m->expires) :
		conf_of(s)->default_expires;

	if (e > conf_of(s)->max_expires)
		e = conf_of(s)->max_expires;
	return e;
}


/* ---- responses to our NOTIFYs ------------------------------------------ */

static void ssub_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev)
{
	struct ssub *s = (struct ssub *)u;
	struct redum_dum *dum = u->dum;
	uint16_t scode = 0;
	int err = 0;

	if (ev->type == REDUM_STACK_EV_RESPONSE && ev->msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (ev->type == REDUM_STACK_EV_RESPONSE)
		scode = ev->msg->scode;
	else
		err = ev->err ? ev->err : EPROTO;
	dum_ops->event_release(dum->tu, ev);

	if (ct == s->ct)
		s->ct = NULL;
	dum_ct_free(ct);

	if (scode >= 200 && scode < 300) {
		s->any_ok = true;
		if (s->final_sent) {
			finish(s, s->freason, scode, 0);
			return;
		}
		kick(s);
		return;
	}

	if (scode == 481 && !s->any_ok && !s->retried_481 && !s->final_sent) {
		/* the subscriber may not have taken our 2xx yet */
		s->retried_481 = true;
		s->dirty = true;
		SCNT_INC(dum, notify_481_retries);
		tmr_start(&s->tmr_rate, RETRY_481_MS, rate_fired, s);
		return;
	}

	/* the subscriber is gone (481, 408, timeout...): no final NOTIFY */
	finish(s, s->final_sent ? s->freason : "notify-failed", scode, err);
}


/* ---- in-dialog SUBSCRIBE (refresh / unsubscribe) ------------------------ */

static void ssub_request(struct dum_usage *u, struct redum_stack_event *ev)
{
	struct ssub *s = (struct ssub *)u;
	struct redum_dum *dum = u->dum;
	uint32_t e;
	char hdrs[48];

	if (s->u.state != REDUM_SUBS_ACTIVE || s->final_pend) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 481,
				 "Subscription Does Not Exist", 0, NULL,
				 NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	e = expires_asked(s, ev->msg);
	if (e && e < conf_of(s)->min_expires) {
		re_snprintf(hdrs, sizeof(hdrs), "Min-Expires: %u\r\n",
			    conf_of(s)->min_expires);
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 423,
				 "Interval Too Brief", 0, hdrs, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	re_snprintf(hdrs, sizeof(hdrs), "Expires: %u\r\n", e);
	dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 200, "OK",
					   REDUM_STACK_F_CONTACT, hdrs, NULL,
					   0));
	dum_ops->event_release(dum->tu, ev);

	if (!e) {
		end_with(s, "", 0);    /* unsubscribed: plain "terminated" */
		return;
	}

	set_expiry(s, e);
	s->dirty = true;               /* every SUBSCRIBE gets a NOTIFY */
	kick(s);
}


/* ---- a new SUBSCRIBE ---------------------------------------------------- */

static void no_answer(void *arg)
{
	struct ssub *s = arg;
	struct redum_dum *dum = s->u.dum;

	if (s->u.state != REDUM_SUBS_OFFERED || !s->st)
		return;

	dum_stack_err(dum, dum_ops->reply(dum->tu, s->st->id, 480,
					   "Temporarily Unavailable", 0, NULL,
					   NULL, 0));
	s->st->view = false;
	finish(s, "no-answer", 480, ETIMEDOUT);
}


static void accept_sub(struct ssub *s, uint16_t scode, const char *state,
		       const char *ctype, const void *body, size_t len)
{
	struct redum_dum *dum = s->u.dum;
	char hdrs[48];

	re_snprintf(hdrs, sizeof(hdrs), "Expires: %u\r\n", s->expires);
	dum_stack_err(dum, dum_ops->reply(dum->tu, s->st->id, scode,
					   dum_reason(scode),
					   REDUM_STACK_F_CONTACT, hdrs, NULL,
					   0));
	s->st->view = false;
	dum_st_free(s->st);
	s->st = NULL;

	dum_usage_set_state(&s->u, REDUM_SUBS_ACTIVE);
	list_append(&dum->subs->ssubl, &s->le, s);
	tmr_cancel(&s->tmr_exp);       /* the answer bound */
	if (s->expires) {
		set_expiry(s, s->expires);
	}
	else {
		/* a fetch: one NOTIFY, terminated, with the state */
		s->final_pend = true;
		str_ncpy(s->freason, "timeout", sizeof(s->freason));
	}
	/* sends the first NOTIFY (kick) */
	dum_ssub_set_state(&s->u, state && *state ? state :
			   (scode == 202 ? "pending" : "active"),
			   ctype, body, len);
}


void dum_ssub_request(struct redum_dum *dum, struct redum_stack_event *ev)
{
	const struct sip_msg *msg = ev->msg;
	struct sipevent_event se;
	const struct sip_hdr *hdr;
	struct dum_dlg *d;
	struct ssub *s;
	char hdrs[160];
	uint32_t e;
	int err;

	if (dum_congested(dum)) {
		dum_reply_503(dum, ev->id);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	hdr = sip_msg_hdr(msg, SIP_HDR_EVENT);
	if (!hdr || sipevent_event_decode(&se, &hdr->val) ||
	    !dum_sub_event_ok(dum->subs, &se.event)) {
		re_snprintf(hdrs, sizeof(hdrs), "Allow-Events: %s\r\n",
			    dum->subs->conf.events);
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 489,
				 "Bad Event", 0, hdrs, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	s = (struct ssub *)dum_usage_alloc(dum, sizeof(*s), &dum_ssub_class, 0,
					   REDUM_SUBS_OFFERED);
	if (!s) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
				 "Server Internal Error", 0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	tmr_init(&s->tmr_exp);
	tmr_init(&s->tmr_rate);
	s->posted = true;    /* no SUB_NEW yet: nothing to end for the app */

	e = expires_asked(s, msg);
	if (e && e < dum->subs->conf.min_expires) {
		re_snprintf(hdrs, sizeof(hdrs), "Min-Expires: %u\r\n",
			    dum->subs->conf.min_expires);
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 423,
				 "Interval Too Brief", 0, hdrs, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		dum_usage_free(&s->u);
		return;
	}
	s->expires = e;

	err = pl_strdup(&s->event, &se.event);
	if (!err)
		err = dum_sub_resource(s->resource, sizeof(s->resource), msg);
	s->st = err ? NULL : dum_st_new(&s->u, ev->id, ST_SUB);
	d = s->st ? dum_dlg_new(&s->u) : NULL;
	if (!d) {
		if (s->st)
			s->st->view = false;
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
				 "Server Internal Error", 0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		dum_usage_free(&s->u);
		return;
	}

	/* before any reply with our To-tag (the stack's rule) */
	err = dum_ops->dlg_accept(dum->tu, d->id, ev->id);
	if (err) {
		dum_stack_err(dum, err);
		s->st->view = false;
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
				 "Server Internal Error", 0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		dum_usage_free(&s->u);
		return;
	}
	d->in_stack = true;

	if (!dum->hd.sub.on_sub_new) {
		/* the presence agent takes it alone: the published state */
		const uint8_t *b = NULL;
		const char *ct = NULL;
		size_t bl = 0;

		dum_ops->event_release(dum->tu, ev);
		(void)dum_presence_current(dum, s->resource, &ct, &b, &bl);
		s->posted = false;
		accept_sub(s, 200, "active", ct, b, bl);
		return;
	}

	s->posted = false;
	post(s, REDUM_DUM_EV_SUB_NEW, msg, "", "", 0, 0);

	/* bounded: an application that never answers gets a 480 for it */
	tmr_start(&s->tmr_exp, dum->subs->conf.notify_wait_ms, no_answer, s);

	/* the request view stays until our final reply */
	dum_ops->event_release(dum->tu, ev);
}


static void ssub_srv_event(struct dum_usage *u, struct dum_st *st,
			   struct redum_stack_event *ev)
{
	struct ssub *s = (struct ssub *)u;
	struct redum_dum *dum = u->dum;

	dum_ops->event_release(dum->tu, ev);
	if (st == s->st) {
		/* our reply could not go out: the subscription never was */
		dum_ops->srv_release(dum->tu, st->id);
		st->view = false;
		dum_st_free(st);
		s->st = NULL;
		finish(s, "error", 0, EPROTO);
	}
}


/* ---- commands ---------------------------------------------------------- */

static void ssub_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct ssub *s = (struct ssub *)u;
	struct redum_dum *dum = u->dum;

	switch (cmd->type) {

	case DCMD_SUB_ACCEPT:
		if (u->state != REDUM_SUBS_OFFERED || !s->st)
			break;
		accept_sub(s, cmd->scode, cmd->method, cmd->ctype, cmd->body,
			   cmd->body_len);
		return;

	case DCMD_SUB_REJECT:
		if (u->state != REDUM_SUBS_OFFERED || !s->st)
			break;
		dum_stack_err(dum, dum_ops->reply(dum->tu, s->st->id,
				 cmd->scode, cmd->reason ? cmd->reason :
				 dum_reason(cmd->scode), 0, NULL, NULL, 0));
		s->st->view = false;
		finish(s, "rejected", cmd->scode, 0);
		return;

	case DCMD_SUB_NOTIFY:
		if (u->state != REDUM_SUBS_ACTIVE || s->final_pend)
			break;
		dum_ssub_set_state(u, cmd->method, cmd->ctype, cmd->body,
				   cmd->body_len);
		return;

	case DCMD_SUB_TERMINATE:
		if (u->state == REDUM_SUBS_OFFERED) {
			dum_stack_err(dum, dum_ops->reply(dum->tu, s->st->id,
					 480, "Temporarily Unavailable", 0,
					 NULL, NULL, 0));
			s->st->view = false;
			finish(s, "rejected", 480, 0);
			return;
		}
		end_with(s, cmd->method ? cmd->method : "",
			 cmd->reason ? (uint32_t)strtoul(cmd->reason, NULL,
							 10) : 0);
		return;

	default:
		break;
	}

	dum_post_error(dum, u->cls->type, u->h, EPROTO);
}


/* DUM stops: a final NOTIFY (bounded by the stop's give-up). */
static void ssub_end(struct dum_usage *u)
{
	struct ssub *s = (struct ssub *)u;
	struct redum_dum *dum = u->dum;

	if (u->state == REDUM_SUBS_OFFERED && s->st) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, s->st->id, 480,
				 "Temporarily Unavailable", 0, NULL, NULL,
				 0));
		s->st->view = false;
		finish(s, "shutdown", 480, 0);
		return;
	}

	/* no rate wait at shutdown */
	tmr_cancel(&s->tmr_rate);
	end_with(s, "deactivated", 0);
}


static void ssub_destroy(struct dum_usage *u)
{
	struct ssub *s = (struct ssub *)u;

	tmr_cancel(&s->tmr_exp);
	tmr_cancel(&s->tmr_rate);
	list_unlink(&s->le);
	if (!s->posted) {
		s->posted = true;
		post(s, REDUM_DUM_EV_SUB_TERMINATED, NULL, "terminated",
		     "shutdown", 0, ECONNABORTED);
	}
	mem_deref(s->event);
	mem_deref(s->state);
	mem_deref(s->ctype);
	mem_deref(s->body);
}


/* ---- public commands (any thread) ------------------------------------- */

int redum_sub_accept(struct redum_dum *dum, redum_dum_handle h,
		     uint16_t scode, const char *state, const char *ctype,
		     const void *body, size_t body_len)
{
	struct dum_cmd *cmd;

	if (!dum || !h || (scode != 200 && scode != 202))
		return EINVAL;

	cmd = dum_sub_cmd_alloc(DCMD_SUB_ACCEPT, h, NULL, state, NULL, ctype,
				body, body_len);
	if (cmd)
		cmd->scode = scode;
	return dum_cmd_push(dum, cmd);
}


int redum_sub_reject(struct redum_dum *dum, redum_dum_handle h,
		     uint16_t scode, const char *reason)
{
	struct dum_cmd *cmd;

	if (!dum || !h || scode < 300 || scode > 699)
		return EINVAL;

	cmd = dum_sub_cmd_alloc(DCMD_SUB_REJECT, h, NULL, NULL, reason, NULL,
				NULL, 0);
	if (cmd)
		cmd->scode = scode;
	return dum_cmd_push(dum, cmd);
}


int redum_sub_notify(struct redum_dum *dum, redum_dum_handle h,
		     const char *state, const char *ctype, const void *body,
		     size_t body_len)
{
	if (!dum || !h)
		return EINVAL;

	return dum_cmd_push(dum, dum_sub_cmd_alloc(DCMD_SUB_NOTIFY, h,
						       NULL, state, NULL,
						       ctype, body,
						       body_len));
}


int redum_sub_terminate(struct redum_dum *dum, redum_dum_handle h,
			const char *reason, uint32_t retry_after)
{
	char ra[16];

	if (!dum || !h)
		return EINVAL;

	snprintf(ra, sizeof(ra), "%u", retry_after);
	return dum_cmd_push(dum, dum_sub_cmd_alloc(DCMD_SUB_TERMINATE, h,
						       NULL, reason, ra,
						       NULL, NULL, 0));
}
