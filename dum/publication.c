/**
 * @file publication.c  Publications (RFC 3903): the client usage and the
 *                      DUM-owned server store
 *
 * Runs on the DUM thread.
 *
 * Client: one usage per published state. The initial PUBLISH carries the
 * body; the 2xx's SIP-ETag names the state; a refresh (before expiry, same
 * rule as registrations) is a PUBLISH with SIP-If-Match and no body; a
 * modify carries SIP-If-Match and the new body; remove is Expires: 0. One
 * PUBLISH in flight: a modify or remove asked meanwhile waits for its
 * answer. A 412 (the server lost our ETag) re-publishes the full state once
 * without SIP-If-Match; a 423 retries once with Min-Expires.
 *
 * Server store: entries (resource "user@host", event, ETag, body) with an
 * expiry timer each. A PUBLISH for an event package not in conf.events gets
 * 489 Bad Event; a SIP-If-Match naming no entry of that resource and event
 * gets 412. A linear list: the store is meant for a presence agent of a
 * few thousand presentities, not a database.
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
	CT_PUB = 1,
	DEFAULT_EXPIRES = 3600,
};

#define SCNT_INC(d, f) \
	atomic_fetch_add_explicit(&(d)->subs->f, 1, memory_order_relaxed)
#define SCNT_DEC(d, f) \
	atomic_fetch_sub_explicit(&(d)->subs->f, 1, memory_order_relaxed)


/* ---- client ------------------------------------------------------------ */

struct cpub {
	struct dum_usage u;
	char *uri, *to, *from, *route, *event, *hdrs, *ctype, *etag;
	uint8_t *body;
	size_t body_len;
	char callid[36], ftag[20];
	uint32_t cseq, expires;
	struct tmr tmr;
	struct dum_ct *ct;
	bool modify_pend, remove_pend, removing, sent_body, tried_412;
	bool tried_423;
	bool sent_match;             /* the last PUBLISH had SIP-If-Match  */
	bool auth_now;               /* send_publish(): answer the challenge */
	struct dum_auth auth;        /* digest (docs/DUM.md)               */
};

static const char *const pub_states[REDUM_PUB_STATE_COUNT] = {
	"publishing", "published", "removing",
};

static void pubc_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev);
static void pubc_command(struct dum_usage *u, struct dum_cmd *cmd);
static void pubc_end(struct dum_usage *u);
static void pubc_destroy(struct dum_usage *u);

const struct dum_class dum_pubc_class = {
	.type = REDUM_USAGE_PUBLICATION_CLIENT,
	.nstates = REDUM_PUB_STATE_COUNT,
	.state_names = pub_states,
	.response = pubc_response,
	.command = pubc_command,
	.end = pubc_end,
	.destroy = pubc_destroy,
};


static void pub_post(struct cpub *p, enum redum_dum_ev_type type,
		     uint32_t expires, uint16_t scode, int err)
{
	struct redum_sub_info info;
	struct redum_dum_event *ev;

	memset(&info, 0, sizeof(info));
	info.event = p->event;
	info.etag = p->etag;
	info.expires = expires;
	info.removed = type == REDUM_DUM_EV_PUB_REMOVED;

	ev = dum_sub_ev(p->u.dum, REDUM_USAGE_PUBLICATION_CLIENT, p->u.h,
			type, NULL, &info, NULL, NULL, 0);
	if (ev) {
		ev->scode = scode;
		ev->err = err;
	}
	dum_ev_post(p->u.dum, ev);
}


static void pub_end(struct cpub *p, enum redum_dum_ev_type type,
		    uint16_t scode, int err)
{
	pub_post(p, type, 0, scode, err);
	dum_usage_free(&p->u);
}


