/**
 * @file srv.c  Server transactions: routing of requests to TUs, replies,
 *               CANCEL, INVITE 2xx reliability (retransmission until ACK)
 *
 * Everything here runs on the stack thread.
 *
 * libre 1.1.0 facts this relies on (src/sip/strans.c):
 *  - the strans absorbs retransmitted requests (re-sending the last
 *    provisional/final) and ACKs of non-2xx finals;
 *  - after a 2xx to INVITE the strans stays ACCEPTED for 64*T1 (T1 = 500
 *    ms, fixed), silently absorbing INVITE retransmissions, and passes the
 *    ACK of the 2xx on to us. It never retransmits the 2xx: we do. It
 *    holds the INVITE and the 2xx all that time (~4 KB a call, 32 s), so
 *    once the ACK is in and a dialog record of ours can take over the
 *    absorbing (dlg_uas_dup), we end it early (acc_st_end);
 *  - a CANCEL matching a pending strans is answered 200 by libre, which
 *    then calls our cancel handler.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <re.h>
#include "stack_int.h"
#include "stack/udp_batch.h"

struct srv {
	struct le he;          /* stack->ht_srv, by id                     */
	struct le he_acc;      /* stack->ht_acc, by Call-ID, while acc     */
	struct le le_tu;       /* rec->srvl, or rec->orphl once abandoned  */
	struct redum_stack *stack;
	struct tu_rec *rec;
	uint64_t id, dlg;
	struct sip_strans *st;
	struct sip_strans *acc_st; /* libre's ACCEPTED strans: our ref     */
	struct sip_msg *msg;   /* our reference: the TU's view             */
	struct mbuf *mb;       /* the 2xx, for retransmission              */
	struct sa dst;
	struct tmr tmr, tmr_to;    /* tmr: the deferred 100, then 2xx retx   */
	uint32_t ival;
	bool invite, final, view, acc, no_ack_view;
};


static void srv_destructor(void *arg)
{
	struct srv *srv = arg;

	hash_unlink(&srv->he);
	hash_unlink(&srv->he_acc);
	list_unlink(&srv->le_tu);
	tmr_cancel(&srv->tmr);
	tmr_cancel(&srv->tmr_to);
	mem_deref(srv->st);
	mem_deref(srv->acc_st);
	mem_deref(srv->msg);
	mem_deref(srv->mb);
	CNT_DEC(srv->stack->c.strans_alive);
}


static void srv_maybe_free(struct srv *srv)
{
	if (srv->final && !srv->view && !srv->acc)
		mem_deref(srv);
}


static inline uint32_t id_hash(uint64_t id)
{
	return (uint32_t)(id ^ (id >> 32));
}


static bool srv_cmp(struct le *le, void *arg)
{
	const struct srv *srv = le->data;
	return srv->id == *(const uint64_t *)arg;
}


static struct srv *srv_find(struct redum_stack *stack, uint64_t id)
{
	return list_ledata(hash_lookup(stack->ht_srv, id_hash(id), srv_cmp,
				       &id));
}


static void count_reply(struct redum_stack *stack, uint16_t scode)
{
	if (scode >= 100 && scode < 700)
		CNT_INC(stack->c.resp_out[scode / 100 - 1]);
}


/* Every 503 of ours, stateful (stack_reply_busy) or not (overload_shed) */
#define BUSY_REASON "Service Unavailable"
#define BUSY_HEADERS "Retry-After: %u\r\nContent-Length: 0\r\n\r\n"

/* Counts a 503 sent (or its send error, @p err). */
static void busy_sent(struct redum_stack *stack, int err)
{
	if (err)
		CNT_INC(stack->c.send_errors);
	else
		count_reply(stack, 503);
	CNT_INC(stack->c.busy_503);
}


/** 503 + Retry-After (TU FIFO full, TU leaving, stack stopping). With
 *  @p stp the pending strans is used, else libre makes one for the final. */
void stack_reply_busy(struct redum_stack *stack, const struct sip_msg *msg,
		      struct sip_strans **stp)
{
	busy_sent(stack, sip_treplyf(stp, NULL, stack->sip, msg, false, 503,
				     BUSY_REASON, BUSY_HEADERS,
				     stack->conf.retry_after));
}


