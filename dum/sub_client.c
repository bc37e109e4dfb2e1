/**
 * @file sub_client.c  The client subscription usage (RFC 6665) and the
 *                     glue of subscriptions/publications/pager into DUM
 *
 * Runs on the DUM thread. A client subscription is a UAC dialog made by
 * its SUBSCRIBE; NOTIFYs come in it as in-dialog requests. Every wait is
 * bounded:
 *  - the first NOTIFY after the 2xx: conf.notify_wait_ms (64*T1), then the
 *    subscription ends ("no-notify", timed_out);
 *  - the terminating NOTIFY after our unsubscribe (Expires: 0):
 *    conf.unsub_wait_ms (64*T1), then SUB_TERMINATED ("local-timeout",
 *    timed_out, err ETIMEDOUT), because a notifier that crashed never
 *    sends it and a shutdown must not hang on it;
 *  - every SUBSCRIBE transaction: the stack's Timer F.
 * Refresh: like registrations, E/2 for E <= 64 s, else E - 32 s. A failed
 * refresh (481 or any other final >= 300, or a transaction error) ends the
 * subscription: its remaining time is not worth a state machine of its
 * own, and the application resubscribes if it wants.
 * A NOTIFY before the 2xx (RFC 6665 4.1.2.4) comes in the early dialog
 * (the stack routes it there) and establishes it
 * (redum_stack_dlg_create_srv); the 2xx that follows then changes nothing.
 * A NOTIFY of another fork (another From-tag) is 481'd by the stack (no
 * dialog matches), which ends that fork's subscription (RFC 6665 4.1.2.4).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "sub_int.h"
#include "reg_int.h"

enum {
	CT_SUB = 1,      /* initial or refresh SUBSCRIBE */
	CT_UNSUB,
	DEFAULT_EXPIRES = 3600,
	DEFAULT_WAIT_MS = 32000,
};

struct csub {
	struct dum_usage u;
	char *event, *hdrs;
	uint32_t expires;        /* asked                                */
	struct dum_ct *ct;       /* SUBSCRIBE in flight (the latest)     */
	struct tmr tmr;          /* refresh                              */
	struct tmr tmr_wait;     /* first NOTIFY / final NOTIFY          */
	bool established;        /* the 2xx to the SUBSCRIBE came        */
	bool dlg_up;             /* the stack's dialog is established    */
	bool got_notify, unsub_asked, unsub_sent, posted;
	bool auth_now;           /* send_subscribe(): answer the challenge */
	char *target;            /* request URI (digest-uri): the command's,
				    then the notifier's Contact           */
	struct dum_auth auth;    /* digest (docs/DUM.md)                 */
};

static const char *const subc_states[REDUM_SUBC_STATE_COUNT] = {
	"subscribing", "wait-notify", "active", "pending", "unsubscribing",
};

static void subc_request(struct dum_usage *u, struct redum_stack_event *ev);
static void subc_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev);
static void subc_command(struct dum_usage *u, struct dum_cmd *cmd);
static void subc_end(struct dum_usage *u);
static void subc_destroy(struct dum_usage *u);

const struct dum_class dum_subc_class = {
	.type = REDUM_USAGE_SUBSCRIPTION_CLIENT,
	.nstates = REDUM_SUBC_STATE_COUNT,
	.state_names = subc_states,
	.dlg_methods = REDUM_STACK_MBIT(REDUM_STACK_M_NOTIFY),
	.request = subc_request,
	.response = subc_response,
	.command = subc_command,
	.end = subc_end,
	.destroy = subc_destroy,
};

#define SCNT_INC(d, f) do { if ((d)->subs) \
	atomic_fetch_add_explicit(&(d)->subs->f, 1, memory_order_relaxed); \
	} while (0)


/* ---- glue ------------------------------------------------------------- */