/* @p with_body: initial or modify; @p match: SIP-If-Match with our etag */
static int send_publish(struct cpub *p, uint32_t expires, bool with_body,
			bool match)
{
	struct redum_dum *dum = p->u.dum;
	struct dum_ct *ct;
	char *hdrs = NULL, *ah = NULL;
	int err;

	if (p->auth_now) {
		err = dum_auth_hdr(dum, &p->auth, &ah, "PUBLISH", p->uri);
		if (err)
			return err;
	}

	err = re_sdprintf(&hdrs,
			  "%s"
			  "To: <%s>\r\n"
			  "From: <%s>;tag=%s\r\n"
			  "Call-ID: %s\r\n"
			  "CSeq: %u PUBLISH\r\n"
			  "Event: %s\r\n"
			  "Expires: %u\r\n"
			  "%s%s%s"
			  "%s%s%s"
			  "%s",
			  ah ? ah : "",
			  p->to ? p->to : p->uri, p->from, p->ftag, p->callid,
			  ++p->cseq, p->event, expires,
			  match ? "SIP-If-Match: " : "",
			  match ? p->etag : "", match ? "\r\n" : "",
			  with_body ? "Content-Type: " : "",
			  with_body ? (p->ctype ? p->ctype : "text/plain") :
			  "", with_body ? "\r\n" : "",
			  p->hdrs ? p->hdrs : "");
	mem_deref(ah);
	if (err)
		return err;

	ct = dum_ct_new(&p->u, CT_PUB);
	if (!ct) {
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->request(dum->tu, ct->token, 0, "PUBLISH", p->uri,
			       p->route, hdrs, with_body ? p->body : NULL,
			       with_body ? p->body_len : 0);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		dum_ct_free(ct);
		return err;
	}

	p->ct = ct;
	p->sent_body = with_body;
	p->sent_match = match;
	return 0;
}


static void pub_refresh(void *arg)
{
	struct cpub *p = arg;
	int err;

	if (p->ct || p->removing)
		return;
	dum_usage_set_state(&p->u, REDUM_PUB_PUBLISHING);
	err = send_publish(p, p->expires, false, true);
	if (err)
		pub_end(p, REDUM_DUM_EV_PUB_FAILURE, 0, err);
}


static void do_remove(struct cpub *p)
{
	int err;

	p->remove_pend = false;
	tmr_cancel(&p->tmr);
	if (!p->etag) {
		pub_end(p, REDUM_DUM_EV_PUB_REMOVED, 0, 0);
		return;
	}
	p->removing = true;
	dum_usage_set_state(&p->u, REDUM_PUB_REMOVING);
	err = send_publish(p, 0, false, true);
	if (err)
		pub_end(p, REDUM_DUM_EV_PUB_REMOVED, 0, err);
}


/* After an answer: what was asked meanwhile. */
static void next_step(struct cpub *p)
{
	int err;

	if (p->remove_pend) {
		do_remove(p);
		return;
	}
	if (p->modify_pend && p->etag) {
		p->modify_pend = false;
		dum_usage_set_state(&p->u, REDUM_PUB_PUBLISHING);
		err = send_publish(p, p->expires, true, true);
		if (err)
			pub_end(p, REDUM_DUM_EV_PUB_FAILURE, 0, err);
	}
}


static void pubc_response(struct dum_usage *u, struct dum_ct *ct,
			  struct redum_stack_event *ev)
{
	struct cpub *p = (struct cpub *)u;
	struct redum_dum *dum = u->dum;
	const struct sip_msg *msg = ev->msg;
	const struct sip_hdr *hdr;
	uint16_t scode = 0;
	uint32_t granted;
	int err = 0;

