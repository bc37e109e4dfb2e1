/**
 * @file reg_client.c  The client registration usage (RFC 3261 10.2):
 *                     REGISTER, refresh, 401/407, 423, back-off retries,
 *                     unregister
 *
 * Runs on the DUM thread. One usage per binding we keep: one Call-ID for
 * all its REGISTERs and an increasing CSeq (10.2.4), so the registrar can
 * order them. At most one REGISTER of a usage is in flight; an unregister
 * asked meanwhile waits for its final response.
 *
 * Refresh rule: a binding granted E seconds is refreshed after E/2 when
 * E <= 64, else after E - 32: 32 s is Timer F (64*T1), the longest a
 * refresh transaction can take, so a refresh that times out still leaves
 * its retry before the binding lapses for long; short intervals (tests,
 * NAT keep-alive registrations) get half their life as margin.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "reg_int.h"

enum {
	CT_REG = 1,
	MAX_423 = 3,
	MAX_BINDINGS = 32,
	DEFAULT_EXPIRES = 3600,
	DEFAULT_RETRY_MIN = 30,
	DEFAULT_RETRY_MAX = 1800,
};

struct regc {
	struct dum_usage u;
	char *registrar, *aor, *contact, *route, *user, *pass, *hdrs;
	char callid[36], ftag[20];
	uint32_t cseq;
	uint32_t expires;           /* interval we ask for (423 raises it) */
	uint32_t retry_min, retry_max, retry_next;
	uint32_t n423;
	struct tmr tmr;
	struct dum_ct *ct;          /* the REGISTER in flight, or NULL     */
	bool bound;                 /* the registrar holds our binding     */
	bool unreg_after;           /* unregister once ct is done          */
	bool ending;                /* ct is the unregister                */
	struct dum_auth auth;
};

static const char *const state_names[REDUM_REG_STATE_COUNT] = {
	"trying", "registered", "refreshing", "retry-wait", "unregistering",
};

static void reg_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev);
static void reg_command(struct dum_usage *u, struct dum_cmd *cmd);
static void reg_end(struct dum_usage *u);
static void reg_destroy(struct dum_usage *u);

const struct dum_class dum_reg_client_class = {
	.type = REDUM_USAGE_REGISTRATION_CLIENT,
	.nstates = REDUM_REG_STATE_COUNT,
	.state_names = state_names,
	.response = reg_response,
	.command = reg_command,
	.end = reg_end,
	.destroy = reg_destroy,
};


/* ---- events ------------------------------------------------------------ */

static size_t ssz(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}


static const char *scpy(char **pp, const char *s)
{
	size_t l = ssz(s);
	char *d = *pp;

	memcpy(d, s ? s : "", l);
	*pp = d + l;
	return d;
}


struct redum_dum_event *dum_reg_ev_new(struct redum_dum *dum,
				       enum redum_usage_type ut,
				       redum_dum_handle h,
				       enum redum_dum_ev_type type,
				       const struct redum_reg_info *tmpl)
{
	struct redum_dum_event *ev;
	struct redum_reg_info *info;
	struct redum_reg_binding *bs;
	size_t sz;
	uint32_t i;
	char *p;
	void *x;

	sz = sizeof(*info) + tmpl->bindingc * sizeof(*bs) +
		ssz(tmpl->aor) + ssz(tmpl->reason);
	for (i = 0; i < tmpl->bindingc; i++)
		sz += ssz(tmpl->bindings[i].contact) +
			ssz(tmpl->bindings[i].call_id);

	ev = dum_ev_new_ext(dum, ut, h, type, sz, &x);
	if (!ev)
		return NULL;

	info = x;
	*info = *tmpl;
	bs = (struct redum_reg_binding *)(info + 1);
	p = (char *)(bs + tmpl->bindingc);
	info->aor = scpy(&p, tmpl->aor);
	info->reason = scpy(&p, tmpl->reason);
	for (i = 0; i < tmpl->bindingc; i++) {
		bs[i] = tmpl->bindings[i];
		bs[i].contact = scpy(&p, tmpl->bindings[i].contact);
		bs[i].call_id = scpy(&p, tmpl->bindings[i].call_id);
	}
	info->bindings = tmpl->bindingc ? bs : NULL;
	ev->reg = info;

	return ev;
}


