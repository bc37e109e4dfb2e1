/**
 * @file dum.c  The DUM: its thread, its FIFOs, handles, the usage framework
 *              (routing of stack events and application commands to
 *              usages), congestion, counters, the stop path (the stages
 *              and the report: dum/shutdown.c)
 *
 * Thread contract (docs/DUM.md): every libre object here (hashes, lists,
 * timers, usages) is created, used and freed on the DUM thread; other
 * threads push commands (MPSC FIFO), set the stop flag, take handles from
 * an atomic counter and read atomic counters. Events for the application
 * are malloc'ed copies handed over on the application FIFO.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include <redum/shutdown.h>
#include "dum_int.h"

enum {
	HSIZE = 1u << 12,
	TICK_MS = 50,           /* app FIFO overflow, stop flag             */
	DEFAULT_CAPACITY = 65536,
};

/** An event box: the public event, its overflow link, its copies. */
struct evbox {
	struct redum_dum_event ev;
	struct evbox *next;
	char data[];
};

const struct dum_stack_ops dum_stack_real = {
	.tu_alloc      = redum_stack_tu_alloc,
	.tu_attach     = redum_stack_tu_attach,
	.tu_remove     = redum_stack_tu_remove,
	.tu_free       = redum_stack_tu_free,
	.tu_fifo_stats = redum_stack_tu_fifo_stats,
	.event_release = redum_stack_event_release,
	.reply         = redum_stack_reply,
	.srv_release   = redum_stack_srv_release,
	.request       = redum_stack_request,
	.drequest      = redum_stack_drequest,
	.ack           = redum_stack_ack,
	.cancel        = redum_stack_cancel,
	.dlg_alloc     = redum_stack_dlg_alloc,
	.dlg_accept    = redum_stack_dlg_accept,
	.dlg_create    = redum_stack_dlg_create,
	.dlg_fork      = redum_stack_dlg_fork,
	.dlg_destroy   = redum_stack_dlg_destroy,
	.dlg_alloc_route = redum_stack_dlg_alloc_route,
	.dlg_create_srv = redum_stack_dlg_create_srv,
};

/* Written only by tests, before any DUM exists. */
const struct dum_stack_ops *dum_ops = &dum_stack_real;

static void phase_check(struct redum_dum *dum);
static void do_remove(struct redum_dum *dum);


/* ---- names ---------------------------------------------------------------- */

static const char *usage_names[REDUM_USAGE_COUNT] = {
	"none", "invite-client", "invite-server", "request-client",
	"request-server", "registration-client", "registrar",
	"subscription-client", "subscription-server", "publication-client",
	"publication-server", "pager",
};

static const char *ev_names[REDUM_DUM_EV_COUNT] = {
	"?", "new", "provisional", "connected", "terminated", "failure",
	"offer", "answer", "offer-rejected", "info", "info-response",
	"options", "request", "response", "error",
	"registered", "reg-retrying", "reg-failure", "unregistered",
	"reg-bindings",
	"sub-new", "sub-update", "sub-terminated", "sub-failure",
	"pub-success", "pub-failure", "pub-removed", "pub-state",
	"pager-message", "pager-result",
};

static const char *term_names[] = {
	"none", "local-bye", "remote-bye", "rejected", "cancelled",
	"ack-timeout", "dialog-gone", "error", "shutdown",
};

static const struct dum_class *class_of(enum redum_usage_type t)
{
	switch (t) {
	case REDUM_USAGE_INVITE_CLIENT:  return &dum_invite_client_class;
	case REDUM_USAGE_INVITE_SERVER:  return &dum_invite_server_class;
	case REDUM_USAGE_REQUEST_CLIENT: return &dum_req_client_class;
	case REDUM_USAGE_REQUEST_SERVER: return &dum_req_server_class;
	case REDUM_USAGE_REGISTRATION_CLIENT: return &dum_reg_client_class;
	default:                         return dum_sub_class_of(t);
	}
}


const char *redum_usage_name(enum redum_usage_type type)
{
	return (unsigned)type < REDUM_USAGE_COUNT ? usage_names[type] : "?";
}


const char *redum_usage_state_name(enum redum_usage_type type, int state)
{
	const struct dum_class *cls = class_of(type);

	if (!cls || state < 0 || (uint32_t)state >= cls->nstates)
		return "?";

	return cls->state_names[state];
}


const char *redum_term_reason_name(enum redum_term_reason reason)
{
	if ((unsigned)reason >= sizeof(term_names) / sizeof(term_names[0]))
		return "?";
	return term_names[reason];
}


const char *redum_dum_ev_name(enum redum_dum_ev_type type)
{
	return (unsigned)type < REDUM_DUM_EV_COUNT ? ev_names[type] : "?";
}


/** A reason phrase for a status code the application gave none for. */
const char *dum_reason(uint16_t scode)
{
	switch (scode) {
	case 180: return "Ringing";
	case 181: return "Call Is Being Forwarded";
	case 182: return "Queued";
	case 183: return "Session Progress";
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 486: return "Busy Here";
	case 487: return "Request Terminated";
	case 488: return "Not Acceptable Here";
	case 491: return "Request Pending";
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 600: return "Busy Everywhere";
	case 603: return "Decline";
	default: break;
	}

	if (scode < 200) return "Session Progress";
	if (scode < 300) return "OK";
	if (scode < 400) return "Redirect";
	if (scode < 500) return "Client Error";
	if (scode < 600) return "Server Error";
	return "Global Failure";
}


void redum_dum_conf_init(struct redum_dum_conf *conf)
{
	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	conf->name           = "dum";
	conf->cmd_capacity   = DEFAULT_CAPACITY;
	conf->app_capacity   = DEFAULT_CAPACITY;
	conf->tu_capacity    = DEFAULT_CAPACITY;
	conf->congestion_pct = 80;
	conf->retry_after    = 5;
	conf->methods        = REDUM_STACK_MBIT(REDUM_STACK_M_MESSAGE);
	conf->stop_ms        = 4000;
	conf->allow  = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
	conf->accept = "application/sdp";
}


/* ---- events to the application ------------------------------------------ */

static size_t pl_sz(const struct pl *pl)
{
	return pl ? pl->l + 1 : 1;
}


/* Copies @p pl NUL-terminated at *pp and advances it. */
static const char *pl_put(char **pp, const struct pl *pl)
{
	char *s = *pp;
	size_t l = pl ? pl->l : 0;

	if (l)
		memcpy(s, pl->p, l);
	s[l] = '\0';
	*pp = s + l + 1;

	return s;
}