	if (ev->type == REDUM_STACK_EV_RESPONSE && msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	if (ct == p->ct)
		p->ct = NULL;
	dum_ct_free(ct);

	if (ev->type != REDUM_STACK_EV_RESPONSE) {
		err = ev->err ? ev->err : EPROTO;
		dum_ops->event_release(dum->tu, ev);
		pub_end(p, p->removing ? REDUM_DUM_EV_PUB_REMOVED :
			REDUM_DUM_EV_PUB_FAILURE, 0, err);
		return;
	}

	scode = msg->scode;

	/* challenged: the same PUBLISH again (new CSeq) with credentials,
	 * once per new nonce */
	if ((scode == 401 || scode == 407) &&
	    dum_auth_retry(dum, &p->auth, msg) == 0) {
		dum_ops->event_release(dum->tu, ev);
		p->auth_now = true;
		err = send_publish(p, p->removing ? 0 : p->expires,
				   p->sent_body, p->sent_match);
		p->auth_now = false;
		if (err)
			pub_end(p, p->removing ? REDUM_DUM_EV_PUB_REMOVED :
				REDUM_DUM_EV_PUB_FAILURE, scode, err);
		return;
	}

	if (scode < 300) {
		dum_auth_ok(&p->auth);
		if (p->removing) {
			dum_ops->event_release(dum->tu, ev);
			pub_end(p, REDUM_DUM_EV_PUB_REMOVED, scode, 0);
			return;
		}
		hdr = sip_msg_hdr(msg, SIP_HDR_SIP_ETAG);
		if (hdr) {
			p->etag = mem_deref(p->etag);
			(void)pl_strdup(&p->etag, &hdr->val);
		}
		granted = pl_isset(&msg->expires) ? pl_u32(&msg->expires) :
			p->expires;
		dum_ops->event_release(dum->tu, ev);
		p->tried_412 = p->tried_423 = false;
		dum_usage_set_state(u, REDUM_PUB_PUBLISHED);
		if (granted)
			tmr_start(&p->tmr, dum_sub_refresh_ms(granted),
				  pub_refresh, p);
		pub_post(p, REDUM_DUM_EV_PUB_SUCCESS, granted, scode, 0);
		next_step(p);
		return;
	}

	if (scode == 412 && !p->removing && !p->tried_412 && p->body_len) {
		/* the server lost our state: publish it afresh */
		dum_ops->event_release(dum->tu, ev);
		p->tried_412 = true;
		p->etag = mem_deref(p->etag);
		err = send_publish(p, p->expires, true, false);
		if (err)
			pub_end(p, REDUM_DUM_EV_PUB_FAILURE, scode, err);
		return;
	}

	if (scode == 423 && !p->removing && !p->tried_423) {
		hdr = sip_msg_hdr(msg, SIP_HDR_MIN_EXPIRES);
		if (hdr && pl_u32(&hdr->val) > p->expires) {
			p->expires = pl_u32(&hdr->val);
			p->tried_423 = true;
			dum_ops->event_release(dum->tu, ev);
			err = send_publish(p, p->expires, p->sent_body,
					   p->etag != NULL);
			if (err)
				pub_end(p, REDUM_DUM_EV_PUB_FAILURE, scode,
					err);
			return;
		}
	}

	dum_ops->event_release(dum->tu, ev);
	pub_end(p, p->removing ? REDUM_DUM_EV_PUB_REMOVED :
		REDUM_DUM_EV_PUB_FAILURE, scode, 0);
}


static int set_body(struct cpub *p, const char *ctype, const void *body,
		    size_t len)
{
	uint8_t *b = NULL;
	char *ct = NULL;

	if (len) {
		b = mem_alloc(len, NULL);
		if (!b)
			return ENOMEM;
		memcpy(b, body, len);
	}
	if (dum_sub_sdup(&ct, ctype)) {
		mem_deref(b);
		return ENOMEM;
	}
	mem_deref(p->body);
	mem_deref(p->ctype);
	p->body = b;
	p->body_len = len;
	p->ctype = ct;
	return 0;
}


static void pubc_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct cpub *p = (struct cpub *)u;

	if (p->removing || p->remove_pend) {
		dum_post_error(u->dum, u->cls->type, u->h, EPROTO);
		return;
	}

	switch (cmd->type) {

	case DCMD_PUB_MODIFY:
		if (set_body(p, cmd->ctype, cmd->body, cmd->body_len)) {
			dum_post_error(u->dum, u->cls->type, u->h, ENOMEM);
			return;
		}
		p->modify_pend = true;
		if (!p->ct)
			next_step(p);
		return;

	case DCMD_PUB_REMOVE:
		p->remove_pend = true;
		if (!p->ct)
			next_step(p);
		return;

	default:
		dum_post_error(u->dum, u->cls->type, u->h, EPROTO);
		return;
	}
}