static void post(struct regc *r, enum redum_dum_ev_type type,
		 uint16_t scode, int err, const struct redum_reg_info *tmpl)
{
	struct redum_reg_info info;
	struct redum_dum_event *ev;

	if (tmpl)
		info = *tmpl;
	else
		memset(&info, 0, sizeof(info));
	info.aor = r->aor;
	if (!info.reason)
		info.reason = "";
	info.was_registered = r->bound;

	ev = dum_reg_ev_new(r->u.dum, REDUM_USAGE_REGISTRATION_CLIENT, r->u.h,
			    type, &info);
	if (ev) {
		ev->scode = scode;
		ev->err = err;
	}
	dum_ev_post(r->u.dum, ev);
}


/* ---- sending ----------------------------------------------------------- */

/* The route is the outbound proxy: the stack sends the request there, and
 * the Route header (which the stack does not add) names it for the proxy
 * (RFC 3261 8.1.2, loose routing: the request URI stays the registrar). */
static int send_register(struct regc *r, uint32_t expires)
{
	struct redum_dum *dum = r->u.dum;
	char *auth = NULL, *hdrs = NULL;
	struct dum_ct *ct;
	int err;

	err = dum_auth_header(&r->auth, &auth, "REGISTER", r->registrar,
			      r->user, r->pass);
	if (err)
		return err;

	err = re_sdprintf(&hdrs,
			  "To: <%s>\r\n"
			  "From: <%s>;tag=%s\r\n"
			  "Call-ID: %s\r\n"
			  "CSeq: %u REGISTER\r\n"
			  "%s%s%s"
			  "%s%s%s"
			  "Expires: %u\r\n"
			  "%s%s",
			  r->aor, r->aor, r->ftag, r->callid, ++r->cseq,
			  r->route ? "Route: <" : "",
			  r->route ? r->route : "",
			  r->route ? ">\r\n" : "",
			  r->contact ? "Contact: <" : "",
			  r->contact ? r->contact : "",
			  r->contact ? ">\r\n" : "",
			  expires, auth, r->hdrs ? r->hdrs : "");
	mem_deref(auth);
	if (err)
		return err;

	ct = dum_ct_new(&r->u, CT_REG);
	if (!ct) {
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->request(dum->tu, ct->token,
			       r->contact ? 0 : REDUM_STACK_F_CONTACT,
			       "REGISTER", r->registrar, r->route, hdrs,
			       NULL, 0);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		dum_ct_free(ct);
		return err;
	}

	r->ct = ct;
	return 0;
}


static void retry_later(struct regc *r, uint16_t scode, const char *reason,
			int err, uint32_t retry_after);


/* Ends the usage with UNREGISTERED (we hold no binding any more, or the
 * registrar would not tell us). */
static void finish_unregistered(struct regc *r, uint16_t scode, int err)
{
	tmr_cancel(&r->tmr);
	r->bound = false;
	post(r, REDUM_DUM_EV_UNREGISTERED, scode, err, NULL);
	dum_usage_free(&r->u);
}


static void unregister_now(struct regc *r)
{
	int err;

	tmr_cancel(&r->tmr);
	r->unreg_after = false;

	if (!r->bound && r->u.state != REDUM_REG_RETRY_WAIT) {
		finish_unregistered(r, 0, 0);
		return;
	}

	/* also from RETRY_WAIT: a failed refresh may leave the binding */
	r->ending = true;
	dum_usage_set_state(&r->u, REDUM_REG_UNREGISTERING);
	err = send_register(r, 0);
	if (err)
		finish_unregistered(r, 0, err);
}


static void send_or_retry(struct regc *r)
{
	int err = send_register(r, r->expires);

	if (err)
		retry_later(r, 0, "", err, 0);
}


static void timer_fired(void *arg)
{
	struct regc *r = arg;

	dum_usage_set_state(&r->u, r->bound ? REDUM_REG_REFRESHING :
			    REDUM_REG_TRYING);
	send_or_retry(r);
}


