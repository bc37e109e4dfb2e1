/**
 * @file invite.c  Invite sessions: the UAC and UAS state machines and the
 *                 shared in-dialog part (re-INVITE with glare, INFO, BYE)
 *
 * Runs on the DUM thread. States (include/redum/dum.h, enum
 * redum_invite_state), after the split reSIProcate uses between its client
 * and server invite sessions and the common confirmed-dialog part:
 *
 *   UAC: CALLING -1xx-> EARLY -2xx-> CONNECTED;  end -> CANCELLING
 *        (487 -> cancelled; 2xx crossing the CANCEL -> ACK + BYE)
 *   UAS: OFFERED -app 1xx-> PROCEEDING -app 2xx-> ACCEPTED -ACK-> CONNECTED
 *        (CANCEL -> cancelled; no ACK in 64*T1 -> BYE, ack-timeout)
 *   both: CONNECTED <-> REINVITE_SENT (491 -> GLARE_WAIT -> retry)
 *         CONNECTED <-> REINVITE_RECEIVED -app 2xx-> REINVITE_ACK
 *         any -> TERMINATING (BYE sent) -> freed
 *
 * Offer/answer is bookkeeping only: bodies are opaque; an INVITE received
 * while an offer of ours is pending gets 491, one received while the
 * application still has to answer a previous one gets 500 + Retry-After
 * (RFC 3261 14.1/14.2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dum_int.h"
#include "reg_int.h"

enum { CT_INVITE = 1, CT_REINVITE, CT_BYE, CT_INFO };
enum { ST_INVITE = 1, ST_REINVITE };
enum { GLARE_MAX_TRIES = 5 };

struct inv {
	struct dum_usage u;          /* first: the framework's part        */
	bool uac;
	bool silent;                 /* a fork DUM ends itself: no events   */
	bool end_req;                /* end asked while it cannot be done   */
	bool offer_in_invite;        /* the initial INVITE carried an offer */
	bool established;            /* the stack's dialog is confirmed     */
	bool reinv_offer;            /* the pending re-INVITE had an offer  */
	struct dum_ct *ct_inv;       /* UAC initial INVITE                  */
	struct dum_st *st_inv;       /* pending (re-)INVITE server txn      */
	struct pl to_tag;            /* UAC: To-tag of the first 2xx (copy) */
	char *to_tag_buf;
	char *offer_ctype;           /* our re-INVITE offer, for 491 retry  */
	uint8_t *offer;
	size_t offer_len;
	uint32_t glare_tries;
	uint32_t ack_cseq;           /* ANSWER_WAIT: CSeq of the 2xx to ACK */
	struct tmr tmr_glare;
	enum redum_term_reason reason;
	uint16_t scode;
	int err;
	redum_dum_handle related;
	/* digest auth (docs/DUM.md): the initial INVITE as sent, for its
	 * re-sending after a 401/407; the remote target (digest-uri of the
	 * in-dialog requests); the last INFO, for its re-sending */
	struct dum_auth auth;
	char *target;
	char *inv_hdrs;              /* Content-Type and the app's lines  */
	uint8_t *inv_body;
	size_t inv_body_len;
	char *inv_auth;              /* the INVITE's credentials: the ACK
					of its 2xx carries them too        */
	char *info_ctype;
	uint8_t *info_body;
	size_t info_len;
};

static const char *const state_names[REDUM_INV_STATE_COUNT] = {
	"calling", "early", "cancelling", "offered", "proceeding",
	"accepted", "connected", "reinvite-sent", "reinvite-received",
	"reinvite-ack", "glare-wait", "answer-wait", "terminating",
};

static void inv_request(struct dum_usage *u, struct redum_stack_event *ev);
static void inv_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev);
static void inv_srv_event(struct dum_usage *u, struct dum_st *st,
			  struct redum_stack_event *ev);
static void inv_command(struct dum_usage *u, struct dum_cmd *cmd);
static void inv_end(struct dum_usage *u);
static void inv_destroy(struct dum_usage *u);

#define INV_DLG_METHODS (REDUM_STACK_MBIT(REDUM_STACK_M_INVITE) | \
			 REDUM_STACK_MBIT(REDUM_STACK_M_BYE) |    \
			 REDUM_STACK_MBIT(REDUM_STACK_M_INFO))

const struct dum_class dum_invite_client_class = {
	.type = REDUM_USAGE_INVITE_CLIENT,
	.nstates = REDUM_INV_STATE_COUNT,
	.state_names = state_names,
	.dlg_methods = INV_DLG_METHODS,
	.request = inv_request,
	.response = inv_response,
	.srv_event = inv_srv_event,
	.command = inv_command,
	.end = inv_end,
	.destroy = inv_destroy,
};

const struct dum_class dum_invite_server_class = {
	.type = REDUM_USAGE_INVITE_SERVER,
	.nstates = REDUM_INV_STATE_COUNT,
	.state_names = state_names,
	.dlg_methods = INV_DLG_METHODS,
	.request = inv_request,
	.response = inv_response,
	.srv_event = inv_srv_event,
	.command = inv_command,
	.end = inv_end,
	.destroy = inv_destroy,
};


/* ---- helpers ------------------------------------------------------------ */

static inline struct inv *inv_of(struct dum_usage *u)
{
	return (struct inv *)u;
}


static inline struct redum_stack_tu *tu_of(const struct inv *inv)
{
	return inv->u.dum->tu;
}


/** Header lines for a body (Content-Type) plus extra lines; a libre string
 *  (mem_deref it), or NULL on ENOMEM. */
static char *mk_hdrs(const char *ctype, size_t body_len, const char *extra)
{
	char *s = NULL;

	if (body_len && (!ctype || !*ctype))
		ctype = "application/sdp";

	if (re_sdprintf(&s, "%s%s%s%s",
			body_len ? "Content-Type: " : "",
			body_len ? ctype : "",
			body_len ? "\r\n" : "",
			extra ? extra : ""))
		return NULL;

	return s;
}