/* Whether the receive queue stands (CoDel's rule, RFC 8289, on the
 * queueing delay of each UDP request read): a request is late when it
 * waited longer than conf.overload_delay_ms; the queue stands once every
 * request read for conf.overload_interval_ms was late (with none more
 * than that interval apart). One stall makes a burst of late requests
 * that is gone in a moment: those are answered; a queue that stays long
 * is overload. */
static bool queue_stands(struct redum_stack *stack)
{
	const uint32_t target = stack->conf.overload_delay_ms;
	const uint32_t interval = stack->conf.overload_interval_ms;
	int64_t age = target ? udp_batch_rx_age() : -1;
	uint64_t now;

	if (age < 0)        /* off, not UDP, or no kernel timestamp */
		return false;

	if (age <= target) {
		stack->late_since = 0;
		return false;
	}

	now = tmr_jiffies();
	if (!stack->late_since || now - stack->late_last > interval)
		stack->late_since = now;
	stack->late_last = now;

	return now - stack->late_since >= interval;
}


/* Overload shedding (docs/OVERLOAD.md): a new request (no To-tag) while a
 * receive queue is too full (overload_check), or a late one while the
 * queue stands (queue_stands), gets 503 + Retry-After statelessly (RFC
 * 3261 8.2.7): no transaction is kept, so refusing costs no memory and no
 * timers, which is what lets an overloaded thread keep up. A
 * retransmission gets another 503; the ACK of an INVITE's 503 finds no
 * transaction and is dropped (unclaimed).
 * @return true if @p msg was shed */
static bool overload_shed(struct redum_stack *stack,
			  const struct sip_msg *msg)
{
	/* every request is a sample of the queue, in-dialog ones too */
	const bool stands = queue_stands(stack);

	if (pl_isset(&msg->to.tag))
		return false;

	if (!stack->overloaded) {
		if (!stands)
			return false;
		CNT_INC(stack->c.shed_late);
	}

	CNT_INC(stack->c.shed_503);
	busy_sent(stack, sip_replyf(stack->sip, msg, 503, BUSY_REASON,
				    BUSY_HEADERS, stack->conf.retry_after));
	return true;
}


static void reply_plain(struct redum_stack *stack, const struct sip_msg *msg,
			struct sip_strans **stp, uint16_t scode,
			const char *reason)
{
	if (sip_treply(stp, stack->sip, msg, scode, reason))
		CNT_INC(stack->c.send_errors);
	else
		count_reply(stack, scode);
}


/** Where a response to @p req goes (RFC 3261 18.2.2, and RFC 3581: with
 *  an rport parameter, to the source port). The same rule libre applies
 *  to the first response; used for the responses we re-send. */
void srv_reply_dst(struct sa *dst, const struct sip_msg *req)
{
	struct pl pl;

	/* msg_param_exists() returns 0 when the parameter is there */
	sip_reply_addr(dst, req,
		       !msg_param_exists(&req->via.params, "rport", &pl));
}


/* ---- ACK of our 2xx, and INVITE retransmissions after it ---------------- */

static bool acc_cmp(struct le *le, void *arg)
{
	const struct srv *srv = le->data;
	const struct sip_msg *msg = arg;

	return srv->msg->cseq.num == msg->cseq.num &&
		!pl_cmp(&srv->msg->callid, &msg->callid) &&
		!pl_cmp(&srv->msg->from.tag, &msg->from.tag);
}


static struct srv *acc_find(struct redum_stack *stack,
			    const struct sip_msg *msg)
{
	return list_ledata(hash_lookup(stack->ht_acc,
				       hash_joaat_pl(&msg->callid), acc_cmp,
				       (void *)msg));
}


/* The ACK of our 2xx is in. libre's ACCEPTED strans would keep the INVITE
 * and the 2xx for 32 s more just to absorb copies of the INVITE; the
 * dialog record the TU made from it absorbs them as long as the dialog
 * lives (dlg_uas_dup), so end the strans now: our reference, and libre's
 * own while it still holds it (it drops that one when its timer fires;
 * the destructor then unhashes the strans and cancels the timer). Without
 * a dialog record of ours the strans runs its course. */
static void acc_st_end(struct srv *srv)
{
	if (!srv->acc_st)
		return;

	if (mem_nrefs(srv->acc_st) == 2 &&
	    dlg_uas_made_by(srv->stack, srv->rec, srv->dlg, srv->msg)) {
		mem_deref(srv->acc_st);
		CNT_INC(srv->stack->c.accepted_ended);
	}
	srv->acc_st = mem_deref(srv->acc_st);
}


