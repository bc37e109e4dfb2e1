/**
 * @file pager.c  Pager mode instant messages (MESSAGE, RFC 3428)
 *
 * Runs on the DUM thread. Client: one usage per MESSAGE, from the command
 * to its final response, reported as PAGER_RESULT (scode, or err when the
 * transaction failed: bounded by the stack's Timer F). Server (conf.sub->
 * pager): DUM answers 200 at once (a MESSAGE needs no decision, and an
 * application that is slow must not make the sender retransmit), then
 * tells the application with PAGER_MESSAGE, or only counts it
 * (messages_auto200) when on_message is unset.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "sub_int.h"

enum { CT_MSG = 1 };

static const char *const pager_states[] = { "sending" };

static void pager_response(struct dum_usage *u, struct dum_ct *ct,
			   struct redum_stack_event *ev);
static void pager_end(struct dum_usage *u);

const struct dum_class dum_pager_class = {
	.type = REDUM_USAGE_PAGER,
	.nstates = 1,
	.state_names = pager_states,
	.response = pager_response,
	.end = pager_end,
};


static void result(struct dum_usage *u, const struct sip_msg *msg,
		   uint16_t scode, int err)
{
	struct redum_dum_event *ev;

	ev = dum_sub_ev(u->dum, REDUM_USAGE_PAGER, u->h,
			REDUM_DUM_EV_PAGER_RESULT, msg, NULL, NULL, NULL, 0);
	if (ev) {
		ev->scode = scode;
		ev->err = err;
	}
	dum_ev_post(u->dum, ev);
	dum_usage_free(u);
}


static void pager_response(struct dum_usage *u, struct dum_ct *ct,
			   struct redum_stack_event *ev)
{
	struct redum_dum *dum = u->dum;

	if (ev->type == REDUM_STACK_EV_RESPONSE && ev->msg->scode < 200) {
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	dum_ct_free(ct);

	if (ev->type == REDUM_STACK_EV_RESPONSE)
		result(u, ev->msg, ev->msg->scode, 0);
	else
		result(u, NULL, 0, ev->err ? ev->err : EPROTO);
	dum_ops->event_release(dum->tu, ev);
}


/* DUM stops: the transaction is bounded by Timer F and the stop's bound;
 * nothing to send. */
static void pager_end(struct dum_usage *u)
{
	(void)u;
}


void dum_pager_new(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_usage *u;
	struct dum_ct *ct;
	char *hdrs = NULL;
	int err;

	u = dum_usage_alloc(dum, sizeof(*u), &dum_pager_class, cmd->h, 0);
	if (!u) {
		dum_post_error(dum, REDUM_USAGE_PAGER, cmd->h, ENOMEM);
		return;
	}

	ct = dum_ct_new(u, CT_MSG);
	if (!ct) {
		err = ENOMEM;
		goto fail;
	}

	err = re_sdprintf(&hdrs,
			  "To: <%s>\r\n"
			  "From: %s%s%s<%s>;tag=%016llx\r\n"
			  "Call-ID: %016llx%016llx\r\n"
			  "CSeq: 1 MESSAGE\r\n"
			  "Content-Type: %s\r\n"
			  "%s",
			  cmd->to ? cmd->to : cmd->uri,
			  cmd->from_name ? "\"" : "",
			  cmd->from_name ? cmd->from_name : "",
			  cmd->from_name ? "\" " : "",
			  cmd->from, rand_u64(), rand_u64(), rand_u64(),
			  cmd->ctype && *cmd->ctype ? cmd->ctype :
			  "text/plain",
			  cmd->hdrs ? cmd->hdrs : "");
	if (err)
		goto fail;

	err = dum_ops->request(dum->tu, ct->token, 0, "MESSAGE", cmd->uri,
			       cmd->route, hdrs, cmd->body, cmd->body_len);
	mem_deref(hdrs);
	if (err) {
		dum_stack_err(dum, err);
		goto fail;
	}
	return;

 fail:
	result(u, NULL, 0, err);
}


void dum_pager_request(struct redum_dum *dum, struct redum_stack_event *ev)
{
	struct redum_dum_event *e = NULL;

	atomic_fetch_add_explicit(&dum->subs->messages_in, 1,
				  memory_order_relaxed);

	if (dum->hd.sub.on_message)
		e = dum_sub_ev(dum, REDUM_USAGE_PAGER, dum_new_handle(dum),
			       REDUM_DUM_EV_PAGER_MESSAGE, ev->msg, NULL,
			       NULL, NULL, 0);
	else
		atomic_fetch_add_explicit(&dum->subs->messages_auto200, 1,
					  memory_order_relaxed);

	dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 200, "OK", 0,
					   NULL, NULL, 0));
	dum_ops->event_release(dum->tu, ev);
	dum_ev_post(dum, e);
}


int redum_pager_send(struct redum_dum *dum, redum_dum_handle *hp,
		     const struct redum_sub_req *req)
{
	struct dum_cmd *cmd;
	int err;

	if (!dum || !hp || !req || !req->uri || !req->from || !req->body ||
	    !req->body_len)
		return EINVAL;

	cmd = dum_sub_cmd_alloc(DCMD_MESSAGE, dum_new_handle(dum), req, NULL,
				NULL, req->ctype, req->body, req->body_len);
	if (!cmd)
		return ENOMEM;

	*hp = cmd->h;
	err = dum_cmd_push(dum, cmd);
	if (err)
		*hp = 0;
	return err;
}