static void post(struct inv *inv, enum redum_dum_ev_type type,
		 const struct sip_msg *msg, uint16_t scode, int err)
{
	struct redum_dum_event *ev;

	if (inv->silent)
		return;

	ev = dum_ev_new(&inv->u, type, msg);
	if (!ev)
		return;
	if (scode)
		ev->scode = scode;
	ev->err = err;
	ev->related = inv->related;
	dum_ev_post(inv->u.dum, ev);
}


/* The end: TERMINATED (reason, scode, err) and the usage is freed. */
static void terminate(struct inv *inv, enum redum_term_reason reason,
		      uint16_t scode, int err, const struct sip_msg *msg)
{
	struct redum_dum_event *ev;

	if (!inv->silent) {
		ev = dum_ev_new(&inv->u, REDUM_DUM_EV_TERMINATED, msg);
		if (ev) {
			ev->reason  = reason;
			ev->scode   = scode;
			ev->err     = err;
			ev->related = inv->related;
		}
		dum_ev_post(inv->u.dum, ev);
	}

	dum_usage_free(&inv->u);
}


/* The remote target (digest-uri of in-dialog requests) from the Contact
 * of @p msg, if it has one: the peer's INVITE / 2xx (target refresh). */
static void set_target(struct inv *inv, const struct sip_msg *msg)
{
	const struct sip_hdr *h = msg ? sip_msg_hdr(msg, SIP_HDR_CONTACT) :
		NULL;
	struct sip_addr addr;
	char *t = NULL;

	if (!h || sip_addr_decode(&addr, &h->val) ||
	    pl_strdup(&t, &addr.auri))
		return;

	mem_deref(inv->target);
	inv->target = t;
}


static int send_in_dialog_auth(struct inv *inv, int kind,
			       const char *method, const char *ctype,
			       const void *body, size_t body_len,
			       bool auth, struct dum_ct **ctp)
{
	struct dum_ct *ct;
	char *hdrs, *ah = NULL;
	int err;

	if (!inv->u.dlg)
		return ENOENT;

	if (auth) {
		err = dum_auth_hdr(inv->u.dum, &inv->auth, &ah, method,
				   inv->target ? inv->target : "");
		if (err)
			return err;
	}

	ct = dum_ct_new(&inv->u, kind);
	hdrs = mk_hdrs(ctype, body_len, ah);
	mem_deref(ah);
	if (!ct || !hdrs) {
		mem_deref(ct);
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->drequest(tu_of(inv), ct->token, inv->u.dlg->id,
				   kind == CT_REINVITE ?
				   REDUM_STACK_F_CONTACT : 0,
				   method, hdrs, body, body_len);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(inv->u.dum, err);
		dum_ct_free(ct);
		return err;
	}

	if (ctp)
		*ctp = ct;

	return 0;
}


static int send_in_dialog(struct inv *inv, int kind, const char *method,
			  const char *ctype, const void *body,
			  size_t body_len, struct dum_ct **ctp)
{
	return send_in_dialog_auth(inv, kind, method, ctype, body, body_len,
				   false, ctp);
}


/** Sends BYE and waits for its final response; the session then ends
 *  with @p reason. With no dialog to send it in, it ends at once. */
static void send_bye(struct inv *inv, enum redum_term_reason reason,
		     uint16_t scode, int err)
{
	int serr;

	inv->reason = reason;
	inv->scode  = scode;
	inv->err    = err;
	inv->end_req = false;
	tmr_cancel(&inv->tmr_glare);

	if (!inv->established) {
		terminate(inv, reason, scode, err, NULL);
		return;
	}

	/* a BYE the stack cannot take (its command FIFO full): the session
	 * ends at once, visibly an error (docs/DUM.md, "When the stack
	 * refuses a command") */
	serr = send_in_dialog(inv, CT_BYE, "BYE", NULL, NULL, 0, NULL);
	if (serr) {
		terminate(inv, REDUM_TERM_ERROR, scode, err ? err : serr,
			  NULL);
		return;
	}

	dum_usage_set_state(&inv->u, REDUM_INV_TERMINATING);
}


static int reply(struct inv *inv, uint64_t srv, uint16_t scode,
		 const char *reason, uint32_t flags, const char *ctype,
		 const void *body, size_t body_len, const char *extra)
{
	char *hdrs = mk_hdrs(ctype, body_len, extra);
	int err;

	if (!hdrs)
		return ENOMEM;

	err = dum_ops->reply(tu_of(inv), srv, scode, reason, flags, hdrs,
				body, body_len);
	mem_deref(hdrs);
	dum_stack_err(inv->u.dum, err);

	return err;
}


static void reply_ev(struct inv *inv, struct redum_stack_event *ev,
		     uint16_t scode, const char *reason, const char *extra)
{
	(void)reply(inv, ev->id, scode, reason, 0, NULL, NULL, 0, extra);
	dum_ops->event_release(tu_of(inv), ev);
}


/* Answers the pending (re-)INVITE server transaction, if any. */
static void reply_pending(struct inv *inv, uint16_t scode,
			  const char *reason)
{
	struct dum_st *st = inv->st_inv;

	if (!st)
		return;

	if (st->view)
		(void)reply(inv, st->id, scode, reason, 0, NULL, NULL, 0,
			    NULL);
	inv->st_inv = NULL;
	dum_st_free(st);
}


static bool has_body(const struct sip_msg *msg)
{
	return msg && msg->mb && mbuf_get_left(msg->mb) > 0;
}


/* Back to CONNECTED; an end asked meanwhile happens now. */
static void to_connected(struct inv *inv)
{
	dum_usage_set_state(&inv->u, REDUM_INV_CONNECTED);
	if (inv->end_req)
		send_bye(inv, inv->reason ? inv->reason :
			 REDUM_TERM_LOCAL_BYE, 0, 0);
}


/* ---- UAC: the initial INVITE ---------------------------------------------- */