static void acc_end(struct srv *srv)
{
	tmr_cancel(&srv->tmr);
	tmr_cancel(&srv->tmr_to);
	hash_unlink(&srv->he_acc);
	srv->acc = false;
}


static void retx_handler(void *arg)
{
	struct srv *srv = arg;
	struct redum_stack *stack = srv->stack;

	STACK_OWNED(stack);

	srv->mb->pos = 0;
	if (sip_send(stack->sip, srv->msg->sock, srv->msg->tp, &srv->dst,
		     srv->mb))
		CNT_INC(stack->c.send_errors);
	else
		CNT_INC(stack->c.retx_2xx);

	srv->ival = MIN(srv->ival * 2, stack->conf.t2_ms);
	tmr_start(&srv->tmr, srv->ival, retx_handler, srv);
}


static void acc_timeout(void *arg)
{
	struct srv *srv = arg;
	struct redum_stack *stack = srv->stack;

	STACK_OWNED(stack);

	acc_end(srv);
	CNT_INC(stack->c.ack_timeouts);
	stack_post(stack, srv->rec,
		   stack_ev_alloc(REDUM_STACK_EV_ACK_TIMEOUT, srv->id,
				  srv->dlg, ETIMEDOUT));
	srv_maybe_free(srv);
}


static void ack_handle(struct redum_stack *stack, const struct sip_msg *msg)
{
	struct redum_stack_event *ev;
	struct srv *srv;

	srv = acc_find(stack, msg);
	if (!srv) {
		/* an ACK of a 2xx we no longer wait for, or of nothing */
		CNT_INC(stack->c.unclaimed);
		return;
	}

	acc_end(srv);
	acc_st_end(srv);
	CNT_INC(stack->c.acks);

	ev = stack_ev_alloc(REDUM_STACK_EV_ACK, srv->id, srv->dlg, 0);
	if (ev && !srv->no_ack_view) {
		ev->ref = mem_ref((void *)msg);
		ev->msg = msg;
	}
	stack_post(stack, srv->rec, ev);
	srv_maybe_free(srv);
}


/* An INVITE retransmission that got past libre (its ACCEPTED strans lives
 * 64*500 ms; ours may live longer with a larger T1): re-send the 2xx. */
static bool invite_absorb(struct redum_stack *stack,
			  const struct sip_msg *msg)
{
	struct srv *srv = acc_find(stack, msg);

	if (!srv || pl_cmp(&srv->msg->via.branch, &msg->via.branch))
		return false;

	srv->mb->pos = 0;
	(void)sip_send(stack->sip, msg->sock, msg->tp, &srv->dst, srv->mb);
	CNT_INC(stack->c.invite_absorbed);

	return true;
}


/* Absorbs @p msg if it repeats a request redum answered itself: an INVITE
 * after our 2xx (its ACCEPTED record, or the dialog once the ACK ended
 * that), or a non-INVITE request whose transaction is done (done.c). Each
 * is answered, or silently taken, as its transaction would. */
static bool retransmission_absorbed(struct redum_stack *stack,
				    const struct sip_msg *msg,
				    enum redum_stack_method m)
{
	if (m == REDUM_STACK_M_INVITE) {
		if (invite_absorb(stack, msg))
			return true;

		/* a late copy of an INVITE whose ACCEPTED strans we ended */
		if (!pl_isset(&msg->to.tag) && dlg_uas_dup(stack, msg)) {
			CNT_INC(stack->c.invite_absorbed);
			return true;
		}

		return false;
	}

	return msg->tp == SIP_TRANSP_UDP && done_absorb(stack, msg);
}


/* ---- new requests ------------------------------------------------------- */

static void cancel_handler(void *arg)
{
	struct srv *srv = arg;
	struct redum_stack *stack = srv->stack;

	STACK_OWNED(stack);

	/* libre answered the CANCEL 200 */
	CNT_INC(stack->c.req_in[REDUM_STACK_M_CANCEL]);
	count_reply(stack, 200);

	if (srv->final)
		return;

	reply_plain(stack, srv->msg, &srv->st, 487, "Request Terminated");
	srv->final = true;
	stack_post(stack, srv->rec,
		   stack_ev_alloc(REDUM_STACK_EV_CANCELLED, srv->id, srv->dlg,
				  0));
}