static void pubc_end(struct dum_usage *u)
{
	struct cpub *p = (struct cpub *)u;

	if (p->removing)
		return;
	p->remove_pend = true;
	if (!p->ct)
		next_step(p);
}


static void pubc_destroy(struct dum_usage *u)
{
	struct cpub *p = (struct cpub *)u;

	tmr_cancel(&p->tmr);
	dum_auth_reset(&p->auth);
	mem_deref(p->uri);
	mem_deref(p->to);
	mem_deref(p->from);
	mem_deref(p->route);
	mem_deref(p->event);
	mem_deref(p->hdrs);
	mem_deref(p->ctype);
	mem_deref(p->etag);
	mem_deref(p->body);
}


/* The command (redum_pub_publish): as redum_sub_subscribe's, plus the
 * body. */
void dum_pubc_new(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct cpub *p;
	int err = 0;

	p = (struct cpub *)dum_usage_alloc(dum, sizeof(*p), &dum_pubc_class,
					   cmd->h, REDUM_PUB_PUBLISHING);
	if (!p) {
		dum_post_error(dum, REDUM_USAGE_PUBLICATION_CLIENT, cmd->h,
			       ENOMEM);
		return;
	}
	tmr_init(&p->tmr);

	err |= dum_sub_sdup(&p->uri, cmd->uri);
	err |= dum_sub_sdup(&p->to, cmd->to);
	err |= dum_sub_sdup(&p->from, cmd->from);
	err |= dum_sub_sdup(&p->route, cmd->route);
	err |= dum_sub_sdup(&p->event, cmd->method);
	err |= dum_sub_sdup(&p->hdrs, cmd->hdrs);
	err |= set_body(p, cmd->ctype, cmd->body, cmd->body_len);
	if (err) {
		pub_end(p, REDUM_DUM_EV_PUB_FAILURE, 0, ENOMEM);
		return;
	}
	p->expires = cmd->reason ? (uint32_t)strtoul(cmd->reason, NULL, 10)
		: 0;
	if (!p->expires)
		p->expires = DEFAULT_EXPIRES;
	re_snprintf(p->callid, sizeof(p->callid), "%016llx%016llx",
		    rand_u64(), rand_u64());
	re_snprintf(p->ftag, sizeof(p->ftag), "%016llx", rand_u64());

	err = send_publish(p, p->expires, true, false);
	if (err)
		pub_end(p, REDUM_DUM_EV_PUB_FAILURE, 0, err);
}


/* ---- server store -------------------------------------------------------- */

struct pent {
	struct le le;              /* subs->publ                           */
	struct redum_dum *dum;
	redum_dum_handle h;
	char resource[128];
	char *event, *etag, *ctype;
	uint8_t *body;
	size_t body_len;
	uint64_t seq;              /* publication order (latest wins)     */
	struct tmr tmr;
};


static void pent_destructor(void *arg)
{
	struct pent *e = arg;

	tmr_cancel(&e->tmr);
	list_unlink(&e->le);
	mem_deref(e->event);
	mem_deref(e->etag);
	mem_deref(e->ctype);
	mem_deref(e->body);
}


static void store_post(struct pent *e, bool removed, uint32_t expires)
{
	struct redum_sub_info info;
	struct redum_dum *dum = e->dum;

	if (!dum->hd.sub.on_pub_state)
		return;

	memset(&info, 0, sizeof(info));
	info.event = e->event;
	info.resource = e->resource;
	info.etag = e->etag;
	info.expires = expires;
	info.removed = removed;
	info.state = removed ? "removed" : "published";
	dum_ev_post(dum, dum_sub_ev(dum, REDUM_USAGE_PUBLICATION_SERVER, e->h,
				    REDUM_DUM_EV_PUB_STATE, NULL, &info,
				    e->ctype, e->body, e->body_len));
}


