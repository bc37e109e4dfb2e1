/**
 * @file cli.c  Client transactions and dialogs (libre struct sip_dialog
 *              objects addressed by TU-chosen ids)
 *
 * Everything here runs on the stack thread.
 *
 * libre 1.1.0 facts this relies on (src/sip/request.c, ctrans.c):
 *  - resph(err, msg) is called for every provisional and once for the final
 *    (or with err and no msg); before the final call libre clears our
 *    sip_request pointer (reqp);
 *  - dropping our reference to a pending stateful request cancels it (a
 *    CANCEL once a provisional came) and no handler is called any more;
 *  - the INVITE ctrans ends at the first 2xx: retransmitted 2xx reach our
 *    response listener, where we re-send the ACK we sent for it; so do the
 *    2xx of other forks (another To-tag), which we report to the TU with the
 *    INVITE's token for 64*T1 after the first 2xx (RFC 3261 13.2.2.4: each
 *    2xx makes a dialog of its own that the UAC must ACK, and may BYE).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "stack_int.h"

struct cli {
	struct le he;            /* stack->ht_cli by token                  */
	struct le le_tu;         /* rec->clil                               */
	struct redum_stack *stack;
	struct tu_rec *rec;
	uint64_t token, dlg;
	struct sip_request *req;
	uint32_t flags;
};

struct dlg {
	struct le he;            /* stack->ht_dlg by id                     */
	struct le he_cid;        /* stack->ht_dlgcid by Call-ID             */
	struct le le_tu;         /* rec->dlgl                               */
	struct redum_stack *stack;
	struct tu_rec *rec;
	uint64_t id;
	struct sip_dialog *dlg;
	/* UAC: the dialog as allocated, kept to fork from: libre 1.1.0 forks
	 * only from a dialog that sip_dialog_create() has not established */
	struct sip_dialog *proto;
	struct mbuf *ack_mb;     /* last ACK of a 2xx, re-sent on its retx  */
	struct sa ack_dst;
	enum sip_transp ack_tp;
	uint32_t ack_cseq;
	struct tmr ack_tmr;
	/* the fork window of the INVITE that made this dialog (UAC only) */
	uint64_t fork_token;     /* the INVITE's token, 0 if no window     */
	uint32_t fork_cseq;
	uint64_t fork_until;     /* tmr_jiffies() bound of the window       */
	uint32_t fork_tags[8];   /* To-tag hashes already reported          */
	uint32_t fork_tagc;
	/* UAS: the request that made this dialog (its CSeq and From-tag
	 * hash), to know a late copy of it (dlg_uas_dup) */
	bool uas;
	uint32_t uas_cseq, uas_rtag;
};

enum { FORK_TAGS_MAX = 8 };


static inline uint32_t id_hash(uint64_t id)
{
	return (uint32_t)(id ^ (id >> 32));
}


static const char *tp_param(enum sip_transp tp)
{
	switch (tp) {
	case SIP_TRANSP_TCP: return "tcp";
	case SIP_TRANSP_TLS: return "tls";
	default:             return "udp";
	}
}


static void cmd_failed(struct redum_stack *stack, struct tu_rec *rec,
		       uint64_t id, uint64_t dlg, int err)
{
	CNT_INC(stack->c.cmd_failed);
	stack_post(stack, rec,
		   stack_ev_alloc(REDUM_STACK_EV_CMD_FAILED, id, dlg, err));
}


/* ---- dialogs ----------------------------------------------------------- */

static void dlg_destructor(void *arg)
{
	struct dlg *d = arg;

	hash_unlink(&d->he);
	hash_unlink(&d->he_cid);
	list_unlink(&d->le_tu);
	tmr_cancel(&d->ack_tmr);
	mem_deref(d->ack_mb);
	mem_deref(d->dlg);
	mem_deref(d->proto);
	CNT_DEC(d->stack->c.dialogs_alive);
}


struct dlg_key {
	const struct tu_rec *rec;
	uint64_t id;
};


static bool dlg_cmp(struct le *le, void *arg)
{
	const struct dlg *d = le->data;
	const struct dlg_key *k = arg;

	return d->id == k->id && d->rec == k->rec;
}


static struct dlg *dlg_find(struct redum_stack *stack,
			    const struct tu_rec *rec, uint64_t id)
{
	struct dlg_key k = {rec, id};

	return list_ledata(hash_lookup(stack->ht_dlg, id_hash(id), dlg_cmp,
				       &k));
}