void redum_sub_conf_init(struct redum_sub_conf *conf)
{
	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	conf->events          = "presence";
	conf->unsub_wait_ms   = DEFAULT_WAIT_MS;
	conf->notify_wait_ms  = DEFAULT_WAIT_MS;
	conf->notify_min_ms   = 200;
	conf->min_expires     = 1;
	conf->max_expires     = 3600;
	conf->default_expires = DEFAULT_EXPIRES;
}


const struct dum_class *dum_sub_class_of(enum redum_usage_type t)
{
	switch (t) {
	case REDUM_USAGE_SUBSCRIPTION_CLIENT: return &dum_subc_class;
	case REDUM_USAGE_SUBSCRIPTION_SERVER: return &dum_ssub_class;
	case REDUM_USAGE_PUBLICATION_CLIENT:  return &dum_pubc_class;
	case REDUM_USAGE_PAGER:               return &dum_pager_class;
	default:                              return NULL;
	}
}


/* Always allocated (client usages need the defaults and counters). */
int dum_subs_alloc(struct redum_dum *dum, const struct redum_dum_conf *conf)
{
	struct dum_subs *s = calloc(1, sizeof(*s));

	if (!s)
		return ENOMEM;

	if (conf && conf->sub) {
		s->conf = *conf->sub;
		s->configured = true;
	}
	else {
		redum_sub_conf_init(&s->conf);
	}

	s->events = strdup(s->conf.events ? s->conf.events : "");
	if (!s->events) {
		free(s);
		return ENOMEM;
	}
	s->conf.events = s->events;
	if (!s->conf.unsub_wait_ms)
		s->conf.unsub_wait_ms = DEFAULT_WAIT_MS;
	if (!s->conf.notify_wait_ms)
		s->conf.notify_wait_ms = DEFAULT_WAIT_MS;
	if (!s->conf.default_expires)
		s->conf.default_expires = DEFAULT_EXPIRES;
	if (!s->conf.max_expires)
		s->conf.max_expires = DEFAULT_EXPIRES;

	dum->subs = s;
	return 0;
}


static bool takes_subscribe(const struct redum_dum *dum)
{
	return dum->subs && dum->subs->configured &&
		(dum->hd.sub.on_sub_new || dum->subs->conf.presence_agent);
}


uint32_t dum_subs_methods(const struct redum_dum *dum)
{
	uint32_t m = 0;

	if (!dum->subs || !dum->subs->configured)
		return 0;
	if (takes_subscribe(dum))
		m |= REDUM_STACK_MBIT(REDUM_STACK_M_SUBSCRIBE);
	if (dum->subs->conf.pub_store)
		m |= REDUM_STACK_MBIT(REDUM_STACK_M_PUBLISH);
	if (dum->subs->conf.pager)
		m |= REDUM_STACK_MBIT(REDUM_STACK_M_MESSAGE);
	return m;
}


void dum_subs_init(struct redum_dum *dum)
{
	if (!dum->subs || !dum->subs->configured)
		return;
	if (takes_subscribe(dum))
		dum_route_method(dum, REDUM_STACK_M_SUBSCRIBE,
				 dum_ssub_request);
	if (dum->subs->conf.pub_store)
		dum_route_method(dum, REDUM_STACK_M_PUBLISH,
				 dum_pubs_request);
	/* after dum_ood_init: the pager takes MESSAGE from on_request */
	if (dum->subs->conf.pager)
		dum_route_method(dum, REDUM_STACK_M_MESSAGE,
				 dum_pager_request);
}


void dum_subs_create(struct redum_dum *dum, struct dum_cmd *cmd)
{
	enum redum_usage_type ut =
		cmd->type == DCMD_SUBSCRIBE ? REDUM_USAGE_SUBSCRIPTION_CLIENT :
		cmd->type == DCMD_PUBLISH ? REDUM_USAGE_PUBLICATION_CLIENT :
		REDUM_USAGE_PAGER;

	if (dum->phase != PH_RUNNING) {
		dum_post_error(dum, ut, cmd->h, ESHUTDOWN);
		return;
	}

	switch (cmd->type) {
	case DCMD_SUBSCRIBE: dum_subc_new(dum, cmd);  break;
	case DCMD_PUBLISH:   dum_pubc_new(dum, cmd);  break;
	default:             dum_pager_new(dum, cmd); break;
	}
}