struct redum_dum_event *dum_ev_new_h(struct redum_dum *dum,
				     enum redum_usage_type ut,
				     redum_dum_handle h,
				     enum redum_dum_ev_type type,
				     const struct sip_msg *msg)
{
	struct evbox *box;
	struct pl empty = PL_INIT, body = PL_INIT;
	const struct pl *met = &empty;
	size_t sz = 0;
	char *p;
	(void)dum;

	if (msg) {
		met = msg->req ? &msg->met : &msg->cseq.met;
		if (msg->mb && mbuf_get_left(msg->mb)) {
			body.p = (const char *)mbuf_buf(msg->mb);
			body.l = mbuf_get_left(msg->mb);
		}
		sz = pl_sz(met) + pl_sz(&msg->reason) + pl_sz(&msg->ruri) +
			pl_sz(&msg->from.val) + pl_sz(&msg->to.val) +
			pl_sz(&msg->callid) + msg->ctyp.type.l +
			msg->ctyp.subtype.l + 2 + pl_sz(&body);
	}

	box = calloc(1, sizeof(*box) + sz);
	if (!box)
		return NULL;

	box->ev.type  = type;
	box->ev.usage = ut;
	box->ev.h     = h;

	if (msg) {
		struct redum_dum_msg *m = &box->ev.msg;

		p = box->data;
		box->ev.has_msg = true;
		m->method  = pl_put(&p, met);
		m->scode   = msg->req ? 0 : msg->scode;
		m->reason  = pl_put(&p, msg->req ? &empty : &msg->reason);
		m->ruri    = pl_put(&p, msg->req ? &msg->ruri : &empty);
		m->from    = pl_put(&p, &msg->from.val);
		m->to      = pl_put(&p, &msg->to.val);
		m->call_id = pl_put(&p, &msg->callid);
		m->cseq    = msg->cseq.num;
		m->ctype   = p;
		if (pl_isset(&msg->ctyp.type)) {
			memcpy(p, msg->ctyp.type.p, msg->ctyp.type.l);
			p += msg->ctyp.type.l;
			*p++ = '/';
			memcpy(p, msg->ctyp.subtype.p, msg->ctyp.subtype.l);
			p += msg->ctyp.subtype.l;
		}
		*p++ = '\0';
		if (body.l) {
			m->body = (const uint8_t *)pl_put(&p, &body);
			m->body_len = body.l;
		}
		if (!msg->req)
			box->ev.scode = msg->scode;
	}
	else {
		box->ev.msg.method = box->ev.msg.reason = box->ev.msg.ruri =
			box->ev.msg.from = box->ev.msg.to =
			box->ev.msg.call_id = box->ev.msg.ctype = "";
	}

	return &box->ev;
}


struct redum_dum_event *dum_ev_new(struct dum_usage *u,
				   enum redum_dum_ev_type type,
				   const struct sip_msg *msg)
{
	return dum_ev_new_h(u->dum, u->cls->type, u->h, type, msg);
}


/* An event without a SIP message and with @p extra bytes of the usage's
 * own (registrations: struct redum_reg_info and its strings) at *extp,
 * 8-byte aligned, freed with the event. */
struct redum_dum_event *dum_ev_new_ext(struct redum_dum *dum,
				       enum redum_usage_type ut,
				       redum_dum_handle h,
				       enum redum_dum_ev_type type,
				       size_t extra, void **extp)
{
	struct evbox *box;
	(void)dum;

	box = calloc(1, sizeof(*box) + extra);
	if (!box)
		return NULL;

	box->ev.type  = type;
	box->ev.usage = ut;
	box->ev.h     = h;
	box->ev.msg.method = box->ev.msg.reason = box->ev.msg.ruri =
		box->ev.msg.from = box->ev.msg.to =
		box->ev.msg.call_id = box->ev.msg.ctype = "";
	*extp = box->data;

	return &box->ev;
}


static void ovf_flush(struct redum_dum *dum)
{
	while (dum->ovf_head) {
		struct evbox *box = (struct evbox *)dum->ovf_head;

		if (redum_fifo_push(dum->appq, box))
			return;

		dum->ovf_head = (struct redum_dum_event *)box->next;
		if (!dum->ovf_head)
			dum->ovf_tail = NULL;
	}
}


/**
 * Posts an event to the application: never dropped. A full FIFO parks it
 * in an ordered overflow list that the tick re-posts (the application is
 * slower than DUM: DUM must not block, and must not lose a termination).
 */
void dum_ev_post(struct redum_dum *dum, struct redum_dum_event *ev)
{
	struct evbox *box = (struct evbox *)ev;
	int err;

	DUM_OWNED(dum);

	if (!ev) {
		/* allocation failure: nothing to say it with */
		return;
	}

	DCNT_INC(dum->c.events_posted);

	if (!dum->ovf_head) {
		err = redum_fifo_push(dum->appq, box);
		if (!err)
			return;
		if (err != ENOSPC) {
			dum_shut_count_discard(dum);
			free(box);
			return;
		}
	}

	box->next = NULL;
	if (dum->ovf_tail)
		((struct evbox *)dum->ovf_tail)->next = box;
	else
		dum->ovf_head = ev;
	dum->ovf_tail = ev;
	DCNT_INC(dum->c.events_overflowed);
}


void dum_post_error(struct redum_dum *dum, enum redum_usage_type ut,
		    redum_dum_handle h, int err)
{
	struct redum_dum_event *ev;

	ev = dum_ev_new_h(dum, ut, h, REDUM_DUM_EV_ERROR, NULL);
	if (ev)
		ev->err = err;
	if (err == ESHUTDOWN)
		dum_shut_refused(dum);
	dum_ev_post(dum, ev);
}