static struct tu_rec *route(struct redum_stack *stack,
			    enum redum_stack_method m, bool *leaving)
{
	uint32_t bit = REDUM_STACK_MBIT(m);
	struct le *le;

	*leaving = false;

	for (le = stack->tul.head; le; le = le->next) {
		struct tu_rec *rec = le->data;

		if (!(rec->methods & bit))
			continue;
		if (rec->state == TU_ACTIVE)
			return rec;
		*leaving = true;
	}

	return NULL;
}


/* RFC 3261 17.2.1: a 100 only if the TU has not responded within 200 ms.
 * Most INVITEs are answered sooner, so deferring it saves a third of the
 * datagrams sent per call (and libre's formatting of them). */
static void trying_handler(void *arg)
{
	struct srv *srv = arg;

	STACK_OWNED(srv->stack);

	if (!srv->final)
		reply_plain(srv->stack, srv->msg, &srv->st, 100, "Trying");
}


/* conf.udp_rxsz bounds the datagrams read (udp_batch.c records it through
 * the interposed udp_rxsz_set; each mbuf is then of the datagram's size).
 * The udp_sock is reachable here through a received message (msg->sock),
 * so the first request on each UDP socket sets it for the following ones. */
static void udp_rxsz(struct redum_stack *stack, const struct sip_msg *msg)
{
	uint32_t i;

	if (msg->tp != SIP_TRANSP_UDP || !msg->sock || !stack->conf.udp_rxsz)
		return;

	for (i = 0; i < REDUM_STACK_MAX_LISTEN && stack->rxsz_set[i]; i++) {
		if (stack->rxsz_set[i] == msg->sock)
			return;
	}
	if (i == REDUM_STACK_MAX_LISTEN)
		return;

	udp_rxsz_set(msg->sock, stack->conf.udp_rxsz);
	stack->rxsz_set[i] = msg->sock;
}


/* ---- checks libre leaves to the UAS ------------------------------------- */

enum { CHECK_DROP = 1 };   /* not a status: drop without a word */

static bool pl_digits(const struct pl *pl, size_t maxlen)
{
	size_t i;

	if (!pl->l || pl->l > maxlen)
		return false;
	for (i = 0; i < pl->l; i++) {
		if (pl->p[i] < '0' || pl->p[i] > '9')
			return false;
	}

	return true;
}


/* libre's uri_decode() takes "<sip:a@b>" (scheme "<sip") and
 * "sip:@@::%%%" (host "@::%%%"): the scheme must be a token (RFC 3261 25.1,
 * then 416 if unknown) and a sip/sips host a hostname or an IP literal. */
static bool uri_plausible(const struct uri *uri)
{
	size_t i;

	if (!uri->scheme.l)
		return false;
	for (i = 0; i < uri->scheme.l; i++) {
		char c = uri->scheme.p[i];

		if (!isalnum((unsigned char)c) && c != '+' && c != '-' &&
		    c != '.')
			return false;
	}

	if (pl_strcasecmp(&uri->scheme, "sip") &&
	    pl_strcasecmp(&uri->scheme, "sips"))
		return true;   /* 416, not 400 */

	if (!uri->host.l)
		return false;
	for (i = 0; i < uri->host.l; i++) {
		char c = uri->host.p[i];

		if (!isalnum((unsigned char)c) && c != '.' && c != '-' &&
		    c != ':' && c != '[' && c != ']')
			return false;
	}

	return true;
}


/* libre's decoder drops what it cannot parse (start line, Via, To, From,
 * CSeq, Content-Type; docs/HARDENING.md) but lets through a request that
 * lacks mandatory headers or whose values contradict each other. Such a
 * request must not reach a TU (which would build dialogs from half a
 * message): RFC 3261 8.2.1/8.2.2 (416, 420), 8.1.1 and 20 (mandatory
 * headers: 400), 18.3 (UDP: Content-Length beyond the datagram: 400).
 * Returns 0, CHECK_DROP (no Via: a response could not be routed; libre
 * would send it to the source address's port 5060, i.e. to a stranger),
 * or the status to refuse with (*reason set). */