static void changed(struct pent *e)
{
	if (e->dum->subs->conf.presence_agent &&
	    !strcasecmp(e->event, "presence"))
		dum_presence_changed(e->dum, e->resource);
}


static void pent_remove(struct pent *e)
{
	struct redum_dum *dum = e->dum;
	char res[128];
	bool pres = !strcasecmp(e->event, "presence");

	store_post(e, true, 0);
	str_ncpy(res, e->resource, sizeof(res));
	SCNT_DEC(dum, pub_entries);
	mem_deref(e);
	if (pres && dum->subs->conf.presence_agent)
		dum_presence_changed(dum, res);
}


static void pent_expired(void *arg)
{
	struct pent *e = arg;

	SCNT_INC(e->dum, pub_expired);
	pent_remove(e);
}


static int new_etag(struct redum_dum *dum, char **etagp)
{
	return re_sdprintf(etagp, "%08x%llx", rand_u32(),
			   (unsigned long long)++dum->subs->next_etag);
}


bool dum_presence_current(struct redum_dum *dum, const char *resource,
			  const char **ctype, const uint8_t **body,
			  size_t *len)
{
	const struct pent *best = NULL;
	struct le *le;

	for (le = dum->subs->publ.head; le; le = le->next) {
		const struct pent *e = le->data;

		if (strcasecmp(e->event, "presence") ||
		    strcasecmp(e->resource, resource))
			continue;
		if (!best || e->seq > best->seq)
			best = e;
	}

	if (!best)
		return false;

	*ctype = best->ctype;
	*body = best->body;
	*len = best->body_len;
	return true;
}


static void reply(struct redum_dum *dum, struct redum_stack_event *ev,
		  uint16_t scode, const char *reason, const char *hdrs)
{
	dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, scode, reason, 0,
					   hdrs, NULL, 0));
	dum_ops->event_release(dum->tu, ev);
}