/* Application thread: which handler an event calls. */
static redum_dum_event_h *handler_of(const struct redum_dum_handlers *hd,
				     const struct redum_dum_event *ev)
{
	const struct redum_invite_handlers *ih = &hd->invite;
	const struct redum_request_handlers *rh = &hd->request;

	switch (ev->type) {
	case REDUM_DUM_EV_NEW:            return ih->on_new;
	case REDUM_DUM_EV_PROVISIONAL:    return ih->on_provisional;
	case REDUM_DUM_EV_CONNECTED:      return ih->on_connected;
	case REDUM_DUM_EV_TERMINATED:     return ih->on_terminated;
	case REDUM_DUM_EV_FAILURE:        return ih->on_failure;
	case REDUM_DUM_EV_OFFER:          return ih->on_offer;
	case REDUM_DUM_EV_ANSWER:         return ih->on_answer;
	case REDUM_DUM_EV_OFFER_REJECTED: return ih->on_offer_rejected;
	case REDUM_DUM_EV_INFO:           return ih->on_info;
	case REDUM_DUM_EV_INFO_RESPONSE:  return ih->on_info_response;
	case REDUM_DUM_EV_OPTIONS:        return rh->on_options;
	case REDUM_DUM_EV_REQUEST:        return rh->on_request;
	case REDUM_DUM_EV_RESPONSE:       return rh->on_response;
	case REDUM_DUM_EV_ERROR:          return hd->on_error;
	case REDUM_DUM_EV_REGISTERED:     return hd->reg.on_registered;
	case REDUM_DUM_EV_REG_RETRYING:   return hd->reg.on_retrying;
	case REDUM_DUM_EV_REG_FAILURE:    return hd->reg.on_failure;
	case REDUM_DUM_EV_UNREGISTERED:   return hd->reg.on_unregistered;
	case REDUM_DUM_EV_REG_BINDINGS:   return hd->reg.on_bindings;
	case REDUM_DUM_EV_SUB_NEW:        return hd->sub.on_sub_new;
	case REDUM_DUM_EV_SUB_UPDATE:     return hd->sub.on_sub_update;
	case REDUM_DUM_EV_SUB_TERMINATED: return hd->sub.on_sub_terminated;
	case REDUM_DUM_EV_SUB_FAILURE:    return hd->sub.on_sub_failure;
	case REDUM_DUM_EV_PUB_SUCCESS:    return hd->sub.on_pub_success;
	case REDUM_DUM_EV_PUB_FAILURE:    return hd->sub.on_pub_failure;
	case REDUM_DUM_EV_PUB_REMOVED:    return hd->sub.on_pub_removed;
	case REDUM_DUM_EV_PUB_STATE:      return hd->sub.on_pub_state;
	case REDUM_DUM_EV_PAGER_MESSAGE:  return hd->sub.on_message;
	case REDUM_DUM_EV_PAGER_RESULT:   return hd->sub.on_message_result;
	default:                          return NULL;
	}
}


static void app_msg_handler(void *msg, void *arg)
{
	struct redum_dum *dum = arg;
	struct evbox *box = msg;
	redum_dum_event_h *h = handler_of(&dum->hd, &box->ev);

	if (h)
		h(dum, &box->ev, dum->hd.arg);

	free(box);
}


static void app_close_handler(void *arg)
{
	struct redum_dum *dum = arg;

	/* the report handler first; a redum_dum_free() from inside either
	 * callback is deferred until the FIFO code is done with the FIFO */
	dum_shut_final_begin(dum);
	if (dum->hd.on_dum_can_be_deleted)
		dum->hd.on_dum_can_be_deleted(dum, dum->hd.arg);
	dum_shut_final_end(dum);
}


int redum_dum_app_attach(struct redum_dum *dum, bool manual, uint32_t batch)
{
	int err;

	if (!dum)
		return EINVAL;

	if (manual)
		err = redum_fifo_attach_manual(dum->appq, app_msg_handler,
					       app_close_handler, dum, batch);
	else
		err = redum_fifo_attach(dum->appq, app_msg_handler,
					app_close_handler, dum, batch);
	if (!err)
		atomic_store(&dum->app_attached, true);

	return err;
}


int redum_dum_app_fd(const struct redum_dum *dum)
{
	return dum ? redum_fifo_fd(dum->appq) : -1;
}


uint32_t redum_dum_app_drain(struct redum_dum *dum)
{
	return dum ? redum_fifo_drain(dum->appq) : 0;
}


/* ---- handles, usages, transactions, dialogs ------------------------------ */

static inline uint32_t id_hash(uint64_t id)
{
	return (uint32_t)(id ^ (id >> 32));
}


uint64_t dum_new_handle(struct redum_dum *dum)
{
	return atomic_fetch_add_explicit(&dum->next_handle, 1,
					 memory_order_relaxed) + 1;
}


static bool usage_cmp(struct le *le, void *arg)
{
	const struct dum_usage *u = le->data;
	return u->h == *(const uint64_t *)arg;
}


static struct dum_usage *usage_find(struct redum_dum *dum, uint64_t h)
{
	return list_ledata(hash_lookup(dum->ht_usage, id_hash(h), usage_cmp,
				       &h));
}


struct dum_usage *dum_usage_alloc(struct redum_dum *dum, size_t size,
				  const struct dum_class *cls,
				  redum_dum_handle h, int state)
{
	struct dum_usage *u;

	DUM_OWNED(dum);

	u = mem_zalloc(size, NULL);
	if (!u)
		return NULL;

	u->cls   = cls;
	u->dum   = dum;
	u->h     = h ? h : dum_new_handle(dum);
	u->state = state;
	u->born  = dum_shut_now();

	hash_append(dum->ht_usage, id_hash(u->h), &u->he, u);
	list_append(&dum->usagel, &u->le, u);
	DCNT_INC(dum->c.usages[cls->type][state]);
	DCNT_INC(dum->c.usages_created[cls->type]);
	DCNT_INC(dum->c.handles);

	return u;
}


void dum_usage_set_state(struct dum_usage *u, int state)
{
	struct redum_dum *dum = u->dum;

	if (u->state == state)
		return;

	DCNT_DEC(dum->c.usages[u->cls->type][u->state]);
	DCNT_INC(dum->c.usages[u->cls->type][state]);
	u->state = state;
}


void dum_usage_free(struct dum_usage *u)
{
	struct redum_dum *dum;

	if (!u || u->dead)
		return;

	dum = u->dum;
	DUM_OWNED(dum);
	u->dead = true;

	if (u->cls->destroy)
		u->cls->destroy(u);

	while (u->ctl.head)
		dum_ct_free(u->ctl.head->data);

	while (u->stl.head) {
		struct dum_st *st = u->stl.head->data;

		/* a view we still hold goes back (the stack 500s it) */
		if (st->view && dum->tu && dum->phase < PH_FINISHING)
			dum_stack_err(dum, dum_ops->srv_release(dum->tu,
								   st->id));
		dum_st_free(st);
	}

	dum_dlg_destroy(u);

	bool was_asked = u->shut_state == 1;

	DCNT_DEC(dum->c.usages[u->cls->type][u->state]);
	hash_unlink(&u->he);
	list_unlink(&u->le);
	mem_deref(u);

	/* only the "last usage gone" step here: starting a stop from inside
	 * a usage's handler could end usages its caller still holds */
	if (dum->phase == PH_ENDING && !dum->usagel.head)
		do_remove(dum);
	else
		dum_shut_usage_gone(dum, was_asked); /* the next stage or
							 more endings due */
}