static uint16_t req_check(const struct sip_msg *msg, const char **reason)
{
	const struct sip_hdr *hdr;
	struct pl num;

	if (!pl_isset(&msg->via.sentby))
		return CHECK_DROP;

	if (!pl_isset(&msg->callid)) {
		*reason = "Bad Request (missing Call-ID)";
		return 400;
	}
	if (!pl_isset(&msg->from.val)) {
		*reason = "Bad Request (missing From)";
		return 400;
	}
	if (!pl_isset(&msg->to.val)) {
		*reason = "Bad Request (missing To)";
		return 400;
	}

	hdr = sip_msg_hdr(msg, SIP_HDR_CSEQ);
	if (!hdr || !pl_isset(&msg->cseq.met)) {
		*reason = "Bad Request (missing CSeq)";
		return 400;
	}
	if (pl_cmp(&msg->cseq.met, &msg->met)) {
		*reason = "Bad Request (CSeq method)";
		return 400;
	}
	/* libre reads the number with pl_u32(), which wraps, and its
	 * unanchored regex takes junk before it: check the text (RFC 3261
	 * 8.1.1.5: digits, below 2^31) */
	if (re_regex(hdr->val.p, hdr->val.l, "[0-9]+", &num) ||
	    num.p != hdr->val.p || num.l > 10 ||
	    pl_u64(&num) > 0x7fffffffu) {
		*reason = "Bad Request (CSeq number)";
		return 400;
	}

	if (pl_isset(&msg->maxfwd) &&
	    (!pl_digits(&msg->maxfwd, 3) || pl_u32(&msg->maxfwd) > 255)) {
		*reason = "Bad Request (Max-Forwards)";
		return 400;
	}

	if (pl_isset(&msg->clen) &&
	    (!pl_digits(&msg->clen, 10) ||
	     (msg->tp == SIP_TRANSP_UDP &&
	      pl_u64(&msg->clen) > mbuf_get_left(msg->mb)))) {
		*reason = "Bad Request (Content-Length)";
		return 400;
	}

	/* a dialog-creating request without a usable Contact would be
	 * answered 2xx with no dialog behind it (sip_dialog_accept fails):
	 * RFC 3261 8.1.1.8, 12.1.1 */
	if (!pl_isset(&msg->to.tag) &&
	    (!pl_strcmp(&msg->met, "INVITE") ||
	     !pl_strcmp(&msg->met, "SUBSCRIBE") ||
	     !pl_strcmp(&msg->met, "REFER"))) {
		struct sip_addr addr;

		hdr = sip_msg_hdr(msg, SIP_HDR_CONTACT);
		if (!hdr || sip_addr_decode(&addr, &hdr->val)) {
			*reason = "Bad Request (Contact)";
			return 400;
		}
		/* nor can a dialog be found again without the peer's tag
		 * (RFC 3261 8.1.1.3 makes it mandatory; RFC 2543 peers
		 * are not supported) */
		if (!pl_isset(&msg->from.tag)) {
			*reason = "Bad Request (From tag)";
			return 400;
		}
	}

	if (!uri_plausible(&msg->uri)) {
		*reason = "Bad Request (Request-URI)";
		return 400;
	}

	if (pl_strcasecmp(&msg->uri.scheme, "sip") &&
	    pl_strcasecmp(&msg->uri.scheme, "sips")) {
		*reason = "Unsupported URI Scheme";
		return 416;
	}

	/* redum implements no extension: any Require is unsupported (RFC
	 * 3261 8.2.2.3; not for ACK, nor CANCEL) */
	if (sip_msg_hdr(msg, SIP_HDR_REQUIRE) &&
	    pl_strcmp(&msg->met, "ACK") && pl_strcmp(&msg->met, "CANCEL")) {
		*reason = "Bad Extension";
		return 420;
	}

	return 0;
}


static bool unsupported_apply(const struct sip_hdr *hdr,
			      const struct sip_msg *msg, void *arg)
{
	(void)msg;

	/* one header line per option tag: no list to build */
	(void)mbuf_printf(arg, "Unsupported: %r\r\n", &hdr->val);
	return false;
}