void dum_subs_teardown(struct redum_dum *dum)
{
	if (dum->subs)
		dum_pubs_teardown(dum);
}


void dum_subs_free(struct redum_dum *dum)
{
	if (!dum->subs)
		return;
	free(dum->subs->events);
	free(dum->subs);
	dum->subs = NULL;
}


#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void redum_sub_stats(const struct redum_dum *dum, struct redum_sub_stats *st)
{
	const struct dum_subs *s;

	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!dum || !dum->subs)
		return;

	s = dum->subs;
	st->notifies_in        = LD(((struct dum_subs *)s)->notifies_in);
	st->notifies_out       = LD(((struct dum_subs *)s)->notifies_out);
	st->notifies_coalesced =
		LD(((struct dum_subs *)s)->notifies_coalesced);
	st->sub_timeouts       = LD(((struct dum_subs *)s)->sub_timeouts);
	st->sub_expired        = LD(((struct dum_subs *)s)->sub_expired);
	st->publish_in         = LD(((struct dum_subs *)s)->publish_in);
	st->pub_412            = LD(((struct dum_subs *)s)->pub_412);
	st->pub_489            = LD(((struct dum_subs *)s)->pub_489);
	st->pub_expired        = LD(((struct dum_subs *)s)->pub_expired);
	st->pub_entries        = LD(((struct dum_subs *)s)->pub_entries);
	st->messages_in        = LD(((struct dum_subs *)s)->messages_in);
	st->messages_auto200   = LD(((struct dum_subs *)s)->messages_auto200);
	st->presence_fanout    = LD(((struct dum_subs *)s)->presence_fanout);
	st->notify_481_retries =
		LD(((struct dum_subs *)s)->notify_481_retries);
}


/* ---- helpers ---------------------------------------------------------- */

static size_t ssz(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}


static const char *scpy(char **pp, const char *s, size_t l)
{
	char *d = *pp;

	if (l && s)
		memcpy(d, s, l);
	d[l] = '\0';
	*pp = d + l + 1;
	return d;
}


static const char *spl(char **pp, const struct pl *pl)
{
	return scpy(pp, pl ? pl->p : NULL, pl ? pl->l : 0);
}


static const char *sstr(char **pp, const char *s)
{
	return scpy(pp, s, s ? strlen(s) : 0);
}