static void ct_destructor(void *arg)
{
	struct dum_ct *ct = arg;

	hash_unlink(&ct->he);
	list_unlink(&ct->le);
}


struct dum_ct *dum_ct_new(struct dum_usage *u, int kind)
{
	struct redum_dum *dum = u->dum;
	struct dum_ct *ct = mem_zalloc(sizeof(*ct), ct_destructor);

	if (!ct)
		return NULL;

	ct->u     = u;
	ct->kind  = kind;
	ct->token = DUM_TOKEN_BIT | ++dum->next_token;
	hash_append(dum->ht_ct, id_hash(ct->token), &ct->he, ct);
	list_append(&u->ctl, &ct->le, ct);

	return ct;
}


void dum_ct_free(struct dum_ct *ct)
{
	mem_deref(ct);
}


static bool ct_cmp(struct le *le, void *arg)
{
	const struct dum_ct *ct = le->data;
	return ct->token == *(const uint64_t *)arg;
}


static struct dum_ct *ct_find(struct redum_dum *dum, uint64_t token)
{
	return list_ledata(hash_lookup(dum->ht_ct, id_hash(token), ct_cmp,
				       &token));
}


static void st_destructor(void *arg)
{
	struct dum_st *st = arg;

	hash_unlink(&st->he);
	list_unlink(&st->le);
}


struct dum_st *dum_st_new(struct dum_usage *u, uint64_t id, int kind)
{
	struct dum_st *st = mem_zalloc(sizeof(*st), st_destructor);

	if (!st)
		return NULL;

	st->u    = u;
	st->id   = id;
	st->kind = kind;
	st->view = true;
	hash_append(u->dum->ht_st, id_hash(id), &st->he, st);
	list_append(&u->stl, &st->le, st);

	return st;
}


void dum_st_free(struct dum_st *st)
{
	mem_deref(st);
}


static bool st_cmp(struct le *le, void *arg)
{
	const struct dum_st *st = le->data;
	return st->id == *(const uint64_t *)arg;
}


static struct dum_st *st_find(struct redum_dum *dum, uint64_t id)
{
	return list_ledata(hash_lookup(dum->ht_st, id_hash(id), st_cmp, &id));
}


static void dlg_destructor(void *arg)
{
	struct dum_dlg *d = arg;

	hash_unlink(&d->he);
	DCNT_DEC(d->dum->c.dialogs);
}


struct dum_dlg *dum_dlg_new(struct dum_usage *u)
{
	struct redum_dum *dum = u->dum;
	struct dum_dlg *d = mem_zalloc(sizeof(*d), dlg_destructor);

	if (!d)
		return NULL;

	d->dum = dum;
	d->id  = ++dum->next_dlg;
	hash_append(dum->ht_dlg, id_hash(d->id), &d->he, d);
	list_append(&d->usagel, &u->le_dlg, u);
	u->dlg = d;
	DCNT_INC(dum->c.dialogs);

	return d;
}


/* Detaches @p u from its dialog; the last usage out destroys it (the
 * stack then answers 481 to requests in it). */
void dum_dlg_destroy(struct dum_usage *u)
{
	struct redum_dum *dum = u->dum;
	struct dum_dlg *d = u->dlg;

	if (!d)
		return;

	list_unlink(&u->le_dlg);
	u->dlg = NULL;

	if (d->usagel.head)
		return;

	if (d->in_stack && dum->tu && dum->phase < PH_FINISHING)
		dum_stack_err(dum, dum_ops->dlg_destroy(dum->tu, d->id));

	mem_deref(d);
}


static bool dlg_cmp(struct le *le, void *arg)
{
	const struct dum_dlg *d = le->data;
	return d->id == *(const uint64_t *)arg;
}


static struct dum_dlg *dlg_find(struct redum_dum *dum, uint64_t id)
{
	return list_ledata(hash_lookup(dum->ht_dlg, id_hash(id), dlg_cmp,
				       &id));
}


void dum_route_method(struct redum_dum *dum, enum redum_stack_method m,
		      dum_newreq_h *h)
{
	if ((unsigned)m < REDUM_STACK_M_COUNT)
		dum->newreq[m] = h;
}


void dum_stack_err(struct redum_dum *dum, int err)
{
	if (err)
		DCNT_INC(dum->c.stack_errors);
}


/* ---- congestion ---------------------------------------------------------- */

/** True when the stack->DUM FIFO is above the high-water mark: new
 *  dialog-creating requests are then refused (in-dialog traffic and
 *  responses keep flowing, as they finish work instead of adding it). */
bool dum_congested(struct redum_dum *dum)
{
	struct redum_fifo_stats st;

	dum_ops->tu_fifo_stats(dum->tu, &st);
	atomic_store_explicit(&dum->in_depth, st.depth, memory_order_relaxed);
	atomic_store_explicit(&dum->in_hw, st.high_water,
			      memory_order_relaxed);

	if (!dum->conf.congestion_pct)
		return false;

	return (uint64_t)st.depth * 100 >=
		(uint64_t)st.capacity * dum->conf.congestion_pct;
}


void dum_reply_503(struct redum_dum *dum, uint64_t srv)
{
	char hdrs[48];

	re_snprintf(hdrs, sizeof(hdrs), "Retry-After: %u\r\n",
		    dum->conf.retry_after);
	DCNT_INC(dum->c.busy_503);
	dum_stack_err(dum, dum_ops->reply(dum->tu, srv, 503,
					     "Service Unavailable", 0, hdrs,
					     NULL, 0));
}


/* ---- events from the stack ----------------------------------------------- */

static void reply_release(struct redum_dum *dum, struct redum_stack_event *ev,
			  uint16_t scode, const char *reason)
{
	dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, scode, reason,
					     0, NULL, NULL, 0));
	dum_ops->event_release(dum->tu, ev);
}


static void on_request(struct redum_dum *dum, struct redum_stack_event *ev)
{
	enum redum_stack_method m = redum_stack_method_of(&ev->msg->met);
	struct dum_dlg *d;
	struct le *le;

	if (dum->phase != PH_RUNNING && !ev->dlg) {
		dum_reply_503(dum, ev->id);
		dum_ops->event_release(dum->tu, ev);
		return;
	}

	if (!ev->dlg) {
		if (dum->newreq[m]) {
			dum->newreq[m](dum, ev);
			return;
		}
		if (pl_isset(&ev->msg->to.tag) || m == REDUM_STACK_M_BYE)
			reply_release(dum, ev, 481,
				      "Call/Transaction Does Not Exist");
		else
			reply_release(dum, ev, 501, "Not Implemented");
		return;
	}

	d = dlg_find(dum, ev->dlg);
	if (!d) {
		reply_release(dum, ev, 481, "Call/Transaction Does Not Exist");
		return;
	}

	for (le = d->usagel.head; le; le = le->next) {
		struct dum_usage *u = le->data;

		if (u->cls->dlg_methods & REDUM_STACK_MBIT(m)) {
			u->cls->request(u, ev);
			return;
		}
	}

	reply_release(dum, ev, 501, "Not Implemented");
}