static void reply_malformed(struct redum_stack *stack,
			    const struct sip_msg *msg, uint16_t scode,
			    const char *reason)
{
	struct mbuf *mb = NULL;
	int err;

	if (scode == 420) {
		mb = mbuf_alloc(128);
		if (mb)
			(void)sip_msg_hdr_apply(msg, true, SIP_HDR_REQUIRE,
						unsupported_apply, mb);
	}

	err = sip_treplyf(NULL, NULL, stack->sip, msg, false, scode, reason,
			  "%bContent-Length: 0\r\n\r\n",
			  mb ? (const char *)mb->buf : "",
			  mb ? mb->end : (size_t)0);
	if (err)
		CNT_INC(stack->c.send_errors);
	else
		count_reply(stack, scode);
	mem_deref(mb);
}


bool srv_request_handler(const struct sip_msg *msg, void *arg)
{
	struct redum_stack *stack = arg;
	enum redum_stack_method m;
	struct redum_stack_event *ev;
	struct tu_rec *rec;
	struct srv *srv;
	const char *reason = NULL;
	uint64_t dlg = 0;
	uint16_t scode;
	bool leaving;
	int err;

	STACK_OWNED(stack);

	m = redum_stack_method_of(&msg->met);
	udp_rxsz(stack, msg);

	scode = req_check(msg, &reason);
	if (scode) {
		CNT_INC(stack->c.req_in[m]);
		CNT_INC(stack->c.malformed);
		/* a malformed ACK is dropped: an ACK is never answered */
		if (scode != CHECK_DROP && m != REDUM_STACK_M_ACK)
			reply_malformed(stack, msg, scode, reason);
		return true;
	}

	if (m == REDUM_STACK_M_ACK) {
		CNT_INC(stack->c.req_in[m]);
		ack_handle(stack, msg);
		return true;
	}

	/* A retransmission redum's own transaction records absorb is, like
	 * one libre's absorb, not a request "in" (req_in): it joins
	 * req_absorbed, so that new requests = finals (docs/OVERLOAD.md). */
	if (retransmission_absorbed(stack, msg, m))
		return true;

	CNT_INC(stack->c.req_in[m]);

	if (m == REDUM_STACK_M_CANCEL) {
		/* libre matched no transaction */
		CNT_INC(stack->c.unclaimed);
		reply_plain(stack, msg, NULL, 481,
			    "Call/Transaction Does Not Exist");
		return true;
	}

	if (stack->stop_mode) {
		stack_reply_busy(stack, msg, NULL);
		return true;
	}

	if (overload_shed(stack, msg))
		return true;

	if (pl_isset(&msg->to.tag)) {
		rec = dlg_route(stack, msg, &dlg);
		if (!rec) {
			CNT_INC(stack->c.unclaimed);
			reply_plain(stack, msg, NULL, 481,
				    "Call/Transaction Does Not Exist");
			return true;
		}
	}
	else {
		rec = route(stack, m, &leaving);
		if (!rec) {
			/* No TU at all (not yet: a server answers before its
			 * TUs are added, or no more): nobody can judge the
			 * method, and it is temporary, so 503 + Retry-After,
			 * not 501, which would tell the peer not to retry. */
			if (leaving || list_isempty(&stack->tul)) {
				stack_reply_busy(stack, msg, NULL);
				return true;
			}
			CNT_INC(stack->c.unclaimed);
			reply_plain(stack, msg, NULL, 501, "Not Implemented");
			return true;
		}
	}

	/* Events already wait behind a full FIFO: a new request would only
	 * wait longer; refuse it so the peer retries later. An in-dialog one
	 * (BYE, re-INVITE, NOTIFY...) is not refused: it joins the overflow
	 * list below, in order, so an overloaded TU keeps serving the
	 * dialogs it has (docs/OVERLOAD.md). */
	if (rec->ovf_head && !dlg) {
		stack_reply_busy(stack, msg, NULL);
		return true;
	}

	srv = mem_zalloc(sizeof(*srv), srv_destructor);
	ev  = stack_ev_alloc(REDUM_STACK_EV_REQUEST, 0, dlg, 0);
	if (!srv || !ev) {
		mem_deref(srv);
		stack_ev_free(ev);
		reply_plain(stack, msg, NULL, 500, "Server Internal Error");
		return true;
	}
	srv->stack = stack;
	CNT_INC(stack->c.strans_alive);

	err = sip_strans_alloc(&srv->st, stack->sip, msg, cancel_handler,
			       srv);
	if (err) {
		stack_ev_free(ev);
		mem_deref(srv);
		reply_plain(stack, msg, NULL, 500, "Server Internal Error");
		return true;
	}

	srv->id     = ++stack->next_srv;
	srv->dlg    = dlg;
	srv->rec    = rec;
	srv->msg    = mem_ref((void *)msg);
	srv->invite = m == REDUM_STACK_M_INVITE;

	/* libre does not send 100 Trying: we do, at once or once the TU
	 * has been silent for conf.trying_ms (see trying_handler). */
	if (srv->invite && !stack->conf.trying_ms)
		reply_plain(stack, msg, &srv->st, 100, "Trying");
	else if (srv->invite)
		tmr_start(&srv->tmr, stack->conf.trying_ms, trying_handler,
			  srv);

	ev->id  = srv->id;
	ev->msg = msg;

	if (dlg) {
		/* never refused: the overflow list if the FIFO is full */
		stack_post(stack, rec, ev);
		err = 0;
	}
	else {
		err = stack_tu_push(stack, rec, ev);
	}
	if (err) {
		stack_ev_free(ev);
		stack_reply_busy(stack, msg, &srv->st);
		mem_deref(srv);
		return true;
	}

	srv->view = true;
	hash_append(stack->ht_srv, id_hash(srv->id), &srv->he, srv);
	list_append(&rec->srvl, &srv->le_tu, srv);

	return true;
}


