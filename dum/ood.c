/**
 * @file ood.c  Out-of-dialog non-INVITE requests: OPTIONS and generic
 *              requests, client side and server side
 *
 * Runs on the DUM thread. One usage per transaction: a client usage lives
 * from the command to the final response; a server usage from the request
 * to the application's final answer (redum_dum_respond()). Without an
 * on_options handler DUM answers OPTIONS itself (200, Allow, Accept).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dum_int.h"
#include "reg_int.h"

enum { CT_REQ = 1 };
enum { ST_REQ = 1 };

struct req {
	struct dum_usage u;
	struct dum_st *st;           /* server side                       */
	/* client side: what a challenged request is re-sent with (a new
	 * CSeq, the same Call-ID and tags: RFC 3261 22.2) */
	char *method, *uri, *route;
	char *dhdrs;                 /* To, From, Call-ID                 */
	char *xhdrs;                 /* Content-Type and the app's lines  */
	uint8_t *body;
	size_t body_len;
	uint32_t cseq;
	struct dum_auth auth;
};

static const char *const state_names[REDUM_REQ_STATE_COUNT] = {
	"pending",
};

static void req_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev);
static void req_srv_event(struct dum_usage *u, struct dum_st *st,
			  struct redum_stack_event *ev);
static void req_command(struct dum_usage *u, struct dum_cmd *cmd);
static void req_end(struct dum_usage *u);
static void req_destroy(struct dum_usage *u);

const struct dum_class dum_req_client_class = {
	.type = REDUM_USAGE_REQUEST_CLIENT,
	.nstates = REDUM_REQ_STATE_COUNT,
	.state_names = state_names,
	.response = req_response,
	.srv_event = req_srv_event,
	.command = req_command,
	.end = req_end,
	.destroy = req_destroy,
};

const struct dum_class dum_req_server_class = {
	.type = REDUM_USAGE_REQUEST_SERVER,
	.nstates = REDUM_REQ_STATE_COUNT,
	.state_names = state_names,
	.response = req_response,
	.srv_event = req_srv_event,
	.command = req_command,
	.end = req_end,
	.destroy = req_destroy,
};


/* ---- client ----------------------------------------------------------------- */

/* Sends (or re-sends, after a challenge) the request with the next CSeq
 * and the Authorization of the last challenge, if any. */
static int req_send(struct req *r)
{
	struct redum_dum *dum = r->u.dum;
	char *auth = NULL, *hdrs = NULL;
	struct dum_ct *ct;
	int err;

	err = dum_auth_hdr(dum, &r->auth, &auth, r->method, r->uri);
	if (err)
		return err;

	++r->cseq;
	err = re_sdprintf(&hdrs, "%sCSeq: %u %s\r\n%s%s", r->dhdrs, r->cseq,
			  r->method, auth, r->xhdrs);
	mem_deref(auth);
	if (err)
		return err;

	ct = dum_ct_new(&r->u, CT_REQ);
	if (!ct) {
		mem_deref(hdrs);
		return ENOMEM;
	}

	err = dum_ops->request(dum->tu, ct->token, 0, r->method, r->uri,
			       r->route, hdrs, r->body, r->body_len);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		dum_ct_free(ct);
	}

	return err;
}


void dum_ood_request(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_usage *u;
	struct req *r;
	const char *ctype = cmd->ctype && *cmd->ctype ? cmd->ctype :
		"text/plain";
	int err;

	u = dum_usage_alloc(dum, sizeof(struct req), &dum_req_client_class,
			    cmd->h, REDUM_REQ_PENDING);
	if (!u) {
		dum_post_error(dum, REDUM_USAGE_REQUEST_CLIENT, cmd->h,
			       ENOMEM);
		return;
	}
	r = (struct req *)u;

	/* out of dialog: we write the dialog-less headers ourselves */
	err = re_sdprintf(&r->dhdrs,
			  "To: <%s>\r\n"
			  "From: %s%s%s<%s>;tag=%016llx\r\n"
			  "Call-ID: %016llx%016llx\r\n",
			  cmd->to ? cmd->to : cmd->uri,
			  cmd->from_name ? "\"" : "",
			  cmd->from_name ? cmd->from_name : "",
			  cmd->from_name ? "\" " : "",
			  cmd->from, rand_u64(), rand_u64(), rand_u64());
	err |= re_sdprintf(&r->xhdrs, "%s%s%s%s",
			   cmd->body_len ? "Content-Type: " : "",
			   cmd->body_len ? ctype : "",
			   cmd->body_len ? "\r\n" : "",
			   cmd->hdrs ? cmd->hdrs : "");
	err |= str_dup(&r->method, cmd->method);
	err |= str_dup(&r->uri, cmd->uri);
	if (cmd->route)
		err |= str_dup(&r->route, cmd->route);
	if (cmd->body_len) {
		r->body = mem_alloc(cmd->body_len, NULL);
		if (r->body) {
			memcpy(r->body, cmd->body, cmd->body_len);
			r->body_len = cmd->body_len;
		}
		else {
			err = ENOMEM;
		}
	}
	if (err) {
		err = ENOMEM;
		goto fail;
	}

	err = req_send(r);
	if (err)
		goto fail;

	return;

 fail:
	dum_post_error(dum, REDUM_USAGE_REQUEST_CLIENT, cmd->h, err);
	dum_usage_free(u);
}