void dum_stack_event_handler(struct redum_stack_tu *tu,
				struct redum_stack_event *ev, void *arg)
{
	struct redum_dum *dum = arg;
	struct dum_ct *ct;
	struct dum_st *st;

	DUM_OWNED(dum);

	switch (ev->type) {

	case REDUM_STACK_EV_REQUEST:
		on_request(dum, ev);
		return;

	case REDUM_STACK_EV_RESPONSE:
	case REDUM_STACK_EV_CLI_ERROR:
		ct = ct_find(dum, ev->id);
		if (ct) {
			ct->u->cls->response(ct->u, ct, ev);
			return;
		}
		break;

	case REDUM_STACK_EV_CANCELLED:
	case REDUM_STACK_EV_SRV_ERROR:
	case REDUM_STACK_EV_ACK:
	case REDUM_STACK_EV_ACK_TIMEOUT:
		st = st_find(dum, ev->id);
		if (st) {
			st->u->cls->srv_event(st->u, st, ev);
			return;
		}
		if (ev->type == REDUM_STACK_EV_CANCELLED)
			dum_stack_err(dum, dum_ops->srv_release(tu, ev->id));
		break;

	case REDUM_STACK_EV_CMD_FAILED:
		DCNT_INC(dum->c.stack_errors);
		if (ev->id & DUM_TOKEN_BIT) {
			ct = ct_find(dum, ev->id);
			if (ct) {
				ct->u->cls->response(ct->u, ct, ev);
				return;
			}
		}
		else if (ev->id) {
			st = st_find(dum, ev->id);
			if (st) {
				st->u->cls->srv_event(st->u, st, ev);
				return;
			}
		}
		break;

	default:
		break;
	}

	dum_ops->event_release(tu, ev);
}


/* ---- commands from the application ---------------------------------------- */

static void cmd_free(struct dum_cmd *cmd)
{
	if (cmd && !cmd->embedded)
		free(cmd);
}


static void cmd_msg_handler(void *msg, void *arg)
{
	struct redum_dum *dum = arg;
	struct dum_cmd *cmd = msg;
	struct dum_usage *u;

	DUM_OWNED(dum);

	switch (cmd->type) {

	case DCMD_WAKE:
		break;

	case DCMD_CALL:
	case DCMD_OPTIONS:
	case DCMD_REQUEST:
		if (dum->phase != PH_RUNNING) {
			dum_post_error(dum, cmd->type == DCMD_CALL ?
				       REDUM_USAGE_INVITE_CLIENT :
				       REDUM_USAGE_REQUEST_CLIENT,
				       cmd->h, ESHUTDOWN);
			break;
		}
		if (cmd->type == DCMD_CALL)
			dum_invite_call(dum, cmd);
		else
			dum_ood_request(dum, cmd);
		break;

	case DCMD_REGISTER:
		if (dum->phase != PH_RUNNING) {
			dum_post_error(dum, REDUM_USAGE_REGISTRATION_CLIENT,
				       cmd->h, ESHUTDOWN);
			break;
		}
		dum_reg_client_new(dum, cmd);
		break;

	case DCMD_REG_LOOKUP:
		dum_registrar_lookup(dum, cmd);
		break;

	case DCMD_SUBSCRIBE:
	case DCMD_PUBLISH:
	case DCMD_MESSAGE:
		dum_subs_create(dum, cmd);   /* sub_int.h: ESHUTDOWN itself */
		break;

	default:
		u = usage_find(dum, cmd->h);
		if (!u || u->dead) {
			DCNT_INC(dum->c.commands_stale);
			dum_post_error(dum, REDUM_USAGE_NONE, cmd->h, ENOENT);
			break;
		}
		if (!u->cls->command) {
			dum_post_error(dum, u->cls->type, cmd->h, EPROTO);
			break;
		}
		u->cls->command(u, cmd);
		break;
	}

	cmd_free(cmd);
	phase_check(dum);
}


/* The bytes of @p s with its NUL (0 for NULL). */
static size_t pack_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}


/* Copies @p s to *pp and advances it (NULL stays NULL). */
static const char *pack_str(char **pp, const char *s)
{
	size_t l;
	char *d = *pp;

	if (!s)
		return NULL;

	l = strlen(s) + 1;
	memcpy(d, s, l);
	*pp = d + l;

	return d;
}


struct dum_cmd *dum_cmd_new(enum dum_cmd_type type, redum_dum_handle h,
			    const struct dum_cmd *s, const void *body,
			    size_t body_len)
{
	struct dum_cmd *cmd;
	size_t n;
	char *p;

	if (!body)
		body_len = 0;

	n = pack_size(s->method) + pack_size(s->uri) + pack_size(s->to) +
		pack_size(s->from) + pack_size(s->from_name) +
		pack_size(s->route) + pack_size(s->hdrs) + pack_size(s->ctype) +
		pack_size(s->reason) + body_len + 1;

	cmd = malloc(sizeof(*cmd) + n);
	if (!cmd)
		return NULL;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type = type;
	cmd->h    = h;

	p = cmd->data;
	cmd->method    = pack_str(&p, s->method);
	cmd->uri       = pack_str(&p, s->uri);
	cmd->to        = pack_str(&p, s->to);
	cmd->from      = pack_str(&p, s->from);
	cmd->from_name = pack_str(&p, s->from_name);
	cmd->route     = pack_str(&p, s->route);
	cmd->hdrs      = pack_str(&p, s->hdrs);
	cmd->ctype     = pack_str(&p, s->ctype);
	cmd->reason    = pack_str(&p, s->reason);
	if (body_len) {
		memcpy(p, body, body_len);
		p[body_len] = '\0';
		cmd->body = p;
		cmd->body_len = body_len;
	}

	return cmd;
}


static struct dum_cmd *cmd_alloc(enum dum_cmd_type type, redum_dum_handle h,
				 const struct redum_dum_req *req,
				 const char *reason, const char *hdrs,
				 const char *ctype, const void *body,
				 size_t body_len)
{
	struct dum_cmd s = {0};

	if (req) {
		s.method    = req->method;
		s.uri       = req->uri;
		s.to        = req->to;
		s.from      = req->from;
		s.from_name = req->from_name;
		s.route     = req->route;
	}
	s.hdrs   = hdrs;
	s.ctype  = ctype;
	s.reason = reason;

	return dum_cmd_new(type, h, &s, body, body_len);
}