static void retry_later(struct regc *r, uint16_t scode, const char *reason,
			int err, uint32_t retry_after)
{
	struct redum_reg_info info;
	uint32_t delay = retry_after ? retry_after : r->retry_next;

	if (r->unreg_after) {
		unregister_now(r);
		return;
	}

	if (!retry_after) {
		r->retry_next = r->retry_next > r->retry_max / 2 ?
			r->retry_max : r->retry_next * 2;
	}

	dum_usage_set_state(&r->u, REDUM_REG_RETRY_WAIT);
	tmr_start(&r->tmr, (uint64_t)delay * 1000, timer_fired, r);

	memset(&info, 0, sizeof(info));
	info.retry_in = delay;
	info.reason = reason;
	post(r, REDUM_DUM_EV_REG_RETRYING, scode, err, &info);
}


static void fail(struct regc *r, uint16_t scode, const char *reason,
		 int err)
{
	struct redum_reg_info info;

	/* the application already asked to unregister: that is its end */
	if (r->unreg_after) {
		if (r->bound)
			unregister_now(r);
		else
			finish_unregistered(r, scode, err);
		return;
	}

	memset(&info, 0, sizeof(info));
	info.reason = reason;
	tmr_cancel(&r->tmr);
	post(r, REDUM_DUM_EV_REG_FAILURE, scode, err, &info);
	dum_usage_free(&r->u);
}


/* ---- the 200 ----------------------------------------------------------- */

struct okctx {
	const struct regc *r;
	struct redum_reg_binding b[MAX_BINDINGS];
	char *str[MAX_BINDINGS];
	uint32_t n;
	uint32_t ours;               /* our contact's expires, or UINT32_MAX */
};


static bool ok_contact(const struct sip_hdr *hdr, const struct sip_msg *msg,
		       void *arg)
{
	struct okctx *oc = arg;
	struct sip_addr addr;
	struct pl e;
	uint32_t exp = UINT32_MAX;

	if (sip_addr_decode(&addr, &hdr->val))
		return false;

	if (!msg_param_decode(&addr.params, "expires", &e))
		exp = pl_u32(&e);
	else if (pl_isset(&msg->expires))
		exp = pl_u32(&msg->expires);

	if (oc->r->contact && !pl_strcasecmp(&addr.auri, oc->r->contact))
		oc->ours = exp;

	if (oc->n < MAX_BINDINGS &&
	    !pl_strdup(&oc->str[oc->n], &addr.auri)) {
		oc->b[oc->n].contact = oc->str[oc->n];
		oc->b[oc->n].expires = exp == UINT32_MAX ? 0 : exp;
		oc->b[oc->n].call_id = "";
		++oc->n;
	}

	return false;
}


static void on_ok(struct regc *r, const struct sip_msg *msg)
{
	struct redum_reg_info info;
	struct okctx oc;
	uint32_t granted, i;
	uint64_t delay_ms;

	memset(&oc, 0, sizeof(oc));
	oc.r = r;
	oc.ours = UINT32_MAX;
	(void)sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, ok_contact, &oc);

	/* ours, else (contact chosen by the stack) the Expires header or a
	 * single listed contact, else what we asked for */
	granted = oc.ours;
	if (granted == UINT32_MAX && !r->contact) {
		if (pl_isset(&msg->expires))
			granted = pl_u32(&msg->expires);
		else if (oc.n == 1)
			granted = oc.b[0].expires;
	}
	if (granted == UINT32_MAX)
		granted = r->expires;

	dum_auth_ok(&r->auth);
	r->retry_next = r->retry_min;
	r->n423 = 0;

	if (!granted) {
		/* the registrar kept nothing: not an error it would repeat
		 * if asked at once, so it is retried later */
		r->bound = false;
		for (i = 0; i < oc.n; i++)
			mem_deref(oc.str[i]);
		retry_later(r, 200, "no binding granted", EPROTO, 0);
		return;
	}

	r->bound = true;

	if (r->unreg_after) {
		for (i = 0; i < oc.n; i++)
			mem_deref(oc.str[i]);
		unregister_now(r);
		return;
	}

	delay_ms = granted <= 64 ? (uint64_t)granted * 500 :
		(uint64_t)(granted - 32) * 1000;
	dum_usage_set_state(&r->u, REDUM_REG_REGISTERED);
	tmr_start(&r->tmr, delay_ms, timer_fired, r);

	memset(&info, 0, sizeof(info));
	info.expires = granted;
	info.refresh_in = (uint32_t)(delay_ms / 1000);
	info.bindingc = oc.n;
	info.bindings = oc.b;
	post(r, REDUM_DUM_EV_REGISTERED, 200, 0, &info);

	for (i = 0; i < oc.n; i++)
		mem_deref(oc.str[i]);
}