struct redum_dum_event *dum_sub_ev(struct redum_dum *dum,
				   enum redum_usage_type ut,
				   redum_dum_handle h,
				   enum redum_dum_ev_type type,
				   const struct sip_msg *msg,
				   const struct redum_sub_info *info,
				   const char *ctype, const void *body,
				   size_t body_len)
{
	struct redum_sub_info none, *si;
	struct redum_dum_event *ev;
	struct redum_dum_msg *m;
	struct pl bpl = PL_INIT;
	size_t sz;
	char *p;
	void *x;

	if (!info) {
		memset(&none, 0, sizeof(none));
		info = &none;
	}

	if (msg) {
		if (msg->mb && mbuf_get_left(msg->mb)) {
			bpl.p = (const char *)mbuf_buf(msg->mb);
			bpl.l = mbuf_get_left(msg->mb);
		}
	}
	else if (body && body_len) {
		bpl.p = body;
		bpl.l = body_len;
	}

	sz = sizeof(*si) + ssz(info->event) + ssz(info->state) +
		ssz(info->reason) + ssz(info->resource) + ssz(info->etag) +
		bpl.l + 1 + ssz(ctype) + 8;
	if (msg)
		sz += msg->met.l + msg->cseq.met.l + msg->reason.l +
			msg->ruri.l + msg->from.val.l + msg->to.val.l +
			msg->callid.l + msg->ctyp.type.l +
			msg->ctyp.subtype.l + 8;

	ev = dum_ev_new_ext(dum, ut, h, type, sz, &x);
	if (!ev)
		return NULL;

	si = x;
	*si = *info;
	p = (char *)(si + 1);
	si->event    = sstr(&p, info->event);
	si->state    = sstr(&p, info->state);
	si->reason   = sstr(&p, info->reason);
	si->resource = sstr(&p, info->resource);
	si->etag     = sstr(&p, info->etag);
	ev->sub = si;

	m = &ev->msg;
	if (msg) {
		ev->has_msg = true;
		m->method  = spl(&p, msg->req ? &msg->met : &msg->cseq.met);
		m->scode   = msg->req ? 0 : msg->scode;
		m->reason  = msg->req ? "" : spl(&p, &msg->reason);
		m->ruri    = msg->req ? spl(&p, &msg->ruri) : "";
		m->from    = spl(&p, &msg->from.val);
		m->to      = spl(&p, &msg->to.val);
		m->call_id = spl(&p, &msg->callid);
		m->cseq    = msg->cseq.num;
		if (pl_isset(&msg->ctyp.type)) {
			char *c = p;

			memcpy(p, msg->ctyp.type.p, msg->ctyp.type.l);
			p += msg->ctyp.type.l;
			*p++ = '/';
			memcpy(p, msg->ctyp.subtype.p, msg->ctyp.subtype.l);
			p += msg->ctyp.subtype.l;
			*p++ = '\0';
			m->ctype = c;
		}
		if (!msg->req)
			ev->scode = msg->scode;
	}
	else if (ctype) {
		m->ctype = sstr(&p, ctype);
	}

	if (bpl.l) {
		m->body = (const uint8_t *)spl(&p, &bpl);
		m->body_len = bpl.l;
	}

	return ev;
}


bool dum_sub_event_ok(const struct dum_subs *s, const struct pl *event)
{
	struct pl rest, tok;

	if (!s || !event || !pl_isset(event))
		return false;

	pl_set_str(&rest, s->conf.events);
	while (rest.l) {
		if (re_regex(rest.p, rest.l, "[ \t]*[^, \t]+", NULL, &tok))
			return false;
		if (!pl_casecmp(&tok, event))
			return true;
		rest.l -= (size_t)(tok.p + tok.l - rest.p);
		rest.p = tok.p + tok.l;
		while (rest.l && (*rest.p == ',' || *rest.p == ' ')) {
			++rest.p;
			--rest.l;
		}
	}
	return false;
}


/* "user@host" of the request URI: the resource both a SUBSCRIBE and a
 * PUBLISH name (the port is left out: a presentity, not a socket). */
int dum_sub_resource(char *buf, size_t sz, const struct sip_msg *msg)
{
	struct uri uri;
	struct pl r = msg->ruri;

	if (uri_decode(&uri, &r))
		return EINVAL;

	if (re_snprintf(buf, sz, "%r@%r", &uri.user, &uri.host) < 0)
		return ENOMEM;

	return 0;
}


uint64_t dum_sub_refresh_ms(uint32_t granted)
{
	return granted <= 64 ? (uint64_t)granted * 500 :
		(uint64_t)(granted - 32) * 1000;
}


int dum_sub_sdup(char **dst, const char *s)
{
	if (!s || !*s) {
		*dst = NULL;
		return 0;
	}
	return str_dup(dst, s);
}


/* Packing of our commands: req's strings in uri/to/from/from_name/route/
 * hdrs; @p s1 in cmd->method (an event package or a state), @p s2 in
 * cmd->reason (a reason, or a number in decimal: expires). */
struct dum_cmd *dum_sub_cmd_alloc(enum dum_cmd_type type, redum_dum_handle h,
				  const struct redum_sub_req *req,
				  const char *s1, const char *s2,
				  const char *ctype, const void *body,
				  size_t body_len)
{
	struct dum_cmd s = {0};

	if (req) {
		s.uri       = req->uri;
		s.to        = req->to;
		s.from      = req->from;
		s.from_name = req->from_name;
		s.route     = req->route;
		s.hdrs      = req->hdrs;
	}
	s.method = s1;
	s.reason = s2;
	s.ctype  = ctype;

	return dum_cmd_new(type, h, &s, body, body_len);
}