void dum_invite_call(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_dlg *d;
	struct inv *inv;
	char *hdrs;
	int err;

	inv = (struct inv *)dum_usage_alloc(dum, sizeof(*inv),
					    &dum_invite_client_class, cmd->h,
					    REDUM_INV_CALLING);
	if (!inv) {
		dum_post_error(dum, REDUM_USAGE_INVITE_CLIENT, cmd->h, ENOMEM);
		return;
	}
	inv->uac = true;
	inv->offer_in_invite = cmd->body_len > 0;

	d = dum_dlg_new(&inv->u);
	inv->ct_inv = d ? dum_ct_new(&inv->u, CT_INVITE) : NULL;
	hdrs = mk_hdrs(cmd->ctype, cmd->body_len, cmd->hdrs);
	if (!d || !inv->ct_inv || !hdrs || str_dup(&inv->target, cmd->uri) ||
	    str_dup(&inv->inv_hdrs, hdrs)) {
		err = ENOMEM;
		goto fail;
	}
	inv->ct_inv->keep = true;
	if (cmd->body_len) {
		inv->inv_body = mem_alloc(cmd->body_len, NULL);
		if (!inv->inv_body) {
			err = ENOMEM;
			goto fail;
		}
		memcpy(inv->inv_body, cmd->body, cmd->body_len);
		inv->inv_body_len = cmd->body_len;
	}

	/* a next hop goes into the dialog's route set */
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

	err = dum_ops->drequest(dum->tu, inv->ct_inv->token, d->id,
				   REDUM_STACK_F_CONTACT, "INVITE", hdrs,
				   cmd->body, cmd->body_len);
	if (err)
		goto fail;

	mem_deref(hdrs);
	return;

 fail:
	mem_deref(hdrs);
	dum_stack_err(dum, err);
	post(inv, REDUM_DUM_EV_FAILURE, NULL, 0, err);
	terminate(inv, REDUM_TERM_ERROR, 0, err, NULL);
}


/* A 2xx with another To-tag than the first: a fork (RFC 3261 13.2.2.4).
 * It gets a dialog of its own and is ACKed; then either it becomes a call
 * of its own (want_forks) or DUM BYEs it silently. Consumes @p ev. */
static void fork_2xx(struct inv *inv, struct redum_stack_event *ev)
{
	struct redum_dum *dum = inv->u.dum;
	const struct sip_msg *msg = ev->msg;
	uint32_t cseq = msg->cseq.num;
	struct redum_dum_event *conn = NULL;
	struct dum_dlg *d;
	struct inv *f;
	int err;

	f = (struct inv *)dum_usage_alloc(dum, sizeof(*f),
					  &dum_invite_client_class, 0,
					  REDUM_INV_CONNECTED);
	if (!f) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	f->uac = true;
	f->related = inv->u.h;
	f->silent = !dum->conf.want_forks;
	f->established = true;

	if (!f->silent) {
		conn = dum_ev_new(&f->u, REDUM_DUM_EV_CONNECTED, msg);
		if (conn)
			conn->related = f->related;
	}

	d = dum_dlg_new(&f->u);
	if (!d) {
		free(conn);
		dum_ops->event_release(dum->tu, ev);
		dum_usage_free(&f->u);
		return;
	}

	err = dum_ops->dlg_fork(dum->tu, d->id, inv->u.dlg->id, ev);
	if (err) {
		dum_ops->event_release(dum->tu, ev);
		free(conn);
		dum_stack_err(dum, err);
		dum_usage_free(&f->u);
		return;
	}
	d->in_stack = true;

	err = dum_ops->ack(dum->tu, d->id, cseq, NULL, NULL, 0);
	if (err) {
		/* not ACKed: the fork's UAS will give up on it; end it */
		dum_stack_err(dum, err);
		free(conn);
		send_bye(f, REDUM_TERM_ERROR, 0, err);
		return;
	}

	if (f->silent) {
		DCNT_INC(dum->c.forks_ended);
		send_bye(f, REDUM_TERM_LOCAL_BYE, 0, 0);
		return;
	}

	dum_ev_post(dum, conn);
}


/* Re-sends the initial INVITE with the credentials for the challenge
 * just taken: a new client transaction in the same (unconfirmed) stack
 * dialog, whose CSeq libre increments (RFC 3261 22.2); libre's client
 * transaction has ACKed the 401/407 itself. */
static int reinvite_auth(struct inv *inv)
{
	struct redum_dum *dum = inv->u.dum;
	struct dum_ct *ct;
	char *ah = NULL, *hdrs = NULL;
	int err;

	err = dum_auth_hdr(dum, &inv->auth, &ah, "INVITE", inv->target);
	if (err)
		return err;

	ct = dum_ct_new(&inv->u, CT_INVITE);
	if (!ct || re_sdprintf(&hdrs, "%s%s", ah, inv->inv_hdrs)) {
		mem_deref(ct);
		mem_deref(ah);
		return ENOMEM;
	}
	ct->keep = true;

	err = dum_ops->drequest(dum->tu, ct->token, inv->u.dlg->id,
				REDUM_STACK_F_CONTACT, "INVITE", hdrs,
				inv->inv_body, inv->inv_body_len);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		mem_deref(ah);
		dum_ct_free(ct);
		return err;
	}

	mem_deref(inv->inv_auth);
	inv->inv_auth = ah;
	dum_ct_free(inv->ct_inv);
	inv->ct_inv = ct;

	return 0;
}