/* ---- responses --------------------------------------------------------- */

static void reg_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev)
{
	struct regc *r = (struct regc *)u;
	struct redum_dum *dum = u->dum;
	const struct sip_msg *msg = ev->msg;
	const struct sip_hdr *hdr;
	char reason[64];
	uint16_t scode = 0;
	uint32_t retry_after = 0;
	int err = 0;

	if (ev->type == REDUM_STACK_EV_RESPONSE && msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (ct != r->ct) {
		/* not ours any more (cannot happen: one in flight) */
		dum_ct_free(ct);
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	dum_ct_free(ct);
	r->ct = NULL;

	if (ev->type != REDUM_STACK_EV_RESPONSE) {
		err = ev->err ? ev->err : EPROTO;
		dum_ops->event_release(dum->tu, ev);
		if (r->ending)
			finish_unregistered(r, 0, err);
		else
			retry_later(r, 0, "", err, 0);
		return;
	}

	scode = msg->scode;
	re_snprintf(reason, sizeof(reason), "%r", &msg->reason);
	hdr = sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER);
	if (hdr)
		retry_after = pl_u32(&hdr->val);

	if (scode < 300) {
		if (r->ending) {
			dum_ops->event_release(dum->tu, ev);
			finish_unregistered(r, scode, 0);
			return;
		}
		on_ok(r, msg);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (scode == 401 || scode == 407) {
		err = r->user ? dum_auth_challenge(&r->auth, msg) : EACCES;
		dum_ops->event_release(dum->tu, ev);
		if (!err) {
			err = send_register(r, r->ending ? 0 : r->expires);
			if (!err)
				return;
		}
		if (r->ending)
			finish_unregistered(r, scode, err);
		else
			fail(r, scode, reason, err);
		return;
	}

	if (scode == 423 && !r->ending) {
		uint32_t min = 0;

		hdr = sip_msg_hdr(msg, SIP_HDR_MIN_EXPIRES);
		if (hdr)
			min = pl_u32(&hdr->val);
		dum_ops->event_release(dum->tu, ev);
		if (min > r->expires && ++r->n423 <= MAX_423) {
			r->expires = min;
			err = send_register(r, r->expires);
			if (!err)
				return;
			retry_later(r, scode, reason, err, 0);
			return;
		}
		fail(r, scode, reason, EPROTO);
		return;
	}

	dum_ops->event_release(dum->tu, ev);

	if (r->ending) {
		finish_unregistered(r, scode, 0);
		return;
	}

	/* transient: 408, 5xx, or anything the server asks to retry */
	if (scode == 408 || (scode >= 500 && scode < 600) || retry_after)
		retry_later(r, scode, reason, 0, retry_after);
	else
		fail(r, scode, reason, 0);
}


/* ---- commands ---------------------------------------------------------- */

static void reg_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct regc *r = (struct regc *)u;

	switch (cmd->type) {

	case DCMD_UNREGISTER:
		if (r->ending)
			return;
		if (r->ct) {
			r->unreg_after = true;
			return;
		}
		unregister_now(r);
		return;

	case DCMD_END:
		finish_unregistered(r, 0, 0);
		return;

	default:
		dum_post_error(u->dum, u->cls->type, u->h, EPROTO);
		return;
	}
}


/* DUM stops: unregister (bounded by the stop's give-up). */
static void reg_end(struct dum_usage *u)
{
	struct regc *r = (struct regc *)u;

	if (r->ending)
		return;
	if (r->ct) {
		r->unreg_after = true;
		return;
	}
	unregister_now(r);
}


static void reg_destroy(struct dum_usage *u)
{
	struct regc *r = (struct regc *)u;

	tmr_cancel(&r->tmr);
	dum_auth_reset(&r->auth);
	mem_deref(r->registrar);
	mem_deref(r->aor);
	mem_deref(r->contact);
	mem_deref(r->route);
	mem_deref(r->user);
	mem_deref(r->pass);
	mem_deref(r->hdrs);
}


static int sdup(char **dst, const char *s)
{
	if (!s || !*s) {
		*dst = NULL;
		return 0;
	}
	return str_dup(dst, s);
}


/* The command (see redum_reg_register()): uri = registrar, to = aor, from
 * = contact, route, hdrs, method = user, reason = password, body = struct
 * dum_reg_params. */
void dum_reg_client_new(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_reg_params prm;
	struct dum_usage *u;
	struct regc *r;
	int err = 0;

	memset(&prm, 0, sizeof(prm));
	if (cmd->body && cmd->body_len == sizeof(prm))
		memcpy(&prm, cmd->body, sizeof(prm));

	u = dum_usage_alloc(dum, sizeof(struct regc), &dum_reg_client_class,
			    cmd->h, REDUM_REG_TRYING);
	if (!u) {
		dum_post_error(dum, REDUM_USAGE_REGISTRATION_CLIENT, cmd->h,
			       ENOMEM);
		return;
	}
	r = (struct regc *)u;
	tmr_init(&r->tmr);

	err |= sdup(&r->registrar, cmd->uri);
	err |= sdup(&r->aor, cmd->to);
	err |= sdup(&r->contact, cmd->from);
	err |= sdup(&r->route, cmd->route);
	err |= sdup(&r->hdrs, cmd->hdrs);
	err |= sdup(&r->user, cmd->method);
	if (r->user)
		err |= str_dup(&r->pass, cmd->reason ? cmd->reason : "");
	if (err) {
		err = ENOMEM;
		goto fail;
	}

	r->expires   = prm.expires ? prm.expires : DEFAULT_EXPIRES;
	r->retry_min = prm.retry_min_s ? prm.retry_min_s : DEFAULT_RETRY_MIN;
	r->retry_max = prm.retry_max_s ? prm.retry_max_s : DEFAULT_RETRY_MAX;
	if (r->retry_max < r->retry_min)
		r->retry_max = r->retry_min;
	r->retry_next = r->retry_min;
	re_snprintf(r->callid, sizeof(r->callid), "%016llx%016llx",
		    rand_u64(), rand_u64());
	re_snprintf(r->ftag, sizeof(r->ftag), "%016llx", rand_u64());

	send_or_retry(r);
	return;

 fail:
	dum_post_error(dum, REDUM_USAGE_REGISTRATION_CLIENT, cmd->h, err);
	dum_usage_free(u);
}


/* ---- public commands (any thread) -------------------------------------- */

int redum_reg_register(struct redum_dum *dum, redum_dum_handle *hp,
		       const struct redum_reg_req *req)
{
	struct dum_reg_params prm;
	struct dum_cmd s = {0}, *cmd;
	int err;

	if (!dum || !hp || !req || !req->registrar || !*req->registrar ||
	    !req->aor || !*req->aor)
		return EINVAL;

	prm.expires     = req->expires;
	prm.retry_min_s = req->retry_min_s;
	prm.retry_max_s = req->retry_max_s;

	s.uri    = req->registrar;
	s.to     = req->aor;
	s.from   = req->contact;
	s.route  = req->route;
	s.hdrs   = req->hdrs;
	s.method = req->user;
	s.reason = req->password;
	/* the body: read back with memcpy (unaligned) */
	cmd = dum_cmd_new(DCMD_REGISTER, dum_new_handle(dum), &s, &prm,
			  sizeof(prm));
	if (!cmd)
		return ENOMEM;

	*hp = cmd->h;
	err = dum_cmd_push(dum, cmd);
	if (err)
		*hp = 0;

	return err;
}


static int h_cmd(struct redum_dum *dum, enum dum_cmd_type type,
		 redum_dum_handle h)
{
	const struct dum_cmd none = {0};

	if (!dum || !h)
		return EINVAL;

	return dum_cmd_push(dum, dum_cmd_new(type, h, &none, NULL, 0));
}


int redum_reg_unregister(struct redum_dum *dum, redum_dum_handle h)
{
	return h_cmd(dum, DCMD_UNREGISTER, h);
}


int redum_reg_end(struct redum_dum *dum, redum_dum_handle h)
{
	return h_cmd(dum, DCMD_END, h);
}