int dum_cmd_push(struct redum_dum *dum, struct dum_cmd *cmd)
{
	int err;

	if (!cmd)
		return ENOMEM;

	err = redum_fifo_push(dum->cmdq, cmd);
	if (err) {
		atomic_fetch_add_explicit(&dum->c.commands_rejected, 1,
					  memory_order_relaxed);
		free(cmd);
		return err;
	}

	atomic_fetch_add_explicit(&dum->c.commands_posted, 1,
				  memory_order_relaxed);
	return 0;
}


static int req_cmd(struct redum_dum *dum, enum dum_cmd_type type,
		   redum_dum_handle *hp, const struct redum_dum_req *req)
{
	struct dum_cmd *cmd;
	redum_dum_handle h;
	int err;

	if (!dum || !hp || !req || !req->uri || !req->from)
		return EINVAL;
	if (type == DCMD_REQUEST && (!req->method || !*req->method ||
				     !strcmp(req->method, "INVITE") ||
				     !strcmp(req->method, "ACK") ||
				     !strcmp(req->method, "CANCEL")))
		return EINVAL;

	h = dum_new_handle(dum);
	cmd = cmd_alloc(type, h, req, NULL, req->hdrs, req->ctype, req->body,
			req->body_len);
	if (cmd && type == DCMD_OPTIONS)
		cmd->method = "OPTIONS";

	err = dum_cmd_push(dum, cmd);
	if (!err)
		*hp = h;

	return err;
}


int redum_dum_call(struct redum_dum *dum, redum_dum_handle *hp,
		   const struct redum_dum_req *req)
{
	return req_cmd(dum, DCMD_CALL, hp, req);
}


int redum_dum_options(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_dum_req *req)
{
	return req_cmd(dum, DCMD_OPTIONS, hp, req);
}


int redum_dum_request(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_dum_req *req)
{
	return req_cmd(dum, DCMD_REQUEST, hp, req);
}


static int h_cmd(struct redum_dum *dum, enum dum_cmd_type type,
		 redum_dum_handle h, uint16_t scode, const char *reason,
		 const char *hdrs, const char *ctype, const void *body,
		 size_t body_len)
{
	struct dum_cmd *cmd;

	if (!dum || !h)
		return EINVAL;

	cmd = cmd_alloc(type, h, NULL, reason, hdrs, ctype, body, body_len);
	if (cmd)
		cmd->scode = scode;

	return dum_cmd_push(dum, cmd);
}


int redum_invite_answer(struct redum_dum *dum, redum_dum_handle h,
			uint16_t scode, const char *reason, const char *ctype,
			const void *body, size_t body_len)
{
	if (scode < 101 || scode > 299)
		return EINVAL;

	return h_cmd(dum, DCMD_ANSWER, h, scode, reason, NULL, ctype, body,
		     body_len);
}


int redum_invite_reject(struct redum_dum *dum, redum_dum_handle h,
			uint16_t scode, const char *reason)
{
	if (scode < 300 || scode > 699)
		return EINVAL;

	return h_cmd(dum, DCMD_REJECT, h, scode, reason, NULL, NULL, NULL, 0);
}


int redum_invite_end(struct redum_dum *dum, redum_dum_handle h)
{
	return h_cmd(dum, DCMD_END, h, 0, NULL, NULL, NULL, NULL, 0);
}


int redum_invite_info(struct redum_dum *dum, redum_dum_handle h,
		      const char *ctype, const void *body, size_t body_len)
{
	return h_cmd(dum, DCMD_INFO, h, 0, NULL, NULL, ctype, body, body_len);
}


int redum_invite_reinvite(struct redum_dum *dum, redum_dum_handle h,
			  const char *ctype, const void *body,
			  size_t body_len)
{
	return h_cmd(dum, DCMD_REINVITE, h, 0, NULL, NULL, ctype, body,
		     body_len);
}


int redum_dum_respond(struct redum_dum *dum, redum_dum_handle h,
		      uint16_t scode, const char *reason, const char *hdrs,
		      const char *ctype, const void *body, size_t body_len)
{
	if (scode < 100 || scode > 699)
		return EINVAL;

	return h_cmd(dum, DCMD_RESPOND, h, scode, reason, hdrs, ctype, body,
		     body_len);
}


/* ---- lifecycle --------------------------------------------------------- */

static void dum_teardown(struct redum_dum *dum)
{
	tmr_cancel(&dum->tmr_tick);
	tmr_cancel(&dum->tmr_stop);
	dum_shut_teardown(dum);
	dum_registrar_teardown(dum);
	dum_subs_teardown(dum);
	dum->ht_usage = mem_deref(dum->ht_usage);
	dum->ht_ct    = mem_deref(dum->ht_ct);
	dum->ht_st    = mem_deref(dum->ht_st);
	dum->ht_dlg   = mem_deref(dum->ht_dlg);
	(void)dum_ops->tu_free(dum->tu);
	dum->tu = NULL;
}


/* Last step on the DUM side: the app FIFO closes once every event is in. */
static void finish(struct redum_dum *dum)
{
	ovf_flush(dum);
	if (dum->ovf_head)
		return;     /* the tick retries */

	dum->phase = PH_DONE;
	dum_shut_finished(dum);
	(void)redum_fifo_close(dum->appq);

	if (dum->threaded) {
		re_cancel();   /* the thread tears down after re_main */
	}
	else {
		dum_teardown(dum);
		atomic_store(&dum->finished, true);
	}
}


static void cmd_close_handler(void *arg)
{
	struct redum_dum *dum = arg;

	DUM_OWNED(dum);
	finish(dum);
}


/* TransactionUserRemoved: nothing more comes from the stack and nothing
 * may be posted to it. */
void dum_removed_handler(struct redum_stack_tu *tu, void *arg)
{
	struct redum_dum *dum = arg;
	(void)tu;

	DUM_OWNED(dum);

	dum->phase = PH_FINISHING;
	dum_shut_removed(dum);    /* names what is left in the report */

	/* usages the give-up bound left: told, then dropped silently */
	while (dum->usagel.head) {
		struct dum_usage *u = dum->usagel.head->data;

		if (u->cls->type == REDUM_USAGE_INVITE_CLIENT ||
		    u->cls->type == REDUM_USAGE_INVITE_SERVER) {
			struct redum_dum_event *ev;

			ev = dum_ev_new(u, REDUM_DUM_EV_TERMINATED, NULL);
			if (ev)
				ev->reason = REDUM_TERM_SHUTDOWN;
			dum_ev_post(dum, ev);
		}
		dum_usage_free(u);
	}

	/* later commands fail with EPIPE; the ones queued get ESHUTDOWN
	 * errors before the close handler, which finishes */
	(void)redum_fifo_close(dum->cmdq);
}