static void req_response(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev)
{
	struct redum_dum *dum = u->dum;
	struct req *r = (struct req *)u;
	struct redum_dum_event *rev;
	int err = 0;

	if (ev->type == REDUM_STACK_EV_RESPONSE && ev->msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	/* a challenge to our request: re-send it once per new nonce */
	if (ev->type == REDUM_STACK_EV_RESPONSE && r->method &&
	    (ev->msg->scode == 401 || ev->msg->scode == 407) &&
	    dum_auth_retry(dum, &r->auth, ev->msg) == 0) {
		dum_ct_free(ct);
		err = req_send(r);
		if (!err) {
			dum_ops->event_release(dum->tu, ev);
			return;
		}
	}

	rev = dum_ev_new(u, REDUM_DUM_EV_RESPONSE,
			 ev->type == REDUM_STACK_EV_RESPONSE && !err ?
			 ev->msg : NULL);
	if (rev && (ev->type != REDUM_STACK_EV_RESPONSE || err))
		rev->err = err ? err : ev->err ? ev->err : EPROTO;
	dum_ops->event_release(dum->tu, ev);
	dum_ev_post(dum, rev);
	dum_usage_free(u);
}


static void req_destroy(struct dum_usage *u)
{
	struct req *r = (struct req *)u;

	r->method = mem_deref(r->method);
	r->uri    = mem_deref(r->uri);
	r->route  = mem_deref(r->route);
	r->dhdrs  = mem_deref(r->dhdrs);
	r->xhdrs  = mem_deref(r->xhdrs);
	r->body   = mem_deref(r->body);
	dum_auth_reset(&r->auth);
}


/* ---- server ----------------------------------------------------------------- */

static void auto_options(struct redum_dum *dum, struct redum_stack_event *ev)
{
	char *hdrs = NULL;

	if (re_sdprintf(&hdrs, "Allow: %s\r\nAccept: %s\r\n",
			dum->conf.allow, dum->conf.accept) == 0)
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 200,
						     "OK", 0, hdrs, NULL, 0));
	else
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
						     "Server Internal Error",
						     0, NULL, NULL, 0));
	mem_deref(hdrs);
	dum_ops->event_release(dum->tu, ev);
}


static void new_request(struct redum_dum *dum, struct redum_stack_event *ev)
{
	bool options = !pl_strcmp(&ev->msg->met, "OPTIONS");
	struct dum_usage *u;
	struct req *r;

	if (options && !dum->hd.request.on_options) {
		auto_options(dum, ev);
		return;
	}

	if (!options && !dum->hd.request.on_request) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 501,
						     "Not Implemented", 0,
						     NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	u = dum_usage_alloc(dum, sizeof(struct req), &dum_req_server_class,
			    0, REDUM_REQ_PENDING);
	r = (struct req *)u;
	if (u)
		r->st = dum_st_new(u, ev->id, ST_REQ);
	if (!u || !r->st) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
						     "Server Internal Error",
						     0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		if (u)
			dum_usage_free(u);
		return;
	}

	dum_ev_post(dum, dum_ev_new(u, options ? REDUM_DUM_EV_OPTIONS :
				    REDUM_DUM_EV_REQUEST, ev->msg));
	dum_ops->event_release(dum->tu, ev);
}


static void req_srv_event(struct dum_usage *u, struct dum_st *st,
			  struct redum_stack_event *ev)
{
	struct redum_dum *dum = u->dum;
	int err = ev->err ? ev->err : EPROTO;

	/* the transaction is gone without our final answer */
	dum_ops->event_release(dum->tu, ev);
	st->view = false;
	dum_post_error(dum, u->cls->type, u->h, err);
	dum_usage_free(u);
}


static void req_command(struct dum_usage *u, struct dum_cmd *cmd)
{
	struct redum_dum *dum = u->dum;
	struct req *r = (struct req *)u;
	char *hdrs = NULL;
	int err;

	if (cmd->type != DCMD_RESPOND || !r->st || !r->st->view) {
		dum_post_error(dum, u->cls->type, u->h, EPROTO);
		return;
	}

	err = re_sdprintf(&hdrs, "%s%s%s%s",
			  cmd->body_len ? "Content-Type: " : "",
			  cmd->body_len ? (cmd->ctype ? cmd->ctype :
					   "text/plain") : "",
			  cmd->body_len ? "\r\n" : "",
			  cmd->hdrs ? cmd->hdrs : "");
	if (!err)
		err = dum_ops->reply(dum->tu, r->st->id, cmd->scode,
					cmd->reason ? cmd->reason :
					dum_reason(cmd->scode),
					0, hdrs, cmd->body, cmd->body_len);
	mem_deref(hdrs);

	if (err) {
		dum_stack_err(dum, err);
		dum_post_error(dum, u->cls->type, u->h, err);
		return;
	}

	if (cmd->scode >= 200) {
		r->st->view = false;
		dum_usage_free(u);
	}
}


static void req_end(struct dum_usage *u)
{
	struct redum_dum *dum = u->dum;
	struct req *r = (struct req *)u;

	/* a client request ends by itself (final or timeout, bounded by the
	 * stop's give-up); an unanswered server one is refused now */
	if (u->cls->type != REDUM_USAGE_REQUEST_SERVER || !r->st ||
	    !r->st->view)
		return;

	dum_reply_503(dum, r->st->id);
	r->st->view = false;
	dum_usage_free(u);
}


void dum_ood_init(struct redum_dum *dum)
{
	uint32_t m;

	dum_route_method(dum, REDUM_STACK_M_OPTIONS, new_request);

	if (!dum->hd.request.on_request)
		return;

	for (m = 0; m < REDUM_STACK_M_COUNT; m++) {
		if (!(dum->conf.methods & REDUM_STACK_MBIT(m)))
			continue;
		if (m == REDUM_STACK_M_INVITE || m == REDUM_STACK_M_ACK ||
		    m == REDUM_STACK_M_CANCEL || m == REDUM_STACK_M_BYE)
			continue;
		dum_route_method(dum, (enum redum_stack_method)m,
				 new_request);
	}
}