/* ---- commands ------------------------------------------------------------ */

static const char *tp_param(enum sip_transp tp)
{
	switch (tp) {
	case SIP_TRANSP_TCP: return "tcp";
	case SIP_TRANSP_TLS: return "tls";
	default:             return "udp";
	}
}


void srv_cmd_reply(struct redum_stack *stack, struct tu_rec *rec,
		   struct cmd *cmd)
{
	struct srv *srv = srv_find(stack, cmd->id);
	struct mbuf *mb = NULL;
	char contact[96] = "";
	struct sip_strans *lst;
	bool ok2xx, done;
	int err;

	STACK_OWNED(stack);

	if (!srv || srv->rec != rec || !srv->view) {
		CNT_INC(stack->c.cmd_rejected);
		stack_post(stack, rec,
			   stack_ev_alloc(REDUM_STACK_EV_CMD_FAILED, cmd->id,
					  0, ENOENT));
		return;
	}

	/* Already answered by the stack (CANCEL, abandon, send error):
	 * the TU's reply is void; its final still hands the view back. */
	if (srv->final) {
		if (cmd->scode >= 200) {
			srv->view = false;
			srv_maybe_free(srv);
		}
		return;
	}

	/* the TU responded: no deferred 100 Trying */
	tmr_cancel(&srv->tmr);

	if (cmd->flags & REDUM_STACK_F_DLG_ACCEPT) {
		err = dlg_accept_msg(stack, rec, cmd->id2, srv->msg);
		if (err) {
			CNT_INC(stack->c.cmd_failed);
			stack_post(stack, rec,
				   stack_ev_alloc(REDUM_STACK_EV_CMD_FAILED,
						  srv->id, cmd->id2, err));
		}
		else {
			srv->dlg = cmd->id2;
		}
	}

	if (cmd->flags & REDUM_STACK_F_CONTACT)
		re_snprintf(contact, sizeof(contact),
			    "Contact: <sip:%J;transport=%s>\r\n",
			    &srv->msg->dst, tp_param(srv->msg->tp));

	ok2xx = srv->invite && cmd->scode >= 200 && cmd->scode < 300;
	/* a non-INVITE final on UDP: done.c keeps the Completed state */
	done = !srv->invite && cmd->scode >= 200 &&
		srv->msg->tp == SIP_TRANSP_UDP;
	lst = srv->st;   /* libre's to own after a final */

	err = sip_treplyf(&srv->st, ok2xx || done ? &mb : NULL, stack->sip,
			  srv->msg,
			  cmd->scode > 100 && cmd->scode < 300, cmd->scode,
			  cmd->s[0],
			  "%s%s"
			  "Content-Length: %zu\r\n"
			  "\r\n"
			  "%b",
			  contact, cmd->hdrs ? cmd->hdrs : "",
			  cmd->body_len, cmd->body, cmd->body_len);
	if (err) {
		/* libre dropped the strans: the transaction is over */
		CNT_INC(stack->c.send_errors);
		if (cmd->flags & REDUM_STACK_F_DLG_DESTROY)
			(void)dlg_destroy_id(stack, rec, cmd->id2);
		srv->final = true;
		if (cmd->scode >= 200)
			srv->view = false;
		stack_post(stack, rec,
			   stack_ev_alloc(REDUM_STACK_EV_SRV_ERROR, srv->id,
					  srv->dlg, err));
		srv_maybe_free(srv);
		return;
	}