/* ---- client subscription ------------------------------------------------ */

static struct dum_subs *subs_of(const struct csub *c)
{
	return c->u.dum->subs;
}


static void post(struct csub *c, enum redum_dum_ev_type type,
		 const struct sip_msg *msg, const char *state,
		 const char *reason, uint32_t expires, uint32_t retry_after,
		 bool timed_out, uint16_t scode, int err)
{
	struct redum_sub_info info;
	struct redum_dum_event *ev;

	memset(&info, 0, sizeof(info));
	info.event = c->event;
	info.state = state;
	info.reason = reason;
	info.expires = expires;
	info.retry_after = retry_after;
	info.timed_out = timed_out;

	ev = dum_sub_ev(c->u.dum, REDUM_USAGE_SUBSCRIPTION_CLIENT, c->u.h,
			type, msg, &info, NULL, NULL, 0);
	if (ev) {
		if (scode)
			ev->scode = scode;
		ev->err = err;
	}
	if (type == REDUM_DUM_EV_SUB_TERMINATED ||
	    type == REDUM_DUM_EV_SUB_FAILURE)
		c->posted = true;
	dum_ev_post(c->u.dum, ev);
}


/* Ends the usage with SUB_TERMINATED (the dialog goes with it). */
static void terminate(struct csub *c, const struct sip_msg *msg,
		      const char *reason, uint32_t retry_after,
		      bool timed_out, uint16_t scode, int err)
{
	post(c, REDUM_DUM_EV_SUB_TERMINATED, msg, "terminated", reason, 0,
	     retry_after, timed_out, scode, err);
	dum_usage_free(&c->u);
}


static int send_subscribe(struct csub *c, uint32_t expires, int kind)
{
	struct redum_dum *dum = c->u.dum;
	struct dum_ct *ct;
	char *hdrs = NULL, *ah = NULL;
	int err;

	if (c->auth_now) {
		err = dum_auth_hdr(dum, &c->auth, &ah, "SUBSCRIBE",
				   c->target ? c->target : "");
		if (err)
			return err;
	}

	err = re_sdprintf(&hdrs, "Event: %s\r\nExpires: %u\r\n%s%s",
			  c->event, expires, ah ? ah : "",
			  c->hdrs ? c->hdrs : "");
	mem_deref(ah);
	if (err)
		return err;

	ct = dum_ct_new(&c->u, kind);
	if (!ct) {
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->drequest(dum->tu, ct->token, c->u.dlg->id,
				REDUM_STACK_F_CONTACT, "SUBSCRIBE", hdrs,
				NULL, 0);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		dum_ct_free(ct);
		return err;
	}

	/* only the latest SUBSCRIBE's answer matters */
	if (c->ct)
		dum_ct_free(c->ct);
	c->ct = ct;
	return 0;
}


static void wait_expired(void *arg)
{
	struct csub *c = arg;

	SCNT_INC(c->u.dum, sub_timeouts);
	if (c->unsub_sent)
		terminate(c, NULL, "local-timeout", 0, true, 0, ETIMEDOUT);
	else
		terminate(c, NULL, "no-notify", 0, true, 0, ETIMEDOUT);
}


static void unsubscribe_now(struct csub *c)
{
	int err;

	c->unsub_sent = true;
	tmr_cancel(&c->tmr);
	dum_usage_set_state(&c->u, REDUM_SUBC_UNSUBSCRIBING);

	err = send_subscribe(c, 0, CT_UNSUB);
	if (err) {
		terminate(c, NULL, "unsubscribed", 0, false, 0, err);
		return;
	}

	/* bounded: a notifier that died never sends the final NOTIFY */
	tmr_start(&c->tmr_wait, subs_of(c)->conf.unsub_wait_ms,
		  wait_expired, c);
}