/* Asks the stack to remove DUM: graceful (its transactions finish) once
 * no usage is left, abandon otherwise (give-up deadline, forced). */
void dum_remove(struct redum_dum *dum, bool graceful)
{
	tmr_cancel(&dum->tmr_stop);
	if (dum->phase >= PH_REMOVING)
		return;

	dum->phase = PH_REMOVING;
	dum_shut_removing(dum);
	(void)dum_ops->tu_remove(dum->tu, graceful);
}


static void do_remove(struct redum_dum *dum)
{
	dum_remove(dum, dum->usagel.head == NULL);
}


/* Called after anything that may change the stop's progress: the staged
 * shutdown (dum/shutdown.c) takes it from here. */
static void phase_check(struct redum_dum *dum)
{
	dum_shut_check(dum);
}


static void tick_handler(void *arg)
{
	struct redum_dum *dum = arg;

	tmr_start(&dum->tmr_tick, TICK_MS, tick_handler, dum);

	if (dum->tu && dum->phase < PH_FINISHING)
		(void)dum_congested(dum);   /* refreshes the depth figures */

	if (dum->ovf_head) {
		ovf_flush(dum);
		if (dum->phase == PH_FINISHING && !dum->ovf_head)
			finish(dum);
	}

	phase_check(dum);
}


/* On the DUM thread: hashes, routes, FIFOs onto this loop. */
static int dum_setup(struct redum_dum *dum)
{
	int err;

	dum->owner = pthread_self();

	err  = hash_alloc(&dum->ht_usage, HSIZE);
	err |= hash_alloc(&dum->ht_ct, HSIZE);
	err |= hash_alloc(&dum->ht_st, HSIZE);
	err |= hash_alloc(&dum->ht_dlg, HSIZE);
	if (err)
		return ENOMEM;

	dum_invite_init(dum);
	dum_ood_init(dum);
	dum_registrar_init(dum);
	dum_subs_init(dum);

	err = dum_ops->tu_attach(dum->tu, false, dum->conf.batch);
	if (err)
		return err;

	err = redum_fifo_attach(dum->cmdq, cmd_msg_handler, cmd_close_handler,
				dum, dum->conf.batch);
	if (err)
		return err;

	tmr_start(&dum->tmr_tick, TICK_MS, tick_handler, dum);

	return 0;
}


static void start_done(struct redum_dum *dum, int err)
{
	pthread_mutex_lock(&dum->mtx);
	dum->ready = true;
	dum->start_err = err;
	pthread_cond_broadcast(&dum->cond);
	pthread_mutex_unlock(&dum->mtx);
}


static void *dum_thread(void *arg)
{
	struct redum_dum *dum = arg;
	sigset_t all;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)pthread_setname_np(pthread_self(), "redum-dum");

	err = re_thread_init();
	if (err) {
		start_done(dum, err);
		return NULL;
	}

	err = dum_setup(dum);
	start_done(dum, err);
	if (err) {
		/* nothing attached consumes: the TU is abandoned */
		(void)dum_ops->tu_remove(dum->tu, false);
		re_thread_close();
		return NULL;
	}

	(void)re_main(NULL);

	dum_teardown(dum);
	re_thread_close();
	atomic_store(&dum->finished, true);

	return NULL;
}


int redum_dum_start(struct redum_dum *dum)
{
	bool expect = false;
	int err;

	if (!dum)
		return EINVAL;

	if (!atomic_compare_exchange_strong(&dum->attached, &expect, true))
		return EALREADY;

	dum->threaded = true;
	err = pthread_create(&dum->thread, NULL, dum_thread, dum);
	if (err) {
		dum->threaded = false;
		atomic_store(&dum->attached, false);
		return err;
	}

	pthread_mutex_lock(&dum->mtx);
	while (!dum->ready)
		pthread_cond_wait(&dum->cond, &dum->mtx);
	err = dum->start_err;
	pthread_mutex_unlock(&dum->mtx);

	if (err) {
		pthread_join(dum->thread, NULL);
		dum->threaded = false;
	}

	return err;
}


int redum_dum_attach(struct redum_dum *dum)
{
	bool expect = false;
	int err;

	if (!dum)
		return EINVAL;

	if (!atomic_compare_exchange_strong(&dum->attached, &expect, true))
		return EALREADY;

	err = dum_setup(dum);
	if (err)
		(void)dum_ops->tu_remove(dum->tu, false);

	return err;
}