	count_reply(stack, cmd->scode);

	/* libre's strans holds its only reference now (it took ours with
	 * the final): once done.c has the key and the response, end it */
	if (done) {
		if (!done_add(stack, srv->msg, mb))
			mem_deref(lst);
		mb = mem_deref(mb);
	}

	if ((cmd->flags & REDUM_STACK_F_DLG_DESTROY) &&
	    dlg_destroy_id(stack, rec, cmd->id2))
		CNT_INC(stack->c.cmd_rejected);

	if (cmd->scode < 200)
		return;

	srv->final = true;
	srv->view  = false;

	if (ok2xx) {
		srv->mb = mb;
		srv->acc_st = mem_ref(lst);
		srv_reply_dst(&srv->dst, srv->msg);
		srv->acc = true;
		srv->no_ack_view = (cmd->flags & REDUM_STACK_F_NO_ACK_VIEW)
			!= 0;
		hash_append(stack->ht_acc, hash_joaat_pl(&srv->msg->callid),
			    &srv->he_acc, srv);

		/* RFC 3261 13.3.1.4: T1 doubling up to T2 on unreliable
		 * transports; on any transport give up after 64*T1. */
		if (srv->msg->tp == SIP_TRANSP_UDP) {
			srv->ival = stack->conf.t1_ms;
			tmr_start(&srv->tmr, srv->ival, retx_handler, srv);
		}
		tmr_start(&srv->tmr_to, 64 * stack->conf.t1_ms, acc_timeout,
			  srv);
	}

	srv_maybe_free(srv);
}


void srv_cmd_release(struct redum_stack *stack, struct tu_rec *rec,
		     struct cmd *cmd)
{
	struct srv *srv = srv_find(stack, cmd->id);

	STACK_OWNED(stack);

	if (!srv || srv->rec != rec || !srv->view) {
		CNT_INC(stack->c.cmd_rejected);
		return;
	}

	srv->view = false;
	if (!srv->final) {
		reply_plain(stack, srv->msg, &srv->st, 500,
			    "Server Internal Error");
		srv->final = true;
	}

	srv_maybe_free(srv);
}


const struct sip_msg *srv_lookup_msg(struct redum_stack *stack,
				     struct tu_rec *rec, uint64_t id,
				     uint64_t dlg)
{
	struct srv *srv = srv_find(stack, id);

	STACK_OWNED(stack);

	if (!srv || srv->rec != rec || !srv->view)
		return NULL;

	srv->dlg = dlg;
	return srv->msg;
}


/* The TU is abandoned: answer what it left pending, stop waiting for ACKs,
 * report both. Records whose view the TU still holds wait in orphl until
 * its close handler has run. */
void srv_abandon(struct redum_stack *stack, struct tu_rec *rec)
{
	struct le *le;

	STACK_OWNED(stack);

	le = rec->srvl.head;
	while (le) {
		struct srv *srv = le->data;
		le = le->next;

		if (!srv->final) {
			stack_reply_busy(stack, srv->msg, &srv->st);
			srv->final = true;
			stack_post(stack, rec,
				   stack_ev_alloc(REDUM_STACK_EV_SRV_ERROR,
						  srv->id, srv->dlg,
						  ECONNABORTED));
		}

		if (srv->acc) {
			acc_end(srv);
			stack_post(stack, rec,
				   stack_ev_alloc(REDUM_STACK_EV_ACK_TIMEOUT,
						  srv->id, srv->dlg,
						  ECONNABORTED));
		}

		if (srv->view) {
			list_unlink(&srv->le_tu);
			list_append(&rec->orphl, &srv->le_tu, srv);
		}
		else {
			mem_deref(srv);
		}
	}
}


void srv_free_orphans(struct redum_stack *stack, struct tu_rec *rec)
{
	STACK_OWNED(stack);

	list_flush(&rec->orphl);
}