/* Takes d->dlg (already set) and files the record. */
static struct dlg *dlg_new(struct redum_stack *stack, struct tu_rec *rec,
			   uint64_t id, struct sip_dialog *sd)
{
	struct dlg *d = mem_zalloc(sizeof(*d), dlg_destructor);

	if (!d) {
		mem_deref(sd);
		return NULL;
	}

	d->stack = stack;
	d->rec   = rec;
	d->id    = id;
	d->dlg   = sd;
	CNT_INC(stack->c.dialogs_alive);

	hash_append(stack->ht_dlg, id_hash(id), &d->he, d);
	hash_append(stack->ht_dlgcid, hash_joaat_str(sip_dialog_callid(sd)),
		    &d->he_cid, d);
	list_append(&rec->dlgl, &d->le_tu, d);

	return d;
}


static bool dlg_msg_cmp(struct le *le, void *arg)
{
	const struct dlg *d = le->data;
	const struct sip_msg *msg = arg;

	return sip_dialog_established(d->dlg) && sip_dialog_cmp(d->dlg, msg);
}


/* A UAC dialog not yet established whose local tag the request names:
 * a NOTIFY may come before the 2xx to its SUBSCRIBE (RFC 6665 4.1.2.4), or
 * overtake it on the way to the TU. */
static bool dlg_early_cmp(struct le *le, void *arg)
{
	const struct dlg *d = le->data;
	const struct sip_msg *msg = arg;

	return !sip_dialog_established(d->dlg) &&
		sip_dialog_cmp_half(d->dlg, msg);
}


struct tu_rec *dlg_route(struct redum_stack *stack, const struct sip_msg *msg,
			 uint64_t *dlgid)
{
	struct dlg *d;

	STACK_OWNED(stack);

	d = list_ledata(hash_lookup(stack->ht_dlgcid,
				    hash_joaat_pl(&msg->callid), dlg_msg_cmp,
				    (void *)msg));
	if (!d && !pl_strcmp(&msg->met, "NOTIFY"))
		d = list_ledata(hash_lookup(stack->ht_dlgcid,
					    hash_joaat_pl(&msg->callid),
					    dlg_early_cmp, (void *)msg));
	if (!d)
		return NULL;

	*dlgid = d->id;
	return d->rec;
}


/** UAS dialog @p id from @p msg (sip_dialog_accept). */
int dlg_accept_msg(struct redum_stack *stack, struct tu_rec *rec,
		   uint64_t id, const struct sip_msg *msg)
{
	struct sip_dialog *sd = NULL;
	struct dlg *d;
	int err;

	STACK_OWNED(stack);

	if (dlg_find(stack, rec, id))
		return EEXIST;

	err = sip_dialog_accept(&sd, msg);
	if (err)
		return err;

	d = dlg_new(stack, rec, id, sd);
	if (!d)
		return ENOMEM;

	d->uas      = true;
	d->uas_cseq = msg->cseq.num;
	d->uas_rtag = hash_joaat_pl(&msg->from.tag);

	return 0;
}


/* Was UAS dialog @p d made by @p req (same Call-ID, From tag, CSeq)? */
static bool dlg_made_by(const struct dlg *d, const struct sip_msg *req)
{
	return d->uas && d->uas_cseq == req->cseq.num &&
		d->uas_rtag == hash_joaat_pl(&req->from.tag) &&
		!pl_strcmp(&req->callid, sip_dialog_callid(d->dlg));
}


static bool dlg_dup_cmp(struct le *le, void *arg)
{
	return dlg_made_by(le->data, arg);
}


/** Is UAS dialog @p id of @p rec here, made from @p req (so that it knows
 *  copies of @p req: dlg_uas_dup)? */
bool dlg_uas_made_by(struct redum_stack *stack, const struct tu_rec *rec,
		     uint64_t id, const struct sip_msg *req)
{
	struct dlg *d = id ? dlg_find(stack, rec, id) : NULL;

	STACK_OWNED(stack);

	return d && dlg_made_by(d, req);
}


/** Is @p msg (an INVITE without To tag) a copy of the request that made a
 *  UAS dialog still here? Same Call-ID, From tag and CSeq: a late
 *  retransmission, or the same request merged on another path; either
 *  way not a new call (RFC 3261 8.2.2.2, RFC 6026 7.1). */