int redum_dum_alloc(struct redum_dum **dump, struct redum_stack *stack,
		    const struct redum_dum_conf *conf,
		    const struct redum_dum_handlers *handlers)
{
	struct redum_stack_tu_conf tconf = {0};
	struct redum_dum *dum;
	uint32_t methods;
	int err;

	if (!dump || !stack || !handlers)
		return EINVAL;

	dum = calloc(1, sizeof(*dum));
	if (!dum)
		return ENOMEM;

	if (conf)
		dum->conf = *conf;
	else
		redum_dum_conf_init(&dum->conf);

	dum->stack = stack;
	dum->hd    = *handlers;
	dum->wake_cmd.type     = DCMD_WAKE;
	dum->wake_cmd.embedded = true;
	pthread_mutex_init(&dum->mtx, NULL);
	pthread_cond_init(&dum->cond, NULL);

	dum->allow  = strdup(dum->conf.allow ? dum->conf.allow :
			     "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO");
	dum->accept = strdup(dum->conf.accept ? dum->conf.accept :
			     "application/sdp");
	if (!dum->allow || !dum->accept) {
		err = ENOMEM;
		goto out;
	}
	dum->conf.allow  = dum->allow;
	dum->conf.accept = dum->accept;
	dum->conf.name   = NULL;

	err = dum_shut_alloc(dum);
	if (err)
		goto out;

	err = dum_registrar_alloc(dum, conf);
	if (err)
		goto out;

	err = dum_subs_alloc(dum, conf);
	if (err)
		goto out;

	err = dum_creds_alloc(dum, conf);
	if (err)
		goto out;

	err = redum_fifo_alloc(&dum->cmdq, REDUM_FIFO_MPSC,
			       dum->conf.cmd_capacity ?
			       dum->conf.cmd_capacity : DEFAULT_CAPACITY);
	if (err)
		goto out;

	err = redum_fifo_alloc(&dum->appq, REDUM_FIFO_SPSC,
			       dum->conf.app_capacity ?
			       dum->conf.app_capacity : DEFAULT_CAPACITY);
	if (err)
		goto out;

	/* In-dialog requests reach DUM whatever the mask: it only says which
	 * new requests DUM takes. BYE and CANCEL are taken so that strays get
	 * DUM's 481 (the stack answers CANCELs of nothing itself). */
	methods = REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS) |
		REDUM_STACK_MBIT(REDUM_STACK_M_BYE) |
		REDUM_STACK_MBIT(REDUM_STACK_M_INFO);
	if (handlers->invite.on_new)
		methods |= REDUM_STACK_MBIT(REDUM_STACK_M_INVITE);
	if (handlers->request.on_request)
		methods |= dum->conf.methods;
	if (dum->conf.registrar)
		methods |= REDUM_STACK_MBIT(REDUM_STACK_M_REGISTER);
	methods |= dum_subs_methods(dum);
	methods &= ~(REDUM_STACK_MBIT(REDUM_STACK_M_ACK) |
		     REDUM_STACK_MBIT(REDUM_STACK_M_CANCEL));

	tconf.name     = conf && conf->name ? conf->name : "dum";
	tconf.methods  = methods;
	tconf.capacity = dum->conf.tu_capacity;
	tconf.eventh   = dum_stack_event_handler;
	tconf.removedh = dum_removed_handler;
	tconf.arg      = dum;

	err = dum_ops->tu_alloc(&dum->tu, stack, &tconf);
	if (err)
		goto out;

	*dump = dum;
	return 0;

 out:
	(void)redum_fifo_free(dum->cmdq);
	(void)redum_fifo_free(dum->appq);
	dum_registrar_free(dum);
	dum_subs_free(dum);
	dum_creds_free(dum);
	dum_shut_free(dum);
	free(dum->allow);
	free(dum->accept);
	pthread_mutex_destroy(&dum->mtx);
	pthread_cond_destroy(&dum->cond);
	free(dum);
	return err;
}


int redum_dum_stop(struct redum_dum *dum)
{
	/* the staged graceful shutdown with the defaults, bounded by
	 * conf.stop_ms (include/redum/shutdown.h) */
	return redum_dum_shutdown(dum, NULL);
}


int redum_dum_free(struct redum_dum *dum)
{
	if (!dum)
		return 0;

	/* from inside on_dum_can_be_deleted: done once it returned */
	if (dum_shut_defer_free(dum))
		return 0;

	if (dum->threaded) {
		if (pthread_equal(pthread_self(), dum->thread))
			return EDEADLK;
		if (!redum_fifo_finished(dum->appq))
			return EBUSY;
		pthread_join(dum->thread, NULL);
		dum->threaded = false;
	}

	if (atomic_load(&dum->attached) && !atomic_load(&dum->finished))
		return EBUSY;
	if (atomic_load(&dum->app_attached) && !redum_fifo_finished(dum->appq))
		return EBUSY;

	if (redum_fifo_free(dum->cmdq) || redum_fifo_free(dum->appq))
		return EBUSY;

	dum_registrar_free(dum);
	dum_subs_free(dum);
	dum_creds_free(dum);
	dum_shut_free(dum);
	free(dum->allow);
	free(dum->accept);
	pthread_mutex_destroy(&dum->mtx);
	pthread_cond_destroy(&dum->cond);
	free(dum);

	return 0;
}


/* ---- counters ------------------------------------------------------------ */

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void redum_dum_stats(const struct redum_dum *dum, struct redum_dum_stats *st)
{
	struct redum_dum *d = (struct redum_dum *)dum;
	uint32_t t, s;

	if (!dum || !st)
		return;

	memset(st, 0, sizeof(*st));
	for (t = 0; t < REDUM_USAGE_COUNT; t++) {
		for (s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			st->usages[t][s] = LD(d->c.usages[t][s]);
			st->usages_alive += st->usages[t][s];
		}
		st->usages_created[t] = LD(d->c.usages_created[t]);
	}
	st->dialogs           = LD(d->c.dialogs);
	st->handles           = LD(d->c.handles);
	st->events_posted     = LD(d->c.events_posted);
	st->events_overflowed = LD(d->c.events_overflowed);
	st->commands_posted   = LD(d->c.commands_posted);
	st->commands_rejected = LD(d->c.commands_rejected);
	st->commands_stale    = LD(d->c.commands_stale);
	st->busy_503          = LD(d->c.busy_503);
	st->forks_ended       = LD(d->c.forks_ended);
	st->glare_491         = LD(d->c.glare_491);
	st->stack_errors      = LD(d->c.stack_errors);

	/* the DUM thread refreshes these (the TU handle itself is the DUM
	 * thread's and may be gone) */
	st->inbound_depth      = LD(d->in_depth);
	st->inbound_high_water = LD(d->in_hw);
}


static int pr(struct re_printf *pf, const char *name, uint64_t v)
{
	return v ? re_hprintf(pf, "%s %llu\n", name, (unsigned long long)v)
		: 0;
}


int redum_dum_stats_print(struct re_printf *pf,
			  const struct redum_dum_stats *st)
{
	uint32_t t, s;
	int err = 0;

	if (!st)
		return EINVAL;

	for (t = 1; t < REDUM_USAGE_COUNT; t++) {
		char name[80];

		re_snprintf(name, sizeof(name), "created.%s",
			    redum_usage_name(t));
		err |= pr(pf, name, st->usages_created[t]);

		for (s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			re_snprintf(name, sizeof(name), "alive.%s.%s",
				    redum_usage_name(t),
				    redum_usage_state_name(t, (int)s));
			err |= pr(pf, name, st->usages[t][s]);
		}
	}

	err |= pr(pf, "usages_alive", st->usages_alive);
	err |= pr(pf, "dialogs", st->dialogs);
	err |= pr(pf, "handles", st->handles);
	err |= pr(pf, "events_posted", st->events_posted);
	err |= pr(pf, "events_overflowed", st->events_overflowed);
	err |= pr(pf, "commands_posted", st->commands_posted);
	err |= pr(pf, "commands_rejected", st->commands_rejected);
	err |= pr(pf, "commands_stale", st->commands_stale);
	err |= pr(pf, "busy_503", st->busy_503);
	err |= pr(pf, "forks_ended", st->forks_ended);
	err |= pr(pf, "glare_491", st->glare_491);
	err |= pr(pf, "stack_errors", st->stack_errors);
	err |= pr(pf, "inbound_depth", st->inbound_depth);
	err |= pr(pf, "inbound_high_water", st->inbound_high_water);

	return err;
}