void dum_pubs_request(struct redum_dum *dum, struct redum_stack_event *ev)
{
	const struct sip_msg *msg = ev->msg;
	const struct redum_sub_conf *conf = &dum->subs->conf;
	const struct sip_hdr *hdr, *im;
	struct sipevent_event se;
	struct pent *e = NULL;
	char res[128], hdrs[160], *etag = NULL;
	uint32_t expires;
	bool has_body = msg->mb && mbuf_get_left(msg->mb);
	struct le *le;

	SCNT_INC(dum, publish_in);

	hdr = sip_msg_hdr(msg, SIP_HDR_EVENT);
	if (!hdr || sipevent_event_decode(&se, &hdr->val) ||
	    !dum_sub_event_ok(dum->subs, &se.event)) {
		SCNT_INC(dum, pub_489);
		re_snprintf(hdrs, sizeof(hdrs), "Allow-Events: %s\r\n",
			    conf->events);
		reply(dum, ev, 489, "Bad Event", hdrs);
		return;
	}

	if (dum_sub_resource(res, sizeof(res), msg)) {
		reply(dum, ev, 400, "Bad Request (URI)", NULL);
		return;
	}

	expires = pl_isset(&msg->expires) ? pl_u32(&msg->expires) :
		conf->default_expires;
	if (expires > conf->max_expires)
		expires = conf->max_expires;
	if (expires && expires < conf->min_expires) {
		re_snprintf(hdrs, sizeof(hdrs), "Min-Expires: %u\r\n",
			    conf->min_expires);
		reply(dum, ev, 423, "Interval Too Brief", hdrs);
		return;
	}

	im = sip_msg_hdr(msg, SIP_HDR_SIP_IF_MATCH);
	if (im) {
		for (le = dum->subs->publ.head; le; le = le->next) {
			struct pent *x = le->data;

			if (!pl_strcmp(&im->val, x->etag) &&
			    !pl_strcasecmp(&se.event, x->event) &&
			    !strcasecmp(res, x->resource)) {
				e = x;
				break;
			}
		}
		if (!e) {
			SCNT_INC(dum, pub_412);
			reply(dum, ev, 412, "Conditional Request Failed",
			      NULL);
			return;
		}
		if (!expires) {
			reply(dum, ev, 200, "OK", NULL);
			pent_remove(e);
			return;
		}
	}
	else if (!has_body || !expires) {
		reply(dum, ev, 400, "Bad Request (initial PUBLISH without "
		      "body)", NULL);
		return;
	}

	if (new_etag(dum, &etag)) {
		reply(dum, ev, 500, "Server Internal Error", NULL);
		return;
	}

	if (!e) {
		e = mem_zalloc(sizeof(*e), pent_destructor);
		if (!e || pl_strdup(&e->event, &se.event)) {
			mem_deref(e);
			mem_deref(etag);
			reply(dum, ev, 500, "Server Internal Error", NULL);
			return;
		}
		e->dum = dum;
		e->h = dum_new_handle(dum);
		str_ncpy(e->resource, res, sizeof(e->resource));
		tmr_init(&e->tmr);
		list_append(&dum->subs->publ, &e->le, e);
		SCNT_INC(dum, pub_entries);
	}

	mem_deref(e->etag);
	e->etag = etag;

	if (has_body) {
		uint8_t *b = mem_alloc(mbuf_get_left(msg->mb), NULL);
		char *ct = NULL;

		if (b) {
			memcpy(b, mbuf_buf(msg->mb), mbuf_get_left(msg->mb));
			mem_deref(e->body);
			e->body = b;
			e->body_len = mbuf_get_left(msg->mb);
			if (pl_isset(&msg->ctyp.type))
				(void)re_sdprintf(&ct, "%r/%r",
						  &msg->ctyp.type,
						  &msg->ctyp.subtype);
			mem_deref(e->ctype);
			e->ctype = ct;
			e->seq = ++dum->subs->next_etag;
		}
	}

	tmr_start(&e->tmr, (uint64_t)expires * 1000, pent_expired, e);

	re_snprintf(hdrs, sizeof(hdrs), "SIP-ETag: %s\r\nExpires: %u\r\n",
		    e->etag, expires);
	reply(dum, ev, 200, "OK", hdrs);

	store_post(e, false, expires);
	if (has_body)
		changed(e);
}


void dum_pubs_teardown(struct redum_dum *dum)
{
	struct le *le;

	while ((le = dum->subs->publ.head))
		mem_deref(le->data);
	atomic_store(&dum->subs->pub_entries, 0);
}


/* ---- public commands (any thread) ------------------------------------- */

int redum_pub_publish(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_sub_req *req)
{
	struct dum_cmd *cmd;
	char ex[16];
	int err;

	if (!dum || !hp || !req || !req->uri || !req->from || !req->event ||
	    !*req->event || !req->body || !req->body_len)
		return EINVAL;

	snprintf(ex, sizeof(ex), "%u", req->expires);
	cmd = dum_sub_cmd_alloc(DCMD_PUBLISH, dum_new_handle(dum), req,
				req->event, ex, req->ctype, req->body,
				req->body_len);
	if (!cmd)
		return ENOMEM;

	*hp = cmd->h;
	err = dum_cmd_push(dum, cmd);
	if (err)
		*hp = 0;
	return err;
}


int redum_pub_modify(struct redum_dum *dum, redum_dum_handle h,
		     const char *ctype, const void *body, size_t body_len)
{
	if (!dum || !h || !body || !body_len)
		return EINVAL;
	return dum_cmd_push(dum, dum_sub_cmd_alloc(DCMD_PUB_MODIFY, h,
						       NULL, NULL, NULL,
						       ctype, body,
						       body_len));
}


int redum_pub_remove(struct redum_dum *dum, redum_dum_handle h)
{
	if (!dum || !h)
		return EINVAL;
	return dum_cmd_push(dum, dum_sub_cmd_alloc(DCMD_PUB_REMOVE, h,
						       NULL, NULL, NULL,
						       NULL, NULL, 0));
}