bool dlg_uas_dup(struct redum_stack *stack, const struct sip_msg *msg)
{
	STACK_OWNED(stack);

	return hash_lookup(stack->ht_dlgcid, hash_joaat_pl(&msg->callid),
			   dlg_dup_cmp, (void *)msg) != NULL;
}


int dlg_destroy_id(struct redum_stack *stack, struct tu_rec *rec, uint64_t id)
{
	struct dlg *d;

	STACK_OWNED(stack);

	d = dlg_find(stack, rec, id);
	if (!d)
		return ENOENT;

	mem_deref(d);
	return 0;
}


void dlg_flush(struct redum_stack *stack, struct tu_rec *rec)
{
	STACK_OWNED(stack);

	list_flush(&rec->dlgl);
}


static void ack_tmr_handler(void *arg)
{
	struct dlg *d = arg;

	d->ack_mb = mem_deref(d->ack_mb);
}


static int ack_send_handler(enum sip_transp tp, const struct sa *src,
			    const struct sa *dst, struct mbuf *mb, void *arg)
{
	struct dlg *d = arg;
	(void)src;

	/* libre completes mb after this returns; we keep a reference */
	mem_deref(d->ack_mb);
	d->ack_mb  = mem_ref(mb);
	d->ack_dst = *dst;
	d->ack_tp  = tp;

	return 0;
}


static bool ack_retx_cmp(struct le *le, void *arg)
{
	const struct dlg *d = le->data;
	const struct sip_msg *msg = arg;

	/* the tags too: a fork's 2xx has the Call-ID and CSeq of another
	 * dialog's, and must not get that dialog's ACK */
	return d->ack_mb && d->ack_cseq == msg->cseq.num &&
		sip_dialog_established(d->dlg) && sip_dialog_cmp(d->dlg, msg);
}


static bool fork_cmp(struct le *le, void *arg)
{
	const struct dlg *d = le->data;
	const struct sip_msg *msg = arg;

	return d->fork_token && d->fork_cseq == msg->cseq.num &&
		!pl_strcmp(&msg->callid, sip_dialog_callid(d->dlg));
}


/* A 2xx of another fork of the INVITE that made dialog @p d: report it to
 * the TU once per To-tag (it forks the dialog, ACKs and BYEs it); the
 * retransmissions that arrive before the TU's ACK are absorbed. */
static void fork_report(struct redum_stack *stack, struct dlg *d,
			const struct sip_msg *msg)
{
	struct redum_stack_event *ev;
	uint32_t tag = hash_joaat_pl(&msg->to.tag);

	if (tmr_jiffies() > d->fork_until) {
		d->fork_token = 0;
		CNT_INC(stack->c.fork_late);
		return;
	}

	for (uint32_t i = 0; i < d->fork_tagc; i++) {
		if (d->fork_tags[i] == tag) {
			CNT_INC(stack->c.fork_absorbed);
			return;
		}
	}
	if (d->fork_tagc < FORK_TAGS_MAX)
		d->fork_tags[d->fork_tagc++] = tag;

	CNT_INC(stack->c.resp_in[1]);
	CNT_INC(stack->c.forks);
	ev = stack_ev_alloc(REDUM_STACK_EV_RESPONSE, d->fork_token, d->id, 0);
	if (ev) {
		ev->ref = mem_ref((void *)msg);
		ev->msg = msg;
	}
	stack_post(stack, d->rec, ev);
}


/* Responses no client transaction took: re-ACK retransmitted 2xx. */
bool cli_response_handler(const struct sip_msg *msg, void *arg)
{
	struct redum_stack *stack = arg;
	struct dlg *d;

	STACK_OWNED(stack);

	if (msg->scode < 200 || msg->scode >= 300 ||
	    pl_strcmp(&msg->cseq.met, "INVITE"))
		return true;

	d = list_ledata(hash_lookup(stack->ht_dlgcid,
				    hash_joaat_pl(&msg->callid), ack_retx_cmp,
				    (void *)msg));
	if (!d) {
		if (!msg->to.tag.l)
			return true;
		d = list_ledata(hash_lookup(stack->ht_dlgcid,
					    hash_joaat_pl(&msg->callid),
					    fork_cmp, (void *)msg));
		if (d && !(sip_dialog_established(d->dlg) &&
			   sip_dialog_cmp(d->dlg, msg)))
			fork_report(stack, d, msg);
		return true;
	}

	d->ack_mb->pos = 0;
	if (sip_send(stack->sip, NULL, d->ack_tp, &d->ack_dst, d->ack_mb))
		CNT_INC(stack->c.send_errors);
	else
		CNT_INC(stack->c.ack_retx);

	return true;
}