static void initial_response(struct inv *inv, struct redum_stack_event *ev)
{
	struct redum_dum *dum = inv->u.dum;
	const struct sip_msg *msg = ev->msg;
	struct redum_dum_event *conn = NULL, *ans = NULL;
	uint32_t cseq;
	bool late;
	int err;

	if (ev->type != REDUM_STACK_EV_RESPONSE) {
		/* a failed CANCEL of an INVITE that already ended is moot */
		if (inv->established || (ev->type == REDUM_STACK_EV_CMD_FAILED &&
		    inv->u.state == REDUM_INV_CANCELLING && ev->err == ENOENT)) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		err = ev->err ? ev->err : EPROTO;
		dum_ops->event_release(dum->tu, ev);
		if (inv->u.state == REDUM_INV_CANCELLING) {
			terminate(inv, REDUM_TERM_CANCELLED, 0, err, NULL);
			return;
		}
		post(inv, REDUM_DUM_EV_FAILURE, NULL, 0, err);
		terminate(inv, REDUM_TERM_ERROR, 0, err, NULL);
		return;
	}

	if (msg->scode < 200) {
		/* 100 is hop-by-hop: not the application's business */
		if (msg->scode == 100) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		if (inv->u.state == REDUM_INV_CALLING)
			dum_usage_set_state(&inv->u, REDUM_INV_EARLY);
		if (inv->u.state == REDUM_INV_EARLY)
			post(inv, REDUM_DUM_EV_PROVISIONAL, msg, 0, 0);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (msg->scode >= 300) {
		uint16_t scode = msg->scode;

		if (inv->established) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		/* challenged: once per new nonce, with the DUM's credentials;
		 * else the 401/407 is the failure the application sees */
		if ((scode == 401 || scode == 407) && !inv->end_req &&
		    inv->u.state != REDUM_INV_CANCELLING &&
		    dum_auth_retry(dum, &inv->auth, msg) == 0) {
			int rerr = reinvite_auth(inv);

			dum_ops->event_release(dum->tu, ev);
			if (rerr) {
				post(inv, REDUM_DUM_EV_FAILURE, NULL, scode,
				     rerr);
				terminate(inv, REDUM_TERM_ERROR, scode, rerr,
					  NULL);
				return;
			}
			dum_usage_set_state(&inv->u, REDUM_INV_CALLING);
			return;
		}
		if (inv->u.state == REDUM_INV_CANCELLING) {
			terminate(inv, REDUM_TERM_CANCELLED, scode, 0, msg);
		}
		else {
			post(inv, REDUM_DUM_EV_FAILURE, msg, 0, 0);
			terminate(inv, REDUM_TERM_REJECTED, scode, 0, msg);
		}
		/* terminate() freed inv: dum survives */
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	/* 2xx */
	if (inv->established) {
		if (pl_cmp(&msg->to.tag, &inv->to_tag))
			fork_2xx(inv, ev);
		else
			dum_ops->event_release(dum->tu, ev);
		return;
	}

	cseq = msg->cseq.num;
	if (pl_strdup(&inv->to_tag_buf, &msg->to.tag) == 0)
		pl_set_str(&inv->to_tag, inv->to_tag_buf);
	set_target(inv, msg);
	dum_auth_ok(&inv->auth);

	/* late offer: our INVITE had none, so the 2xx holds it and the ACK
	 * must carry the application's answer */
	late = !inv->offer_in_invite && has_body(msg);

	if (inv->u.state != REDUM_INV_CANCELLING && !inv->end_req) {
		conn = dum_ev_new(&inv->u, REDUM_DUM_EV_CONNECTED, msg);
		if (has_body(msg))
			ans = dum_ev_new(&inv->u, late ? REDUM_DUM_EV_OFFER :
					 REDUM_DUM_EV_ANSWER, msg);
	}

	/* the view goes with the event into the stack's dialog creation */
	err = dum_ops->dlg_create(dum->tu, inv->u.dlg->id, ev);
	if (err) {
		dum_ops->event_release(dum->tu, ev);
		free(conn);
		free(ans);
		dum_stack_err(dum, err);
		post(inv, REDUM_DUM_EV_FAILURE, NULL, 0, err);
		terminate(inv, REDUM_TERM_ERROR, 0, err, NULL);
		return;
	}
	inv->established = true;

	if (late && conn) {
		inv->ack_cseq = cseq;
		dum_usage_set_state(&inv->u, REDUM_INV_ANSWER_WAIT);
		dum_ev_post(dum, conn);
		dum_ev_post(dum, ans);
		return;
	}

	/* RFC 3261 22.1: the ACK carries the INVITE's credentials */
	err = dum_ops->ack(dum->tu, inv->u.dlg->id, cseq, inv->inv_auth,
			   NULL, 0);
	if (err) {
		/* an un-ACKed 2xx: the peer would end the call anyway */
		dum_stack_err(dum, err);
		free(conn);
		free(ans);
		post(inv, REDUM_DUM_EV_FAILURE, NULL, 0, err);
		send_bye(inv, REDUM_TERM_ERROR, 0, err);
		return;
	}

	if (inv->u.state == REDUM_INV_CANCELLING || inv->end_req) {
		/* the 2xx crossed our CANCEL: ACK then BYE (RFC 3261 9.1) */
		send_bye(inv, REDUM_TERM_CANCELLED, 0, 0);
		return;
	}

	dum_usage_set_state(&inv->u, REDUM_INV_CONNECTED);
	dum_ev_post(dum, conn);
	if (ans)
		dum_ev_post(dum, ans);
}


/* ---- UAS: a new INVITE ------------------------------------------------------ */

static void new_invite(struct redum_dum *dum, struct redum_stack_event *ev)
{
	struct dum_dlg *d;
	struct inv *inv;
	int err;

	if (dum_congested(dum)) {
		dum_reply_503(dum, ev->id);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	inv = (struct inv *)dum_usage_alloc(dum, sizeof(*inv),
					    &dum_invite_server_class, 0,
					    REDUM_INV_OFFERED);
	if (!inv) {
		(void)dum_ops->reply(dum->tu, ev->id, 500,
					"Server Internal Error", 0, NULL,
					NULL, 0);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	inv->offer_in_invite = has_body(ev->msg);
	set_target(inv, ev->msg);
	inv->st_inv = dum_st_new(&inv->u, ev->id, ST_INVITE);
	d = inv->st_inv ? dum_dlg_new(&inv->u) : NULL;
	if (!d) {
		reply_ev(inv, ev, 500, "Server Internal Error", NULL);
		dum_usage_free(&inv->u);
		return;
	}

	/* before any reply with our To-tag (the stack's rule) */
	err = dum_ops->dlg_accept(dum->tu, d->id, ev->id);
	if (err) {
		dum_stack_err(dum, err);
		reply_ev(inv, ev, 500, "Server Internal Error", NULL);
		inv->st_inv->view = false;
		dum_usage_free(&inv->u);
		return;
	}
	d->in_stack = true;
	inv->established = true;

	post(inv, REDUM_DUM_EV_NEW, ev->msg, 0, 0);

	/* the request view stays until our final reply */
	dum_ops->event_release(dum->tu, ev);
}


/* ---- in-dialog requests ------------------------------------------------- */

static void in_reinvite(struct inv *inv, struct redum_stack_event *ev)
{
	struct redum_dum *dum = inv->u.dum;
	char ra[40];

	switch (inv->u.state) {

	case REDUM_INV_CONNECTED:
	case REDUM_INV_GLARE_WAIT:
		if (inv->u.state == REDUM_INV_GLARE_WAIT) {
			/* the peer's offer wins; ours is dropped */
			tmr_cancel(&inv->tmr_glare);
			post(inv, REDUM_DUM_EV_OFFER_REJECTED, NULL, 491, 0);
		}
		inv->st_inv = dum_st_new(&inv->u, ev->id, ST_REINVITE);
		if (!inv->st_inv) {
			reply_ev(inv, ev, 500, "Server Internal Error", NULL);
			return;
		}
		inv->reinv_offer = has_body(ev->msg);
		set_target(inv, ev->msg);
		dum_usage_set_state(&inv->u, REDUM_INV_REINVITE_RECEIVED);
		post(inv, REDUM_DUM_EV_OFFER, ev->msg, 0, 0);
		dum_ops->event_release(dum->tu, ev);
		return;

	case REDUM_INV_REINVITE_RECEIVED:
		/* RFC 3261 14.2: an INVITE while one is still unanswered */
		re_snprintf(ra, sizeof(ra), "Retry-After: %u\r\n",
			    rand_u32() % 10);
		reply_ev(inv, ev, 500, "Server Internal Error", ra);
		return;

	case REDUM_INV_TERMINATING:
		reply_ev(inv, ev, 481, "Call/Transaction Does Not Exist",
			 NULL);
		return;

	default:
		/* an offer of ours (or our 2xx awaiting its ACK) pending */
		DCNT_INC(dum->c.glare_491);
		reply_ev(inv, ev, 491, "Request Pending", NULL);
		return;
	}
}


static void inv_request(struct dum_usage *u, struct redum_stack_event *ev)
{
	struct inv *inv = inv_of(u);
	struct redum_dum *dum = u->dum;
	enum redum_stack_method m = redum_stack_method_of(&ev->msg->met);

	switch (m) {

	case REDUM_STACK_M_INVITE:
		in_reinvite(inv, ev);
		return;

	case REDUM_STACK_M_BYE: {
		struct redum_dum_event *tev = NULL;

		/* the event copies the BYE first: the final reply hands the
		 * request's view back to the stack, which may free it at
		 * once (the lifetime rule, include/redum/stack.h) */
		if (u->state != REDUM_INV_TERMINATING && !inv->silent) {
			tev = dum_ev_new(u, REDUM_DUM_EV_TERMINATED, ev->msg);
			if (tev) {
				tev->reason = REDUM_TERM_REMOTE_BYE;
				tev->related = inv->related;
			}
		}
		(void)reply(inv, ev->id, 200, "OK", 0, NULL, NULL, 0, NULL);
		if (u->state == REDUM_INV_TERMINATING) {
			/* BYEs crossed: ours decides the reason */
			dum_ops->event_release(dum->tu, ev);
			terminate(inv, inv->reason, inv->scode, inv->err,
				  NULL);
			return;
		}
		reply_pending(inv, 487, "Request Terminated");
		dum_ops->event_release(dum->tu, ev);
		dum_ev_post(dum, tev);
		dum_usage_free(u);
		return;
	}

	case REDUM_STACK_M_INFO:
		if (u->state == REDUM_INV_TERMINATING) {
			reply_ev(inv, ev, 481, "Call/Transaction Does Not "
				 "Exist", NULL);
			return;
		}
		/* copied before the 200 hands the view back (as for BYE) */
		post(inv, REDUM_DUM_EV_INFO, ev->msg, 0, 0);
		(void)reply(inv, ev->id, 200, "OK", 0, NULL, NULL, 0, NULL);
		dum_ops->event_release(dum->tu, ev);
		return;

	default:
		reply_ev(inv, ev, 501, "Not Implemented", NULL);
		return;
	}
}


/* ---- responses to our in-dialog requests ------------------------------------ */

static void send_reinvite(struct inv *inv)
{
	int err;

	err = send_in_dialog(inv, CT_REINVITE, "INVITE", inv->offer_ctype,
			     inv->offer, inv->offer_len, NULL);
	if (err) {
		post(inv, REDUM_DUM_EV_OFFER_REJECTED, NULL, 0, err);
		to_connected(inv);
		return;
	}

	dum_usage_set_state(&inv->u, REDUM_INV_REINVITE_SENT);
}


static void glare_handler(void *arg)
{
	struct inv *inv = arg;

	if (inv->u.state == REDUM_INV_GLARE_WAIT)
		send_reinvite(inv);
}


static void reinvite_response(struct inv *inv, struct dum_ct *ct,
			      struct redum_stack_event *ev)
{
	struct redum_dum *dum = inv->u.dum;
	const struct sip_msg *msg = ev->msg;
	uint16_t scode;
	uint32_t delay;

	if (ev->type != REDUM_STACK_EV_RESPONSE) {
		int err = ev->err ? ev->err : EPROTO;

		dum_ops->event_release(dum->tu, ev);
		dum_ct_free(ct);
		post(inv, REDUM_DUM_EV_OFFER_REJECTED, NULL, 0, err);
		if (err == ETIMEDOUT)
			send_bye(inv, REDUM_TERM_DIALOG_GONE, 408, err);
		else
			to_connected(inv);
		return;
	}

	scode = msg->scode;
	if (scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	dum_ct_free(ct);

	/* challenged: re-send once per new nonce (a new CSeq) */
	if ((scode == 401 || scode == 407) && !inv->end_req &&
	    dum_auth_retry(dum, &inv->auth, msg) == 0 &&
	    send_in_dialog_auth(inv, CT_REINVITE, "INVITE", inv->offer_ctype,
				inv->offer, inv->offer_len, true,
				NULL) == 0) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (scode < 300) {
		int aerr;

		set_target(inv, msg);
		dum_auth_ok(&inv->auth);
		aerr = dum_ops->ack(dum->tu, inv->u.dlg->id, msg->cseq.num,
				    NULL, NULL, 0);
		if (aerr) {
			/* an un-ACKed 2xx ends the dialog (RFC 3261 14.1) */
			dum_stack_err(dum, aerr);
			post(inv, REDUM_DUM_EV_OFFER_REJECTED, NULL, 0, aerr);
			dum_ops->event_release(dum->tu, ev);
			send_bye(inv, REDUM_TERM_ERROR, 0, aerr);
			return;
		}
		post(inv, REDUM_DUM_EV_ANSWER, msg, 0, 0);
		dum_ops->event_release(dum->tu, ev);
		inv->glare_tries = 0;
		to_connected(inv);
		return;
	}

	if (scode == 491 && ++inv->glare_tries < GLARE_MAX_TRIES &&
	    !inv->end_req) {
		/* RFC 3261 14.1: the Call-ID's owner (the UAC of the dialog)
		 * waits 2.1..4 s, the other side 0..2 s */
		delay = inv->uac ? 2100 + rand_u32() % 1900 :
			rand_u32() % 2000;
		dum_ops->event_release(dum->tu, ev);
		dum_usage_set_state(&inv->u, REDUM_INV_GLARE_WAIT);
		tmr_start(&inv->tmr_glare, delay, glare_handler, inv);
		return;
	}

	post(inv, REDUM_DUM_EV_OFFER_REJECTED, msg, 0, 0);
	dum_ops->event_release(dum->tu, ev);
	inv->glare_tries = 0;

	if (scode == 481)
		terminate(inv, REDUM_TERM_DIALOG_GONE, scode, 0, NULL);
	else if (scode == 408)
		send_bye(inv, REDUM_TERM_DIALOG_GONE, scode, 0);
	else
		to_connected(inv);
}


static void inv_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev)
{
	struct inv *inv = inv_of(u);
	struct redum_dum *dum = u->dum;
	uint16_t scode;

	switch (ct->kind) {

	case CT_INVITE:
		initial_response(inv, ev);
		return;

	case CT_REINVITE:
		reinvite_response(inv, ct, ev);
		return;

	case CT_BYE:
		if (ev->type == REDUM_STACK_EV_RESPONSE &&
		    ev->msg->scode < 200) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		/* challenged: re-send once per new nonce, else the session
		 * ends all the same (the BYE is our decision) */
		if (ev->type == REDUM_STACK_EV_RESPONSE &&
		    (ev->msg->scode == 401 || ev->msg->scode == 407) &&
		    dum_auth_retry(dum, &inv->auth, ev->msg) == 0 &&
		    send_in_dialog_auth(inv, CT_BYE, "BYE", NULL, NULL, 0,
					true, NULL) == 0) {
			dum_ct_free(ct);
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		dum_ops->event_release(dum->tu, ev);
		terminate(inv, inv->reason, inv->scode, inv->err, NULL);
		return;

	case CT_INFO:
		if (ev->type == REDUM_STACK_EV_RESPONSE &&
		    ev->msg->scode < 200) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		dum_ct_free(ct);
		if (ev->type == REDUM_STACK_EV_RESPONSE &&
		    (ev->msg->scode == 401 || ev->msg->scode == 407) &&
		    dum_auth_retry(dum, &inv->auth, ev->msg) == 0 &&
		    send_in_dialog_auth(inv, CT_INFO, "INFO", inv->info_ctype,
					inv->info_body, inv->info_len, true,
					NULL) == 0) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
		if (ev->type == REDUM_STACK_EV_RESPONSE) {
			if (ev->msg->scode < 300)
				dum_auth_ok(&inv->auth);
			scode = ev->msg->scode;
			post(inv, REDUM_DUM_EV_INFO_RESPONSE, ev->msg, 0, 0);
		}
		else {
			scode = 408;
			post(inv, REDUM_DUM_EV_INFO_RESPONSE, NULL, 0,
			     ev->err ? ev->err : EPROTO);
		}
		dum_ops->event_release(dum->tu, ev);
		/* RFC 5057: 481 means the dialog is gone */
		if (scode == 481 && u->state != REDUM_INV_TERMINATING)
			terminate(inv, REDUM_TERM_DIALOG_GONE, scode, 0,
				  NULL);
		return;

	default:
		dum_ops->event_release(dum->tu, ev);
		return;
	}
}


/* ---- server transaction events -------------------------------------------- */

static void inv_srv_event(struct dum_usage *u, struct dum_st *st,
			  struct redum_stack_event *ev)
{
	struct inv *inv = inv_of(u);
	struct redum_dum *dum = u->dum;
	struct redum_dum_event *aev = NULL;
	bool initial = st->kind == ST_INVITE;
	int err = ev->err;

	switch (ev->type) {

	case REDUM_STACK_EV_CANCELLED:
		/* the stack answered 200 to the CANCEL and 487 to the INVITE */
		dum_stack_err(dum, dum_ops->srv_release(dum->tu, st->id));
		st->view = false;
		dum_ops->event_release(dum->tu, ev);
		if (inv->st_inv == st)
			inv->st_inv = NULL;
		dum_st_free(st);
		if (initial) {
			terminate(inv, REDUM_TERM_CANCELLED, 487, 0, NULL);
		}
		else {
			post(inv, REDUM_DUM_EV_OFFER_REJECTED, NULL, 487, 0);
			to_connected(inv);
		}
		return;

	case REDUM_STACK_EV_ACK:
		if (ev->msg && has_body(ev->msg))
			aev = dum_ev_new(u, REDUM_DUM_EV_ANSWER, ev->msg);
		dum_ops->event_release(dum->tu, ev);
		if (inv->st_inv == st)
			inv->st_inv = NULL;
		dum_st_free(st);
		if (u->state == REDUM_INV_ACCEPTED) {
			post(inv, REDUM_DUM_EV_CONNECTED, NULL, 0, 0);
			if (aev)
				dum_ev_post(dum, aev);
			to_connected(inv);
		}
		else if (u->state == REDUM_INV_REINVITE_ACK) {
			if (aev)
				dum_ev_post(dum, aev);
			to_connected(inv);
		}
		else {
			free(aev);
		}
		return;

	case REDUM_STACK_EV_ACK_TIMEOUT:
		dum_ops->event_release(dum->tu, ev);
		if (inv->st_inv == st)
			inv->st_inv = NULL;
		dum_st_free(st);
		if (u->state == REDUM_INV_ACCEPTED ||
		    u->state == REDUM_INV_REINVITE_ACK)
			send_bye(inv, REDUM_TERM_ACK_TIMEOUT, 0, err);
		return;

	case REDUM_STACK_EV_SRV_ERROR:
	case REDUM_STACK_EV_CMD_FAILED:
	default:
		/* the transaction is gone (send error, unknown to the stack):
		 * so is its view */
		dum_ops->event_release(dum->tu, ev);
		if (inv->st_inv == st)
			inv->st_inv = NULL;
		st->view = false;
		dum_st_free(st);
		if (initial && (u->state == REDUM_INV_OFFERED ||
				u->state == REDUM_INV_PROCEEDING ||
				u->state == REDUM_INV_ACCEPTED))
			terminate(inv, REDUM_TERM_ERROR, 0, err ? err : EPROTO,
				  NULL);
		else if (!initial && (u->state == REDUM_INV_REINVITE_RECEIVED
				      || u->state == REDUM_INV_REINVITE_ACK))
			to_connected(inv);
		return;
	}
}


/* ---- application commands ---------------------------------------------- */

/* ANSWER_WAIT: the ACK of the 2xx carries the answer (or nothing, when
 * the call is ended instead). */
static int late_ack(struct inv *inv, const char *ctype, const void *body,
		    size_t body_len)
{
	char *hdrs = mk_hdrs(ctype, body_len, inv->inv_auth);
	int err;

	if (!hdrs)
		return ENOMEM;

	err = dum_ops->ack(tu_of(inv), inv->u.dlg->id, inv->ack_cseq, hdrs,
			   body, body_len);
	mem_deref(hdrs);
	dum_stack_err(inv->u.dum, err);

	return err;
}


static void cmd_answer(struct inv *inv, struct dum_cmd *cmd)
{
	struct dum_st *st = inv->st_inv;
	uint32_t flags = REDUM_STACK_F_CONTACT;
	int state = inv->u.state;
	int err;

	if (state == REDUM_INV_ANSWER_WAIT && cmd->scode >= 200) {
		err = late_ack(inv, cmd->ctype, cmd->body, cmd->body_len);
		if (err)
			dum_post_error(inv->u.dum, inv->u.cls->type, inv->u.h,
				       err);
		else
			to_connected(inv);
		return;
	}

	if (!st || !st->view ||
	    (state != REDUM_INV_OFFERED && state != REDUM_INV_PROCEEDING &&
	     state != REDUM_INV_REINVITE_RECEIVED)) {
		dum_post_error(inv->u.dum, inv->u.cls->type, inv->u.h, EPROTO);
		return;
	}

	/* the ACK's view only when it may carry the answer: when our 2xx
	 * holds the offer because the (re-)INVITE had none */
	if (state == REDUM_INV_REINVITE_RECEIVED ? inv->reinv_offer :
	    inv->offer_in_invite)
		flags |= REDUM_STACK_F_NO_ACK_VIEW;

	err = reply(inv, st->id, cmd->scode, cmd->reason ? cmd->reason :
		    dum_reason(cmd->scode), flags, cmd->ctype,
		    cmd->body, cmd->body_len, NULL);
	if (err) {
		dum_post_error(inv->u.dum, inv->u.cls->type, inv->u.h, err);
		return;
	}

	if (cmd->scode < 200) {
		if (state == REDUM_INV_OFFERED)
			dum_usage_set_state(&inv->u, REDUM_INV_PROCEEDING);
		return;
	}

	st->view = false;  /* the final reply hands the view back */
	dum_usage_set_state(&inv->u, state == REDUM_INV_REINVITE_RECEIVED ?
			    REDUM_INV_REINVITE_ACK : REDUM_INV_ACCEPTED);
}


static void cmd_reject(struct inv *inv, struct dum_cmd *cmd)
{
	struct dum_st *st = inv->st_inv;
	int state = inv->u.state;
	uint16_t scode = cmd->scode;

	if (state == REDUM_INV_ANSWER_WAIT) {
		/* an unacceptable offer in a 2xx: ACK, then BYE (RFC 3261
		 * 13.2.2.4) */
		(void)late_ack(inv, NULL, NULL, 0);
		send_bye(inv, REDUM_TERM_LOCAL_BYE, scode, 0);
		return;
	}

	if (!st || !st->view ||
	    (state != REDUM_INV_OFFERED && state != REDUM_INV_PROCEEDING &&
	     state != REDUM_INV_REINVITE_RECEIVED)) {
		dum_post_error(inv->u.dum, inv->u.cls->type, inv->u.h, EPROTO);
		return;
	}

	reply_pending(inv, scode, cmd->reason ? cmd->reason :
		      dum_reason(scode));

	if (state == REDUM_INV_REINVITE_RECEIVED)
		to_connected(inv);
	else
		terminate(inv, REDUM_TERM_REJECTED, scode, 0, NULL);
}


static void do_end(struct inv *inv, enum redum_term_reason bye_reason)
{
	struct redum_dum *dum = inv->u.dum;
	int err;

	switch (inv->u.state) {

	case REDUM_INV_CALLING:
	case REDUM_INV_EARLY:
		/* libre sends the CANCEL once a provisional came */
		err = dum_ops->cancel(dum->tu, inv->ct_inv->token);
		if (err) {
			dum_stack_err(dum, err);
			inv->end_req = true;
		}
		dum_usage_set_state(&inv->u, REDUM_INV_CANCELLING);
		return;

	case REDUM_INV_CANCELLING:
	case REDUM_INV_TERMINATING:
		return;

	case REDUM_INV_OFFERED:
	case REDUM_INV_PROCEEDING:
		if (bye_reason == REDUM_TERM_SHUTDOWN) {
			reply_pending(inv, 487, "Request Terminated");
			terminate(inv, REDUM_TERM_SHUTDOWN, 487, 0, NULL);
		}
		else {
			reply_pending(inv, 480, "Temporarily Unavailable");
			terminate(inv, REDUM_TERM_REJECTED, 480, 0, NULL);
		}
		return;

	case REDUM_INV_ACCEPTED:
	case REDUM_INV_REINVITE_ACK:
		/* RFC 3261 15: no BYE before the ACK (or its timeout) */
		inv->end_req = true;
		inv->reason = bye_reason;
		return;

	case REDUM_INV_REINVITE_RECEIVED:
		reply_pending(inv, 487, "Request Terminated");
		send_bye(inv, bye_reason, 0, 0);
		return;

	case REDUM_INV_ANSWER_WAIT:
		/* the 2xx is ACKed (without an answer) before the BYE */
		(void)late_ack(inv, NULL, NULL, 0);
		send_bye(inv, bye_reason, 0, 0);
		return;

	default:
		send_bye(inv, bye_reason, 0, 0);
		return;
	}
}


static void inv_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct inv *inv = inv_of(u);
	struct redum_dum *dum = u->dum;
	int state = u->state;
	int err;

	switch (cmd->type) {

	case DCMD_ANSWER:
		cmd_answer(inv, cmd);
		return;

	case DCMD_REJECT:
		cmd_reject(inv, cmd);
		return;

	case DCMD_END:
		do_end(inv, REDUM_TERM_LOCAL_BYE);
		return;

	case DCMD_INFO:
		if (state != REDUM_INV_CONNECTED &&
		    state != REDUM_INV_REINVITE_SENT &&
		    state != REDUM_INV_REINVITE_RECEIVED &&
		    state != REDUM_INV_REINVITE_ACK &&
		    state != REDUM_INV_GLARE_WAIT) {
			dum_post_error(dum, u->cls->type, u->h, EPROTO);
			return;
		}
		/* kept for a re-sending after a challenge (the last INFO) */
		inv->info_ctype = mem_deref(inv->info_ctype);
		inv->info_body  = mem_deref(inv->info_body);
		inv->info_len   = 0;
		if (cmd->ctype)
			(void)str_dup(&inv->info_ctype, cmd->ctype);
		if (cmd->body_len) {
			inv->info_body = mem_alloc(cmd->body_len, NULL);
			if (inv->info_body) {
				memcpy(inv->info_body, cmd->body,
				       cmd->body_len);
				inv->info_len = cmd->body_len;
			}
		}
		err = send_in_dialog(inv, CT_INFO, "INFO", cmd->ctype,
				     cmd->body, cmd->body_len, NULL);
		if (err)
			dum_post_error(dum, u->cls->type, u->h, err);
		return;

	case DCMD_REINVITE:
		if (state != REDUM_INV_CONNECTED) {
			bool busy = state == REDUM_INV_REINVITE_SENT ||
				state == REDUM_INV_REINVITE_RECEIVED ||
				state == REDUM_INV_REINVITE_ACK ||
				state == REDUM_INV_GLARE_WAIT ||
				state == REDUM_INV_ACCEPTED ||
				state == REDUM_INV_ANSWER_WAIT;

			dum_post_error(dum, u->cls->type, u->h,
				       busy ? EBUSY : EPROTO);
			return;
		}
		mem_deref(inv->offer);
		mem_deref(inv->offer_ctype);
		inv->offer = NULL;
		inv->offer_ctype = NULL;
		inv->offer_len = 0;
		if (cmd->body_len) {
			inv->offer = mem_alloc(cmd->body_len, NULL);
			if (!inv->offer) {
				dum_post_error(dum, u->cls->type, u->h,
					       ENOMEM);
				return;
			}
			memcpy(inv->offer, cmd->body, cmd->body_len);
			inv->offer_len = cmd->body_len;
		}
		if (cmd->ctype)
			(void)str_dup(&inv->offer_ctype, cmd->ctype);
		inv->glare_tries = 0;
		send_reinvite(inv);
		return;

	default:
		dum_post_error(dum, u->cls->type, u->h, EPROTO);
		return;
	}
}


static void inv_end(struct dum_usage *u)
{
	do_end(inv_of(u), REDUM_TERM_SHUTDOWN);
}


static void inv_destroy(struct dum_usage *u)
{
	struct inv *inv = inv_of(u);

	tmr_cancel(&inv->tmr_glare);
	inv->to_tag_buf  = mem_deref(inv->to_tag_buf);
	inv->offer       = mem_deref(inv->offer);
	inv->offer_ctype = mem_deref(inv->offer_ctype);
	inv->target      = mem_deref(inv->target);
	inv->inv_hdrs    = mem_deref(inv->inv_hdrs);
	inv->inv_body    = mem_deref(inv->inv_body);
	inv->inv_auth    = mem_deref(inv->inv_auth);
	inv->info_ctype  = mem_deref(inv->info_ctype);
	inv->info_body   = mem_deref(inv->info_body);
	dum_auth_reset(&inv->auth);
	inv->st_inv = NULL;
	inv->ct_inv = NULL;
}


void dum_invite_init(struct redum_dum *dum)
{
	if (dum->hd.invite.on_new)
		dum_route_method(dum, REDUM_STACK_M_INVITE, new_invite);
}