static void refresh_fired(void *arg)
{
	struct csub *c = arg;
	int err;

	if (c->unsub_sent)
		return;

	err = send_subscribe(c, c->expires, CT_SUB);
	if (err)
		terminate(c, NULL, "refresh-failed", 0, false, 0, err);
}


static void schedule_refresh(struct csub *c, uint32_t granted)
{
	if (!granted)
		return;
	tmr_start(&c->tmr, dum_sub_refresh_ms(granted), refresh_fired, c);
}


static uint32_t expires_of(const struct sip_msg *msg, uint32_t dflt)
{
	return pl_isset(&msg->expires) ? pl_u32(&msg->expires) : dflt;
}


/* The notifier's Contact, the target of our next requests. */
static void set_target(struct csub *c, const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr addr;
	char *t = NULL;

	if (!h || sip_addr_decode(&addr, &h->val) ||
	    pl_strdup(&t, &addr.auri))
		return;

	mem_deref(c->target);
	c->target = t;
}


static void subc_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev)
{
	struct csub *c = (struct csub *)u;
	struct redum_dum *dum = u->dum;
	const struct sip_msg *msg = ev->msg;
	uint16_t scode = 0;
	uint32_t granted;
	int kind = ct->kind, err = 0;
	bool latest = ct == c->ct;

	if (ev->type == REDUM_STACK_EV_RESPONSE && msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	dum_ct_free(ct);
	if (latest)
		c->ct = NULL;

	if (ev->type == REDUM_STACK_EV_RESPONSE)
		scode = msg->scode;
	else
		err = ev->err ? ev->err : EPROTO;

	/* challenged (initial, refresh or un-SUBSCRIBE): the same request
	 * again, a new CSeq in the same stack dialog, once per new nonce */
	if ((scode == 401 || scode == 407) && latest &&
	    dum_auth_retry(dum, &c->auth, msg) == 0) {
		c->auth_now = true;
		err = send_subscribe(c, kind == CT_UNSUB ? 0 : c->expires,
				     kind);
		c->auth_now = false;
		if (!err) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		scode = 0;   /* reported below as the send error */
	}
	else if (scode >= 200 && scode < 300) {
		dum_auth_ok(&c->auth);
		set_target(c, msg);
	}

	/* ---- the initial SUBSCRIBE ---- */
	if (!c->established) {
		if (scode < 200 || scode >= 300) {
			post(c, REDUM_DUM_EV_SUB_FAILURE,
			     scode ? msg : NULL, "terminated", "", 0, 0,
			     false, scode, err);
			dum_ops->event_release(dum->tu, ev);
			dum_usage_free(u);
			return;
		}

		granted = expires_of(msg, c->expires);
		err = dum_ops->dlg_create(dum->tu, u->dlg->id, ev);
		if (err) {
			dum_ops->event_release(dum->tu, ev);
			dum_stack_err(dum, err);
			post(c, REDUM_DUM_EV_SUB_FAILURE, NULL, "terminated",
			     "", 0, 0, false, 0, err);
			dum_usage_free(u);
			return;
		}
		c->established = true;
		c->dlg_up = true;

		if (c->unsub_asked) {
			unsubscribe_now(c);
			return;
		}

		schedule_refresh(c, granted);
		if (!c->got_notify) {
			dum_usage_set_state(u, REDUM_SUBC_WAIT_NOTIFY);
			tmr_start(&c->tmr_wait,
				  subs_of(c)->conf.notify_wait_ms,
				  wait_expired, c);
		}
		return;
	}

	/* ---- refresh or unsubscribe ---- */
	if (kind == CT_UNSUB) {
		if (scode >= 200 && scode < 300) {
			/* the final NOTIFY is awaited (tmr_wait) */
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		/* the notifier knows nothing of us any more: done */
		terminate(c, scode ? msg : NULL, "unsubscribed", 0, false,
			  scode, err);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (c->unsub_sent || !latest) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (scode >= 200 && scode < 300) {
		schedule_refresh(c, expires_of(msg, c->expires));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	/* 481 (the notifier forgot us) or any other failure ends it */
	terminate(c, scode ? msg : NULL, "refresh-failed", 0, false, scode,
		  err);
	dum_ops->event_release(dum->tu, ev);
}


static void subc_request(struct dum_usage *u, struct redum_stack_event *ev)
{
	struct csub *c = (struct csub *)u;
	struct redum_dum *dum = u->dum;
	const struct sip_msg *msg = ev->msg;
	const struct sip_hdr *hdr;
	struct pl state = PL_INIT, reason = PL_INIT, ex = PL_INIT;
	struct pl ra = PL_INIT;
	char st[16], rs[32];
	uint32_t expires = 0, retry = 0;

	SCNT_INC(dum, notifies_in);

	hdr = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	if (!hdr || re_regex(hdr->val.p, hdr->val.l, "[a-z]+", &state)) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 400,
				 "Bad Request (Subscription-State)", 0, NULL,
				 NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	(void)msg_param_decode(&hdr->val, "reason", &reason);
	if (!msg_param_decode(&hdr->val, "expires", &ex))
		expires = pl_u32(&ex);
	if (!msg_param_decode(&hdr->val, "retry-after", &ra))
		retry = pl_u32(&ra);
	(void)pl_strcpy(&state, st, sizeof(st));
	(void)pl_strcpy(&reason, rs, sizeof(rs));

	/* a NOTIFY before the 2xx (RFC 6665 4.1.2.4), routed to our early
	 * dialog by the stack: it establishes the dialog (before our reply,
	 * which hands the request back); the 2xx then changes nothing */
	if (!c->dlg_up) {
		int err = dum_ops->dlg_create_srv ?
			dum_ops->dlg_create_srv(dum->tu, u->dlg->id, ev->id) :
			ENOSYS;

		dum_stack_err(dum, err);
		c->dlg_up = !err;
	}

	c->got_notify = true;

	if (!pl_strcasecmp(&state, "terminated")) {
		struct redum_dum_event *e;
		struct redum_sub_info info;

		memset(&info, 0, sizeof(info));
		info.event = c->event;
		info.state = "terminated";
		info.reason = rs;
		info.retry_after = retry;
		e = dum_sub_ev(dum, u->cls->type, u->h,
			       REDUM_DUM_EV_SUB_TERMINATED, msg, &info, NULL,
			       NULL, 0);
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 200, "OK",
						   0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		c->posted = true;
		dum_ev_post(dum, e);
		dum_usage_free(u);
		return;
	}

	if (c->u.state != REDUM_SUBC_UNSUBSCRIBING) {
		tmr_cancel(&c->tmr_wait);
		dum_usage_set_state(u, pl_strcasecmp(&state, "pending") ?
				    REDUM_SUBC_ACTIVE : REDUM_SUBC_PENDING);
		/* the notifier may shorten our time: refresh in time */
		if (expires && c->established && c->expires > expires)
			schedule_refresh(c, expires);
	}

	post(c, REDUM_DUM_EV_SUB_UPDATE, msg, st, rs, expires, 0, false, 0,
	     0);
	dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 200, "OK", 0, NULL,
					   NULL, 0));
	dum_ops->event_release(dum->tu, ev);
}


static void subc_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct csub *c = (struct csub *)u;

	switch (cmd->type) {

	case DCMD_UNSUBSCRIBE:
		if (c->unsub_sent || c->unsub_asked)
			return;
		if (!c->established) {
			c->unsub_asked = true;  /* after the 2xx */
			return;
		}
		unsubscribe_now(c);
		return;

	default:
		dum_post_error(u->dum, u->cls->type, u->h, EPROTO);
		return;
	}
}


static void subc_end(struct dum_usage *u)
{
	struct csub *c = (struct csub *)u;

	if (c->unsub_sent)
		return;
	if (!c->established) {
		c->unsub_asked = true;
		return;
	}
	unsubscribe_now(c);
}


static void subc_destroy(struct dum_usage *u)
{
	struct csub *c = (struct csub *)u;

	tmr_cancel(&c->tmr);
	tmr_cancel(&c->tmr_wait);
	if (!c->posted) {
		/* freed by the stop's give-up: the app still hears of it */
		c->posted = true;
		post(c, REDUM_DUM_EV_SUB_TERMINATED, NULL, "terminated",
		     "shutdown", 0, 0, true, 0, ECONNABORTED);
	}
	mem_deref(c->event);
	mem_deref(c->hdrs);
	mem_deref(c->target);
	dum_auth_reset(&c->auth);
}


/* The command (redum_sub_subscribe): uri, to, from, from_name, route, hdrs;
 * method = event, reason = expires (decimal). */
void dum_subc_new(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_dlg *d;
	struct csub *c;
	int err;

	c = (struct csub *)dum_usage_alloc(dum, sizeof(*c), &dum_subc_class,
					   cmd->h, REDUM_SUBC_SUBSCRIBING);
	if (!c) {
		dum_post_error(dum, REDUM_USAGE_SUBSCRIPTION_CLIENT, cmd->h,
			       ENOMEM);
		return;
	}
	tmr_init(&c->tmr);
	tmr_init(&c->tmr_wait);
	c->posted = true;   /* errors below are reported as SUB_FAILURE */

	err  = dum_sub_sdup(&c->event, cmd->method);
	err |= dum_sub_sdup(&c->hdrs, cmd->hdrs);
	err |= dum_sub_sdup(&c->target, cmd->uri);
	if (err) {
		err = ENOMEM;
		goto fail;
	}
	c->expires = cmd->reason ? (uint32_t)strtoul(cmd->reason, NULL, 10)
		: 0;
	if (!c->expires)
		c->expires = DEFAULT_EXPIRES;

	d = dum_dlg_new(&c->u);
	if (!d) {
		err = ENOMEM;
		goto fail;
	}
	if (cmd->route)
		err = dum_ops->dlg_alloc_route(dum->tu, d->id, cmd->uri,
					       cmd->to ? cmd->to : cmd->uri,
					       cmd->from_name, cmd->from,
					       cmd->route);
	else
		err = dum_ops->dlg_alloc(dum->tu, d->id, cmd->uri,
					 cmd->to ? cmd->to : cmd->uri,
					 cmd->from_name, cmd->from);
	if (err)
		goto fail;
	d->in_stack = true;

	err = send_subscribe(c, c->expires, CT_SUB);
	if (err)
		goto fail;

	c->posted = false;
	return;

 fail:
	dum_stack_err(dum, err);
	post(c, REDUM_DUM_EV_SUB_FAILURE, NULL, "terminated", "", 0, 0, false,
	     0, err);
	dum_usage_free(&c->u);
}


/* ---- public commands (any thread) ------------------------------------- */

int redum_sub_subscribe(struct redum_dum *dum, redum_dum_handle *hp,
			const struct redum_sub_req *req)
{
	struct dum_cmd *cmd;
	char ex[16];
	int err;

	if (!dum || !hp || !req || !req->uri || !req->from || !req->event ||
	    !*req->event)
		return EINVAL;

	snprintf(ex, sizeof(ex), "%u", req->expires);
	cmd = dum_sub_cmd_alloc(DCMD_SUBSCRIBE, dum_new_handle(dum), req,
				req->event, ex, NULL, NULL, 0);
	if (!cmd)
		return ENOMEM;

	*hp = cmd->h;
	err = dum_cmd_push(dum, cmd);
	if (err)
		*hp = 0;
	return err;
}


int redum_sub_unsubscribe(struct redum_dum *dum, redum_dum_handle h)
{
	if (!dum || !h)
		return EINVAL;
	return dum_cmd_push(dum, dum_sub_cmd_alloc(DCMD_UNSUBSCRIBE, h,
						       NULL, NULL, NULL,
						       NULL, NULL, 0));
}