/* ---- client transactions ----------------------------------------------- */

static void cli_destructor(void *arg)
{
	struct cli *cli = arg;

	hash_unlink(&cli->he);
	list_unlink(&cli->le_tu);
	mem_deref(cli->req);   /* pending: libre cancels it, no callback */
	CNT_DEC(cli->stack->c.ctrans_alive);
}


struct cli_key {
	const struct tu_rec *rec;
	uint64_t token;
};


static bool cli_cmp(struct le *le, void *arg)
{
	const struct cli *cli = le->data;
	const struct cli_key *k = arg;

	return cli->token == k->token && cli->rec == k->rec;
}


static struct cli *cli_find(struct redum_stack *stack,
			    const struct tu_rec *rec, uint64_t token)
{
	struct cli_key k = {rec, token};

	return list_ledata(hash_lookup(stack->ht_cli, id_hash(token), cli_cmp,
				       &k));
}


static int send_handler(enum sip_transp tp, const struct sa *src,
			const struct sa *dst, struct mbuf *mb, void *arg)
{
	struct cli *cli = arg;
	(void)dst;

	if (cli->flags & REDUM_STACK_F_CONTACT)
		return mbuf_printf(mb, "Contact: <sip:%J;transport=%s>\r\n",
				   src, tp_param(tp));

	return 0;
}


static void resp_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct cli *cli = arg;
	struct redum_stack *stack = cli->stack;
	struct redum_stack_event *ev;

	STACK_OWNED(stack);

	if (err || !msg) {
		stack_post(stack, cli->rec,
			   stack_ev_alloc(REDUM_STACK_EV_CLI_ERROR, cli->token,
					  cli->dlg, err ? err : EPROTO));
		cli->req = NULL;
		mem_deref(cli);
		return;
	}

	if (msg->scode >= 100 && msg->scode < 700)
		CNT_INC(stack->c.resp_in[msg->scode / 100 - 1]);

	if (msg->scode < 200 && (cli->flags & REDUM_STACK_F_NO_PROV))
		return;

	ev = stack_ev_alloc(REDUM_STACK_EV_RESPONSE, cli->token, cli->dlg, 0);
	if (ev) {
		ev->ref = mem_ref((void *)msg);
		ev->msg = msg;
	}
	stack_post(stack, cli->rec, ev);

	if (msg->scode >= 200 && msg->scode < 300 && cli->dlg &&
	    !pl_strcmp(&msg->cseq.met, "INVITE")) {
		struct dlg *d = dlg_find(stack, cli->rec, cli->dlg);
		if (d) {
			d->fork_token = cli->token;
			d->fork_cseq  = msg->cseq.num;
			d->fork_until = tmr_jiffies() + 64 * stack->conf.t1_ms;
			d->fork_tags[0] = hash_joaat_pl(&msg->to.tag);
			d->fork_tagc  = 1;
		}
	}

	if (msg->scode >= 200) {
		cli->req = NULL;
		mem_deref(cli);
	}
}


static struct cli *cli_new(struct redum_stack *stack, struct tu_rec *rec,
			   struct cmd *cmd)
{
	struct cli *cli;

	if (cli_find(stack, rec, cmd->id)) {
		cmd_failed(stack, rec, cmd->id, cmd->id2, EEXIST);
		return NULL;
	}

	cli = mem_zalloc(sizeof(*cli), cli_destructor);
	if (!cli) {
		cmd_failed(stack, rec, cmd->id, cmd->id2, ENOMEM);
		return NULL;
	}

	cli->stack = stack;
	cli->rec   = rec;
	cli->token = cmd->id;
	cli->dlg   = cmd->id2;
	cli->flags = cmd->flags;
	CNT_INC(stack->c.ctrans_alive);

	return cli;
}


static void cli_file(struct redum_stack *stack, struct tu_rec *rec,
		     struct cli *cli, struct cmd *cmd, int err)
{
	struct pl met;

	if (err) {
		CNT_INC(stack->c.send_errors);
		cmd_failed(stack, rec, cmd->id, cmd->id2, err);
		mem_deref(cli);
		return;
	}

	pl_set_str(&met, cmd->s[0]);
	CNT_INC(stack->c.req_out[redum_stack_method_of(&met)]);
	hash_append(stack->ht_cli, id_hash(cli->token), &cli->he, cli);
	list_append(&rec->clil, &cli->le_tu, cli);
}


static void cmd_request(struct redum_stack *stack, struct tu_rec *rec,
			struct cmd *cmd)
{
	struct uri route, *routep = NULL;
	struct cli *cli;
	struct pl pl;
	int err;

	if (cmd->s[2]) {
		pl_set_str(&pl, cmd->s[2]);
		if (uri_decode(&route, &pl)) {
			cmd_failed(stack, rec, cmd->id, 0, EINVAL);
			return;
		}
		routep = &route;
	}

	cli = cli_new(stack, rec, cmd);
	if (!cli)
		return;

	err = sip_requestf(&cli->req, stack->sip, true, cmd->s[0], cmd->s[1],
			   routep, NULL, send_handler, resp_handler, cli,
			   "%s%s%s"
			   "%s"
			   "Content-Length: %zu\r\n"
			   "\r\n"
			   "%b",
			   stack->software ? "User-Agent: " : "",
			   stack->software ? stack->software : "",
			   stack->software ? "\r\n" : "",
			   cmd->hdrs,
			   cmd->body_len, cmd->body, cmd->body_len);

	cli_file(stack, rec, cli, cmd, err);
}


static void cmd_drequest(struct redum_stack *stack, struct tu_rec *rec,
			 struct cmd *cmd)
{
	struct dlg *d = dlg_find(stack, rec, cmd->id2);
	struct cli *cli;
	int err;

	if (!d) {
		cmd_failed(stack, rec, cmd->id, cmd->id2, ENOENT);
		return;
	}

	cli = cli_new(stack, rec, cmd);
	if (!cli)
		return;

	err = sip_drequestf(&cli->req, stack->sip, true, cmd->s[0], d->dlg, 0,
			    NULL, send_handler, resp_handler, cli,
			    "%s"
			    "Content-Length: %zu\r\n"
			    "\r\n"
			    "%b",
			    cmd->hdrs ? cmd->hdrs : "",
			    cmd->body_len, cmd->body, cmd->body_len);

	cli_file(stack, rec, cli, cmd, err);
}


static void cmd_ack(struct redum_stack *stack, struct tu_rec *rec,
		    struct cmd *cmd)
{
	struct dlg *d = dlg_find(stack, rec, cmd->id2);
	int err;

	if (!d) {
		cmd_failed(stack, rec, 0, cmd->id2, ENOENT);
		return;
	}

	err = sip_drequestf(NULL, stack->sip, false, "ACK", d->dlg, cmd->cseq,
			    NULL, ack_send_handler, NULL, d,
			    "%s"
			    "Content-Length: %zu\r\n"
			    "\r\n"
			    "%b",
			    cmd->hdrs ? cmd->hdrs : "",
			    cmd->body_len, cmd->body, cmd->body_len);
	if (err) {
		CNT_INC(stack->c.send_errors);
		cmd_failed(stack, rec, 0, cmd->id2, err);
		return;
	}

	CNT_INC(stack->c.req_out[REDUM_STACK_M_ACK]);
	d->ack_cseq = cmd->cseq;
	tmr_start(&d->ack_tmr, 64 * stack->conf.t1_ms, ack_tmr_handler, d);
}


void cli_cmd(struct redum_stack *stack, struct tu_rec *rec, struct cmd *cmd)
{
	const struct sip_msg *msg;
	struct sip_dialog *sd = NULL;
	struct dlg *d, *od;
	struct cli *cli;
	int err;

	STACK_OWNED(stack);

	switch (cmd->type) {

	case CMD_REQUEST:
		cmd_request(stack, rec, cmd);
		break;

	case CMD_DREQUEST:
		cmd_drequest(stack, rec, cmd);
		break;

	case CMD_ACK:
		cmd_ack(stack, rec, cmd);
		break;

	case CMD_CANCEL:
		cli = cli_find(stack, rec, cmd->id);
		if (!cli || !cli->req) {
			CNT_INC(stack->c.cmd_rejected);
			cmd_failed(stack, rec, cmd->id, 0, ENOENT);
			break;
		}
		sip_request_cancel(cli->req);
		CNT_INC(stack->c.req_out[REDUM_STACK_M_CANCEL]);
		break;

	case CMD_DLG_ALLOC:
		if (dlg_find(stack, rec, cmd->id2)) {
			cmd_failed(stack, rec, 0, cmd->id2, EEXIST);
			break;
		}
		/* cmd->hdrs carries the optional route URI */
		err = sip_dialog_alloc(&sd, cmd->s[0], cmd->s[1], cmd->s[2],
				       cmd->s[3], cmd->hdrs ? &cmd->hdrs : NULL,
				       cmd->hdrs ? 1 : 0);
		if (err || !dlg_new(stack, rec, cmd->id2, sd))
			cmd_failed(stack, rec, 0, cmd->id2,
				   err ? err : ENOMEM);
		break;

	case CMD_DLG_ACCEPT:
		if (dlg_find(stack, rec, cmd->id2)) {
			cmd_failed(stack, rec, 0, cmd->id2, EEXIST);
			break;
		}
		msg = srv_lookup_msg(stack, rec, cmd->id, cmd->id2);
		if (!msg) {
			cmd_failed(stack, rec, cmd->id, cmd->id2, ENOENT);
			break;
		}
		err = dlg_accept_msg(stack, rec, cmd->id2, msg);
		if (err)
			cmd_failed(stack, rec, 0, cmd->id2, err);
		break;

	case CMD_DLG_CREATE:
		d = dlg_find(stack, rec, cmd->id2);
		if (!d)
			err = ENOENT;
		else if (!sip_dialog_established(d->dlg)) {
			/* establish by forking, keeping the prototype for
			 * the 2xx of other forks (see struct dlg) */
			err = sip_dialog_fork(&sd, d->dlg, cmd->ev->ref);
			if (!err) {
				d->proto = d->dlg;
				d->dlg = sd;
			}
		}
		else if (!sip_dialog_cmp(d->dlg, cmd->ev->ref))
			err = EALREADY;     /* another To-tag: a fork */
		else if (sip_msg_hdr(cmd->ev->ref, SIP_HDR_CONTACT))
			/* same dialog (e.g. 180 then 200): new target */
			err = sip_dialog_update(d->dlg, cmd->ev->ref);
		else
			err = 0;
		if (err)
			cmd_failed(stack, rec, 0, cmd->id2, err);
		stack_ev_free(cmd->ev);
		cmd->ev = NULL;
		break;

	case CMD_DLG_CREATE_SRV:
		/* a UAC dialog established by a request (NOTIFY before
		 * the 2xx): remote tag from its From, target from its
		 * Contact; forked so the prototype stays (see struct dlg) */
		d = dlg_find(stack, rec, cmd->id2);
		msg = srv_lookup_msg(stack, rec, cmd->id, cmd->id2);
		if (!d || !msg)
			err = ENOENT;
		else if (!sip_dialog_established(d->dlg)) {
			err = sip_dialog_fork(&sd, d->dlg, msg);
			if (!err) {
				d->proto = d->dlg;
				d->dlg = sd;
			}
		}
		else
			err = sip_dialog_cmp(d->dlg, msg) ? 0 : EALREADY;
		if (err)
			cmd_failed(stack, rec, cmd->id, cmd->id2, err);
		break;

	case CMD_DLG_FORK:
		od = dlg_find(stack, rec, cmd->id);
		if (!od)
			err = ENOENT;
		else if (dlg_find(stack, rec, cmd->id2))
			err = EEXIST;
		else
			err = sip_dialog_fork(&sd, od->proto ? od->proto :
					      od->dlg, cmd->ev->ref);
		if (!err && !dlg_new(stack, rec, cmd->id2, sd))
			err = ENOMEM;
		if (err)
			cmd_failed(stack, rec, 0, cmd->id2, err);
		stack_ev_free(cmd->ev);
		cmd->ev = NULL;
		break;

	case CMD_DLG_DESTROY:
		if (dlg_destroy_id(stack, rec, cmd->id2))
			CNT_INC(stack->c.cmd_rejected);
		break;

	default:
		CNT_INC(stack->c.cmd_rejected);
		break;
	}
}


/* The TU is abandoned: its requests are cancelled (dropping our
 * reference) and reported. */
void cli_abandon(struct redum_stack *stack, struct tu_rec *rec)
{
	struct le *le;

	STACK_OWNED(stack);

	le = rec->clil.head;
	while (le) {
		struct cli *cli = le->data;
		le = le->next;

		stack_post(stack, rec,
			   stack_ev_alloc(REDUM_STACK_EV_CLI_ERROR, cli->token,
					  cli->dlg, ECONNABORTED));
		mem_deref(cli);
	}
}
