/**
 * @file stack.c  The stack thread: start/stop, the command FIFO, the TU
 *                registry, event posting, counters
 *
 * Thread contract (see docs/STACK.md): every libre object below is created,
 * used and freed on the stack thread; other threads only push commands
 * (MPSC command FIFO), hand events back (a lock-free list, relq), set atomic
 * request flags (remove, stop) and read atomic counters.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <re.h>
#include "stack_int.h"
#include "udp_batch.h"

enum {
	MAXFDS_MAX = 65536,          /* stack_maxfds() */
	TICK_MS = 20,                /* housekeeping: released views, overflow
					lists, removal and stop progress     */
	DEFAULT_HSIZE = 1u << 19,    /* ~20k tx/s kept 64 s = 1.28M entries:
					about 2.4 a bucket                  */
	DEFAULT_CAPACITY = 65536,
};

/* A wake-up with no payload: pushed by flag setters (remove, stop) so the
 * stack looks at the flags at once; never freed. If the push fails (FIFO
 * full) the next tick sees the flags anyway. */
static struct cmd wake_cmd = {.type = CMD_WAKE, .embedded = true};

static pthread_once_t libre_once = PTHREAD_ONCE_INIT;
static int libre_err;

static void libre_init_once(void)
{
	libre_err = libre_init();
}


static const char *method_names[REDUM_STACK_M_COUNT] = {
	"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "SUBSCRIBE",
	"NOTIFY", "PUBLISH", "MESSAGE", "INFO", "UPDATE", "PRACK", "REFER",
	"OTHER",
};


enum redum_stack_method redum_stack_method_of(const struct pl *met)
{
	if (!met || !met->p)
		return REDUM_STACK_M_OTHER;

	/* First letter then a full compare: one or two compares a message. */
	switch (met->l ? met->p[0] : 0) {

	case 'A': if (!pl_strcmp(met, "ACK")) return REDUM_STACK_M_ACK;
		break;
	case 'B': if (!pl_strcmp(met, "BYE")) return REDUM_STACK_M_BYE;
		break;
	case 'C': if (!pl_strcmp(met, "CANCEL")) return REDUM_STACK_M_CANCEL;
		break;
	case 'I':
		if (!pl_strcmp(met, "INVITE")) return REDUM_STACK_M_INVITE;
		if (!pl_strcmp(met, "INFO")) return REDUM_STACK_M_INFO;
		break;
	case 'M': if (!pl_strcmp(met, "MESSAGE")) return REDUM_STACK_M_MESSAGE;
		break;
	case 'N': if (!pl_strcmp(met, "NOTIFY")) return REDUM_STACK_M_NOTIFY;
		break;
	case 'O': if (!pl_strcmp(met, "OPTIONS")) return REDUM_STACK_M_OPTIONS;
		break;
	case 'P':
		if (!pl_strcmp(met, "PUBLISH")) return REDUM_STACK_M_PUBLISH;
		if (!pl_strcmp(met, "PRACK")) return REDUM_STACK_M_PRACK;
		break;
	case 'R':
		if (!pl_strcmp(met, "REGISTER")) return REDUM_STACK_M_REGISTER;
		if (!pl_strcmp(met, "REFER")) return REDUM_STACK_M_REFER;
		break;
	case 'S':
		if (!pl_strcmp(met, "SUBSCRIBE"))
			return REDUM_STACK_M_SUBSCRIBE;
		break;
	case 'U': if (!pl_strcmp(met, "UPDATE")) return REDUM_STACK_M_UPDATE;
		break;
	default:
		break;
	}

	return REDUM_STACK_M_OTHER;
}


const char *redum_stack_method_name(enum redum_stack_method m)
{
	return (unsigned)m < REDUM_STACK_M_COUNT ? method_names[m] : "?";
}


void redum_stack_conf_init(struct redum_stack_conf *conf)
{
	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	conf->ctrans_hsize = DEFAULT_HSIZE;
	conf->strans_hsize = DEFAULT_HSIZE;
	conf->tcp_hsize    = 1024;
	conf->obj_hsize    = DEFAULT_HSIZE;
	conf->udp_rcvbuf   = 16u << 20;
	conf->udp_sndbuf   = 4u << 20;
	conf->udp_rxsz     = 0;         /* libre's 8192: no truncation */
	conf->trying_ms    = 200;       /* RFC 3261 17.2.1's bound      */
	conf->cmd_capacity = DEFAULT_CAPACITY;
	conf->t1_ms        = SIP_T1;
	conf->t2_ms        = SIP_T2;
	conf->graceful_ms  = 64 * SIP_T1;
	conf->force_ms     = 2000;
	conf->retry_after  = 5;
	conf->overload_pct = 50;
	conf->overload_delay_ms = 200;
	conf->overload_interval_ms = 100;
}


int redum_stack_conf_listen(struct redum_stack_conf *conf, const char *spec)
{
	struct redum_stack_listen *l;
	const char *colon;
	enum sip_transp tp;
	size_t len;

	if (!conf || !spec)
		return EINVAL;
	if (conf->listenc >= REDUM_STACK_MAX_LISTEN)
		return E2BIG;

	colon = strchr(spec, ':');
	if (!colon)
		return EINVAL;
	len = (size_t)(colon - spec);

	if (len == 3 && !strncasecmp(spec, "udp", 3))
		tp = SIP_TRANSP_UDP;
	else if (len == 3 && !strncasecmp(spec, "tcp", 3))
		tp = SIP_TRANSP_TCP;
	else if (len == 3 && !strncasecmp(spec, "tls", 3))
		tp = SIP_TRANSP_TLS;
	else
		return EINVAL;

	l = &conf->listen[conf->listenc];
	if (sa_decode(&l->addr, colon + 1, strlen(colon + 1)))
		return EINVAL;
	l->tp = tp;
	++conf->listenc;

	return 0;
}


static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}


/* ---- events ------------------------------------------------------------ */

/* Events are allocated on the stack thread and come back to it when
 * released (relq), so they are recycled there: no malloc per event, and no
 * free() of the stack thread's memory by a TU's thread (glibc then locks
 * the stack thread's arena and fills the TU's tcache with chunks it never
 * reuses). Per stack thread: ev_cache is on only there. */
enum { EV_CACHE_MAX = 16384 };
static __thread struct redum_stack_event *ev_cache;
static __thread uint32_t ev_cachec;
static __thread bool ev_cache_on;
static __thread struct redum_stack *ev_stack;  /* for relq_drain() */

static void relq_drain(struct redum_stack *stack);


static void ev_cache_flush(void)
{
	while (ev_cache) {
		struct redum_stack_event *ev = ev_cache;
		ev_cache = ev->next;
		free(ev);
	}
	ev_cachec = 0;
	ev_cache_on = false;
	ev_stack = NULL;
}


struct redum_stack_event *stack_ev_alloc(enum redum_stack_ev_type type,
					 uint64_t id, uint64_t dlg, int err)
{
	struct redum_stack_event *ev;

	/* released events wait in relq until the tick: take them now */
	if (!ev_cache && ev_stack)
		relq_drain(ev_stack);

	ev = ev_cache;
	if (ev) {
		ev_cache = ev->next;
		--ev_cachec;
	}
	else {
		ev = malloc(sizeof(*ev));
		if (!ev)
			return NULL;
	}

	ev->type = type;
	ev->err  = err;
	ev->id   = id;
	ev->dlg  = dlg;
	ev->msg  = NULL;
	ev->ref  = NULL;
	ev->next = NULL;

	return ev;
}


/* Stack thread: the event may hold a message reference. */
void stack_ev_free(struct redum_stack_event *ev)
{
	if (!ev)
		return;

	mem_deref(ev->ref);
	if (ev_cache_on && ev_cachec < EV_CACHE_MAX) {
		ev->next = ev_cache;
		ev_cache = ev;
		++ev_cachec;
		return;
	}
	free(ev);
}


void redum_stack_event_release(struct redum_stack_tu *tu,
			       struct redum_stack_event *ev)
{
	struct redum_stack *stack;
	struct redum_stack_event *head;

	if (!ev)
		return;

	/* After TransactionUserRemoved the stack may be gone. */
	if (!tu || (!ev->ref && atomic_load_explicit(&tu->removed,
						     memory_order_acquire))) {
		free(ev);
		return;
	}

	/* The reference must be dropped on the stack thread (libre's
	 * refcounts are not atomic), and the event is recycled there: a
	 * Treiber push, never fails. (The stack ends only after every TU's
	 * removed handler has returned, so it is still there.) */
	stack = tu->stack;
	head = atomic_load_explicit(&stack->relq, memory_order_relaxed);
	do {
		ev->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&stack->relq, &head,
							ev,
							memory_order_release,
							memory_order_relaxed));
}


static void relq_drain(struct redum_stack *stack)
{
	struct redum_stack_event *ev;

	STACK_OWNED(stack);

	ev = atomic_exchange_explicit(&stack->relq, NULL,
				      memory_order_acquire);
	while (ev) {
		struct redum_stack_event *next = ev->next;
		stack_ev_free(ev);
		ev = next;
	}
}


static void ovf_flush(struct tu_rec *rec)
{
	while (rec->ovf_head) {
		struct redum_stack_event *ev = rec->ovf_head;
		/* read before the push: once pushed the event is the TU's,
		 * which may release it (and reuse ->next) at once; reading
		 * it after lost the rest of the list now and then (found
		 * by tests/overload: BYEs parked behind a full FIFO never
		 * answered) */
		struct redum_stack_event *next = ev->next;

		if (redum_fifo_push(rec->fifo, ev))
			return;

		rec->ovf_head = next;
		if (!rec->ovf_head)
			rec->ovf_tail = NULL;
	}
}


/**
 * Pushes an event into a TU's FIFO. Inside a receive batch the doorbell
 * waits for the batch's end (stack_wake_flush): measured at 5000 calls/s,
 * ringing per push cost 1.85 eventfd writes per call (of 3 events), each
 * waking the TU's thread, which then preempted the stack thread (a context
 * switch per write on 2 cores); per batch it is one per ~13 datagrams.
 */
int stack_tu_push(struct redum_stack *stack, struct tu_rec *rec,
		  struct redum_stack_event *ev)
{
	int err;

	STACK_OWNED(stack);

	if (!stack->defer_wake)
		return redum_fifo_push(rec->fifo, ev);

	err = redum_fifo_push_nowake(rec->fifo, ev);
	if (!err && !rec->wake_pending) {
		rec->wake_pending = true;
		stack->wake_pending = true;
	}

	return err;
}


/** Rings the doorbells stack_tu_push() held back. */
void stack_wake_flush(struct redum_stack *stack)
{
	struct le *le;

	STACK_OWNED(stack);

	if (!stack->wake_pending)
		return;
	stack->wake_pending = false;

	for (le = stack->tul.head; le; le = le->next) {
		struct tu_rec *rec = le->data;

		if (rec->wake_pending) {
			rec->wake_pending = false;
			redum_fifo_wake(rec->fifo);
		}
	}
}


static void rx_batch_handler(bool begin, void *arg)
{
	struct redum_stack *stack = arg;

	if (begin) {
		++stack->defer_wake;
		return;
	}

	if (--stack->defer_wake == 0)
		stack_wake_flush(stack);
}


/**
 * Posts an event to a TU: never dropped. If its FIFO is full the event waits
 * in the TU's overflow list (kept in order: once the list is non-empty every
 * later event goes behind it) and the tick re-posts it.
 */
void stack_post(struct redum_stack *stack, struct tu_rec *rec,
		struct redum_stack_event *ev)
{
	int err;

	STACK_OWNED(stack);

	if (!ev)
		return;

	if (rec->state == TU_CLOSED) {
		stack_ev_free(ev);
		return;
	}

	if (!rec->ovf_head) {
		err = stack_tu_push(stack, rec, ev);
		if (!err)
			return;
		if (err != ENOSPC) {
			stack_ev_free(ev);
			return;
		}
	}

	ev->next = NULL;
	if (rec->ovf_tail)
		rec->ovf_tail->next = ev;
	else
		rec->ovf_head = ev;
	rec->ovf_tail = ev;
	CNT_INC(stack->c.overflowed);
}


/* ---- TU registry -------------------------------------------------------- */

static struct tu_rec *rec_find(struct redum_stack *stack, uint32_t id)
{
	struct le *le;

	for (le = stack->tul.head; le; le = le->next) {
		struct tu_rec *rec = le->data;
		if (rec->id == id)
			return rec;
	}

	return NULL;
}


static void rec_abandon(struct redum_stack *stack, struct tu_rec *rec)
{
	srv_abandon(stack, rec);
	cli_abandon(stack, rec);
}


/* Moves a TU through its removal: LEAVING until its transactions are done
 * (or the bound passes, or it is abandoned), then its FIFO is closed: the
 * close handler is TransactionUserRemoved. */
static void rec_progress(struct redum_stack *stack, struct tu_rec *rec)
{
	int req = atomic_load_explicit(&rec->remove_req, memory_order_acquire);

	if (rec->ovf_head)
		ovf_flush(rec);

	if (rec->state == TU_ACTIVE) {
		if (!req)
			return;
		rec->state = TU_LEAVING;
		rec->deadline = tmr_jiffies() + stack->conf.graceful_ms;
	}

	if (rec->state != TU_LEAVING)
		return;

	if (req == 2 || tmr_jiffies() >= rec->deadline)
		rec_abandon(stack, rec);

	if (!list_isempty(&rec->srvl) || !list_isempty(&rec->clil))
		return;

	dlg_flush(stack, rec);

	/* Every event must be in the FIFO before the final message. */
	if (rec->ovf_head)
		return;

	/* its held-back doorbell first: the FIFO may go once finished */
	stack_wake_flush(stack);
	rec->state = TU_CLOSED;
	list_unlink(&rec->le);
	list_append(&stack->closedl, &rec->le, rec);
	(void)redum_fifo_close(rec->fifo);
}


/* The TU's close handler has returned (its FIFO says finished): its handle
 * may be gone, views it held are not read any more, and nobody touches the
 * FIFO: the stack frees it. (The stack, not the TU, frees the FIFO because
 * the producer side -- this thread, inside redum_fifo_close() -- may still
 * be using it when the consumer runs the close handler.) */
static void rec_done(struct redum_stack *stack, struct tu_rec *rec)
{
	STACK_OWNED(stack);

	srv_free_orphans(stack, rec);
	while (rec->ovf_head) {
		struct redum_stack_event *ev = rec->ovf_head;
		rec->ovf_head = ev->next;
		stack_ev_free(ev);
	}
	(void)redum_fifo_free(rec->fifo);
	list_unlink(&rec->le);
	CNT_DEC(stack->c.tus);
	free(rec);
}


/* libre's trace hook sees every message it decoded, before its
 * transaction layer: the one place where retransmissions it absorbs can be
 * counted (docs/OVERLOAD.md, the accounting identity). Sent messages are
 * counted elsewhere (req_out, resp_out). */
static void rx_trace(bool tx, enum sip_transp tp, const struct sa *src,
		     const struct sa *dst, const uint8_t *pkt, size_t len,
		     void *arg)
{
	struct redum_stack *stack = arg;
	(void)tp;
	(void)src;
	(void)dst;

	if (tx)
		return;
	if (len >= 4 && !memcmp(pkt, "SIP/", 4))
		CNT_INC(stack->c.resp_rx);
	else
		CNT_INC(stack->c.req_rx);
}


static void exit_handler(void *arg)
{
	struct redum_stack *stack = arg;

	STACK_OWNED(stack);
	stack->sip_exited = true;
	re_cancel();
}


static void exit_timeout(void *arg)
{
	struct redum_stack *stack = arg;

	STACK_OWNED(stack);
	re_cancel();
}


/* Final message of the command FIFO: no command can come any more. Every TU
 * is gone: close libre's SIP stack; its exit handler leaves the loop. */
static void cmdq_close_handler(void *arg)
{
	struct redum_stack *stack = arg;

	STACK_OWNED(stack);

	relq_drain(stack);
	tmr_cancel(&stack->tmr_tick);
	tmr_cancel(&stack->tmr_force);

	stack->lsnr_req  = mem_deref(stack->lsnr_req);
	stack->lsnr_resp = mem_deref(stack->lsnr_resp);

	stack->sip_closed = true;
	if (stack->stop_mode == 2)
		sip_close(stack->sip, true);
	sip_close(stack->sip, false);

	/* libre 1.1.0 calls the exit handler at once unless a websocket is
	 * still shutting down; bound that wait. */
	if (!stack->sip_exited)
		tmr_start(&stack->tmr_force, stack->conf.force_ms,
			  exit_timeout, stack);
}


static void progress(struct redum_stack *stack)
{
	int stop = atomic_load_explicit(&stack->stop_req,
					memory_order_acquire);
	struct le *le;

	STACK_OWNED(stack);

	if (stop > stack->stop_mode) {
		stack->stop_mode = stop;

		for (le = stack->tul.head; le; le = le->next) {
			struct tu_rec *rec = le->data;
			int cur = atomic_load(&rec->remove_req);
			while (cur < stop &&
			       !atomic_compare_exchange_weak(&rec->remove_req,
							     &cur, stop))
				;
		}

		/* remove_req 2 makes rec_progress() abandon at once, which
		 * also escalates graceful removals already running. */
	}

	le = stack->tul.head;
	while (le) {
		struct tu_rec *rec = le->data;
		le = le->next;
		rec_progress(stack, rec);
	}

	le = stack->closedl.head;
	while (le) {
		struct tu_rec *rec = le->data;
		le = le->next;
		if (redum_fifo_finished(rec->fifo))
			rec_done(stack, rec);
	}

	if (stack->stop_mode && !stack->cmdq_closed &&
	    list_isempty(&stack->tul) && list_isempty(&stack->closedl)) {
		stack->cmdq_closed = true;
		(void)redum_fifo_close(stack->cmdq);
	}
}


/* Overload control: a receive queue filling up means the stack thread is
 * behind; finishing the calls it has (their ACKs and BYEs) is worth more
 * than starting new ones, which would also add 2xx retransmissions. */
static void overload_check(struct redum_stack *stack)
{
	uint32_t pct, drops, hi = 0, sum = 0;
	bool any = false;

	STACK_OWNED(stack);

	for (uint32_t i = 0; i < stack->boundc; i++) {
		if (sock_rxfill(stack->udp_fd[i], &pct, &drops))
			continue;
		any = true;
		if (pct > hi)
			hi = pct;
		sum += drops;
	}
	if (!any)
		return;

	atomic_store_explicit(&stack->c.rx_drops, sum, memory_order_relaxed);

	if (!stack->conf.overload_pct)
		return;

	if (!stack->overloaded && hi >= stack->conf.overload_pct) {
		stack->overloaded = true;
		CNT_INC(stack->c.overloads);
	}
	else if (stack->overloaded && hi < stack->conf.overload_pct / 2) {
		stack->overloaded = false;
	}
}


/* The batched receiver's counters (its own, plain) into the atomic ones. */
static void rx_stats(struct redum_stack *stack)
{
	struct udp_batch_stats ubs = {0};

	udp_batch_stats(stack->ub, &ubs);
	atomic_store_explicit(&stack->c.rx_wakes, ubs.wakes,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.rx_calls, ubs.calls,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.rx_dgrams, ubs.dgrams,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.tx_calls, ubs.tx_calls,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.tx_dgrams, ubs.tx_dgrams,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.tx_errors, ubs.tx_errors,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.retx_req, ubs.retx_req,
			      memory_order_relaxed);
	atomic_store_explicit(&stack->c.retx_final, ubs.retx_final,
			      memory_order_relaxed);
}


static void tick_handler(void *arg)
{
	struct redum_stack *stack = arg;
	struct redum_fifo_stats fs;
	uint64_t enq = 0, deq = 0, full = 0, depth = 0, hw = 0, cap = 0;
	struct le *le;

	STACK_OWNED(stack);

	relq_drain(stack);

	/* TU FIFO figures for redum_stack_stats(): the FIFOs of closed TUs
	 * may be freed by their threads, so they are read here only. */
	for (le = stack->tul.head; le; le = le->next) {
		struct tu_rec *rec = le->data;
		redum_fifo_stats(rec->fifo, &fs);
		enq += fs.enqueued;
		deq += fs.dequeued;
		full += fs.rejected_full;
		depth += fs.depth;
		cap += fs.capacity;
		if (fs.high_water > hw)
			hw = fs.high_water;
	}
	atomic_store_explicit(&stack->tus_enq, enq, memory_order_relaxed);
	atomic_store_explicit(&stack->tus_deq, deq, memory_order_relaxed);
	atomic_store_explicit(&stack->tus_full, full, memory_order_relaxed);
	atomic_store_explicit(&stack->tus_depth, depth, memory_order_relaxed);
	atomic_store_explicit(&stack->tus_hw, hw, memory_order_relaxed);
	atomic_store_explicit(&stack->tus_cap, cap, memory_order_relaxed);

	rx_stats(stack);
	overload_check(stack);
	done_expire(stack);
	progress(stack);

	if (!stack->cmdq_closed)
		tmr_start(&stack->tmr_tick, TICK_MS, tick_handler, stack);
}


static void cmd_handler(void *msg, void *arg)
{
	struct redum_stack *stack = arg;
	struct cmd *cmd = msg;
	struct tu_rec *rec;

	STACK_OWNED(stack);

	switch (cmd->type) {

	case CMD_WAKE:
		relq_drain(stack);
		progress(stack);
		return;

	case CMD_STALL:
		/* tests: the thread stalls as if overloaded */
		usleep((useconds_t)cmd->id * 1000);
		free(cmd);
		return;

	case CMD_TU_ADD:
		rec = cmd->rec;
		list_append(&stack->tul, &rec->le, rec);
		CNT_INC(stack->c.tus);
		free(cmd);
		/* registered during a stop: removed at once */
		if (stack->stop_mode)
			atomic_store(&rec->remove_req, stack->stop_mode);
		return;

	default:
		break;
	}

	rec = rec_find(stack, cmd->tu_id);
	if (!rec) {
		CNT_INC(stack->c.cmd_rejected);
		stack_ev_free(cmd->ev);
		free(cmd);
		return;
	}

	switch (cmd->type) {

	case CMD_REPLY:
		srv_cmd_reply(stack, rec, cmd);
		break;

	case CMD_SRV_RELEASE:
		srv_cmd_release(stack, rec, cmd);
		break;

	default:
		cli_cmd(stack, rec, cmd);
		break;
	}

	free(cmd);
}


/* ---- start / stop ------------------------------------------------------ */

static void start_done(struct redum_stack *stack, int err)
{
	pthread_mutex_lock(&stack->mtx);
	stack->start_err = err;
	stack->started = true;
	pthread_cond_broadcast(&stack->cond);
	pthread_mutex_unlock(&stack->mtx);
}


static int add_listener(struct redum_stack *stack, uint32_t i)
{
	const struct redum_stack_listen *l = &stack->conf.listen[i];
	struct redum_stack_listen *b = &stack->bound[stack->boundc];
	struct fdset *before = NULL;
	struct sa la;
	int err, fd;

	if (l->tp == SIP_TRANSP_TLS && !stack->tls)
		return EINVAL;

	err = sock_snapshot(&before);
	if (err)
		return err;

	/* UDP: the socket libre creates is read in batches (udp_batch.c) */
	udp_batch_capture(stack->ub, l->tp == SIP_TRANSP_UDP);
	if (l->tp == SIP_TRANSP_TLS)
		err = sip_transp_add(stack->sip, l->tp, &l->addr, stack->tls);
	else
		err = sip_transp_add(stack->sip, l->tp, &l->addr);
	udp_batch_capture(stack->ub, false);
	if (err)
		goto out;

	fd = sock_find_new(before, l->tp == SIP_TRANSP_UDP ? SOCK_DGRAM :
			   SOCK_STREAM, &l->addr, NULL, 0, &la);

	b->tp = l->tp;
	if (fd >= 0) {
		b->addr = la;
	}
	else if (sa_port(&l->addr)) {
		b->addr = l->addr;
	}
	else {
		/* port 0 and the fd not found: libre knows the first
		 * transport of this kind and family */
		err = sip_transp_laddr(stack->sip, &b->addr, l->tp, &l->addr);
		if (err)
			goto out;
	}

	stack->udp_fd[stack->boundc] = l->tp == SIP_TRANSP_UDP ? fd : -1;
	if (l->tp == SIP_TRANSP_UDP)
		sock_bufsize(fd, stack->conf.udp_rcvbuf,
			     stack->conf.udp_sndbuf);
	++stack->boundc;

 out:
	free(before);
	return err;
}


static int stack_setup(struct redum_stack *stack)
{
	const struct redum_stack_conf *conf = &stack->conf;
	uint32_t hs = conf->obj_hsize;
	int err;

	err = udp_batch_alloc(&stack->ub, rx_batch_handler, stack);
	if (err)
		return err;

	err = sip_alloc(&stack->sip, NULL, conf->ctrans_hsize,
			conf->strans_hsize, conf->tcp_hsize, stack->software,
			exit_handler, stack);
	if (err)
		return err;

	if (stack->tls_cert) {
		err = tls_alloc(&stack->tls, TLS_METHOD_SSLV23,
				stack->tls_cert, NULL);
		if (err)
			return err;
	}

	for (uint32_t i = 0; i < conf->listenc; i++) {
		err = add_listener(stack, i);
		if (err)
			return err;
	}

	sip_set_trace_handler(stack->sip, rx_trace);

	err  = sip_listen(&stack->lsnr_req, stack->sip, true,
			  srv_request_handler, stack);
	err |= sip_listen(&stack->lsnr_resp, stack->sip, false,
			  cli_response_handler, stack);
	if (err)
		return ENOMEM;

	err  = hash_alloc(&stack->ht_srv, hs);
	err |= hash_alloc(&stack->ht_acc, hs);
	err |= hash_alloc(&stack->ht_done, hs);
	err |= hash_alloc(&stack->ht_cli, hs);
	err |= hash_alloc(&stack->ht_dlg, hs);
	err |= hash_alloc(&stack->ht_dlgcid, hs);

	return err ? ENOMEM : 0;
}


/* Stack thread, after the loop: no libre object outlives this. */
static void stack_teardown(struct redum_stack *stack)
{
	STACK_OWNED(stack);

	tmr_cancel(&stack->tmr_tick);
	tmr_cancel(&stack->tmr_force);
	relq_drain(stack);

	/* Records are all gone with their TUs; flush in case of a failed
	 * start (the tables hold libre objects whose destructors unlink). */
	hash_flush(stack->ht_srv);
	hash_flush(stack->ht_cli);
	hash_flush(stack->ht_dlg);
	stack->ht_srv    = mem_deref(stack->ht_srv);
	stack->ht_acc    = mem_deref(stack->ht_acc);
	list_flush(&stack->donel);
	stack->ht_done   = mem_deref(stack->ht_done);
	stack->ht_cli    = mem_deref(stack->ht_cli);
	stack->ht_dlg    = mem_deref(stack->ht_dlg);
	stack->ht_dlgcid = mem_deref(stack->ht_dlgcid);

	stack->lsnr_req  = mem_deref(stack->lsnr_req);
	stack->lsnr_resp = mem_deref(stack->lsnr_resp);

	/* sip_close(sip, false) gave up our reference; the closing
	 * destructor took one back before calling the exit handler. */
	if (!stack->sip_closed || stack->sip_exited)
		mem_deref(stack->sip);
	stack->sip = NULL;
	stack->tls = mem_deref(stack->tls);
	/* after the sockets' owners: frees our references to them (the
	 * last ones close the fds, on this thread's loop) */
	rx_stats(stack);
	stack->ub  = mem_deref(stack->ub);
}


/* libre's loop takes only fds below its maxfds, FD_SETSIZE (1024) unless
 * set before the loop's first fd: every TCP connection past ~1000 would be
 * refused (EMFILE from fd_listen). Size it from RLIMIT_NOFILE, bounded so
 * the loop's tables stay small (~40 bytes an fd). */
static int stack_maxfds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > MAXFDS_MAX)
		return MAXFDS_MAX;

	return rl.rlim_cur < 1024 ? 1024 : (int)rl.rlim_cur;
}


static void *stack_thread(void *arg)
{
	struct redum_stack *stack = arg;
	sigset_t all;
	int err;

	/* Signals belong to the application's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* named for top -H, perf and /proc/PID/task/N/comm */
	(void)pthread_setname_np(pthread_self(), "redum-stack");

	stack->owner = pthread_self();

	err = re_thread_init();
	if (err) {
		start_done(stack, err);
		return NULL;
	}

	err = fd_setsize(stack_maxfds());
	if (err) {
		re_thread_close();
		start_done(stack, err);
		return NULL;
	}

	err = stack_setup(stack);
	if (!err)
		err = redum_fifo_attach(stack->cmdq, cmd_handler,
					cmdq_close_handler, stack, 0);
	if (err) {
		stack_teardown(stack);
		re_thread_close();
		start_done(stack, err);
		return NULL;
	}

	tmr_start(&stack->tmr_tick, TICK_MS, tick_handler, stack);
	ev_cache_on = true;
	ev_stack = stack;
	start_done(stack, 0);

	(void)re_main(NULL);

	stack_teardown(stack);
	ev_cache_flush();
	re_thread_close();

	return NULL;
}


static void stack_free(struct redum_stack *stack)
{
	if (!stack)
		return;

	(void)redum_fifo_free(stack->cmdq);
	free(stack->software);
	free(stack->tls_cert);
	pthread_mutex_destroy(&stack->mtx);
	pthread_cond_destroy(&stack->cond);
	free(stack);
}


int redum_stack_start(struct redum_stack **stackp,
		      const struct redum_stack_conf *conf)
{
	struct redum_stack *stack;
	sigset_t all, old;
	int err;

	if (!stackp || !conf || !conf->listenc ||
	    conf->listenc > REDUM_STACK_MAX_LISTEN ||
	    !pow2(conf->ctrans_hsize) || !pow2(conf->strans_hsize) ||
	    !pow2(conf->tcp_hsize) || !pow2(conf->obj_hsize) ||
	    !conf->t1_ms || conf->t2_ms < conf->t1_ms || !conf->cmd_capacity)
		return EINVAL;

	pthread_once(&libre_once, libre_init_once);
	if (libre_err)
		return libre_err;

	stack = calloc(1, sizeof(*stack));
	if (!stack)
		return ENOMEM;

	stack->conf = *conf;
	pthread_mutex_init(&stack->mtx, NULL);
	pthread_cond_init(&stack->cond, NULL);
	atomic_init(&stack->relq, NULL);
	for (uint32_t i = 0; i < REDUM_STACK_MAX_LISTEN; i++)
		stack->udp_fd[i] = -1;

	if ((conf->software && !(stack->software = strdup(conf->software))) ||
	    (conf->tls_cert && !(stack->tls_cert = strdup(conf->tls_cert)))) {
		err = ENOMEM;
		goto out;
	}
	stack->conf.software = stack->software;
	stack->conf.tls_cert = stack->tls_cert;

	err = redum_fifo_alloc(&stack->cmdq, REDUM_FIFO_MPSC,
			       conf->cmd_capacity);
	if (err)
		goto out;

	/* The thread inherits a full mask, so no signal can land in it
	 * before it blocks them itself. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&stack->thread, NULL, stack_thread, stack);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto out;

	pthread_mutex_lock(&stack->mtx);
	while (!stack->started)
		pthread_cond_wait(&stack->cond, &stack->mtx);
	err = stack->start_err;
	pthread_mutex_unlock(&stack->mtx);

	if (err) {
		pthread_join(stack->thread, NULL);
		goto out;
	}

	*stackp = stack;
	return 0;

 out:
	stack_free(stack);
	return err;
}


int redum_stack_debug_stall(struct redum_stack *stack, uint32_t ms)
{
	struct cmd *cmd;
	int err;

	if (!stack)
		return EINVAL;

	cmd = calloc(1, sizeof(*cmd));
	if (!cmd)
		return ENOMEM;

	cmd->type = CMD_STALL;
	cmd->id = ms;
	err = redum_fifo_push(stack->cmdq, cmd);
	if (err)
		free(cmd);

	return err;
}


void stack_wake(struct redum_stack *stack)
{
	(void)redum_fifo_push(stack->cmdq, &wake_cmd);
}


int redum_stack_shutdown(struct redum_stack *stack, bool force)
{
	int want = force ? 2 : 1;
	int cur;

	if (!stack)
		return EINVAL;

	cur = atomic_load(&stack->stop_req);
	do {
		if (cur >= want)
			return EALREADY;
	} while (!atomic_compare_exchange_weak(&stack->stop_req, &cur, want));

	stack_wake(stack);

	return 0;
}


int redum_stack_join(struct redum_stack *stack,
		     struct redum_stack_stats *final)
{
	int err;

	if (!stack)
		return EINVAL;
	if (pthread_equal(pthread_self(), stack->thread))
		return EDEADLK;
	if (atomic_exchange(&stack->joined, true))
		return EALREADY;

	err = pthread_join(stack->thread, NULL);
	if (err)
		return err;

	if (final)
		redum_stack_stats(stack, final);
	stack_free(stack);
	return 0;
}


int redum_stack_laddr(const struct redum_stack *stack, uint32_t i,
		      enum sip_transp *tpp, struct sa *laddr)
{
	if (!stack || i >= stack->boundc)
		return ENOENT;

	if (tpp)
		*tpp = stack->bound[i].tp;
	if (laddr)
		*laddr = stack->bound[i].addr;

	return 0;
}


int redum_stack_udp_fd(const struct redum_stack *stack, uint32_t i)
{
	if (!stack || i >= stack->boundc)
		return -1;

	return stack->udp_fd[i];
}


#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void redum_stack_stats(const struct redum_stack *stack,
		       struct redum_stack_stats *st)
{
	struct redum_stack *s = (struct redum_stack *)stack;

	if (!stack || !st)
		return;

	memset(st, 0, sizeof(*st));
	st->strans_alive  = LD(s->c.strans_alive);
	st->ctrans_alive  = LD(s->c.ctrans_alive);
	st->dialogs_alive = LD(s->c.dialogs_alive);
	st->tus           = LD(s->c.tus);
	for (int i = 0; i < REDUM_STACK_M_COUNT; i++) {
		st->req_in[i]  = LD(s->c.req_in[i]);
		st->req_out[i] = LD(s->c.req_out[i]);
	}
	for (int i = 0; i < 6; i++) {
		st->resp_in[i]  = LD(s->c.resp_in[i]);
		st->resp_out[i] = LD(s->c.resp_out[i]);
	}
	st->retx_2xx        = LD(s->c.retx_2xx);
	st->invite_absorbed = LD(s->c.invite_absorbed);
	st->ack_retx        = LD(s->c.ack_retx);
	st->acks            = LD(s->c.acks);
	st->accepted_ended  = LD(s->c.accepted_ended);
	st->done_kept       = LD(s->c.done_kept);
	st->done_absorbed   = LD(s->c.done_absorbed);
	st->ack_timeouts    = LD(s->c.ack_timeouts);
	st->forks           = LD(s->c.forks);
	st->fork_absorbed   = LD(s->c.fork_absorbed);
	st->fork_late       = LD(s->c.fork_late);
	st->unclaimed       = LD(s->c.unclaimed);
	st->malformed       = LD(s->c.malformed);
	st->busy_503        = LD(s->c.busy_503);
	st->shed_503        = LD(s->c.shed_503);
	st->shed_late       = LD(s->c.shed_late);
	st->overloads       = LD(s->c.overloads);
	st->rx_drops        = LD(s->c.rx_drops);
	st->rx_wakes        = LD(s->c.rx_wakes);
	st->rx_calls        = LD(s->c.rx_calls);
	st->rx_dgrams       = LD(s->c.rx_dgrams);
	st->req_rx          = LD(s->c.req_rx);
	st->resp_rx         = LD(s->c.resp_rx);
	{
		uint64_t in = 0;

		for (int i = 0; i < REDUM_STACK_M_COUNT; i++)
			in += st->req_in[i];
		/* read apart, not together: never below zero */
		st->req_absorbed = st->req_rx > in ? st->req_rx - in : 0;
	}
	st->tx_calls        = LD(s->c.tx_calls);
	st->tx_dgrams       = LD(s->c.tx_dgrams);
	st->tx_errors       = LD(s->c.tx_errors);
	st->retx_req        = LD(s->c.retx_req);
	st->retx_final      = LD(s->c.retx_final);
	st->overflowed      = LD(s->c.overflowed);
	st->cmd_rejected    = LD(s->c.cmd_rejected);
	st->cmd_failed      = LD(s->c.cmd_failed);
	st->send_errors     = LD(s->c.send_errors);

	redum_fifo_stats(stack->cmdq, &st->cmd_fifo);

	st->tu_fifos.enqueued      = LD(s->tus_enq);
	st->tu_fifos.dequeued      = LD(s->tus_deq);
	st->tu_fifos.rejected_full = LD(s->tus_full);
	st->tu_fifos.depth         = (uint32_t)LD(s->tus_depth);
	st->tu_fifos.high_water    = (uint32_t)LD(s->tus_hw);
	st->tu_fifos.capacity      = (uint32_t)LD(s->tus_cap);
}


static int pr(struct re_printf *pf, const char *name, uint64_t v)
{
	return v ? re_hprintf(pf, "%s %llu\n", name, (unsigned long long)v)
		 : 0;
}


int redum_stack_stats_print(struct re_printf *pf,
			    const struct redum_stack_stats *st)
{
	char name[64];
	int err = 0;

	if (!st)
		return EINVAL;

	err |= pr(pf, "strans_alive", st->strans_alive);
	err |= pr(pf, "ctrans_alive", st->ctrans_alive);
	err |= pr(pf, "dialogs_alive", st->dialogs_alive);
	err |= pr(pf, "tus", st->tus);
	for (int i = 0; i < REDUM_STACK_M_COUNT; i++) {
		re_snprintf(name, sizeof(name), "req_in.%s",
			    method_names[i]);
		err |= pr(pf, name, st->req_in[i]);
		re_snprintf(name, sizeof(name), "req_out.%s",
			    method_names[i]);
		err |= pr(pf, name, st->req_out[i]);
	}
	for (int i = 0; i < 6; i++) {
		re_snprintf(name, sizeof(name), "resp_in.%dxx", i + 1);
		err |= pr(pf, name, st->resp_in[i]);
		re_snprintf(name, sizeof(name), "resp_out.%dxx", i + 1);
		err |= pr(pf, name, st->resp_out[i]);
	}
	err |= pr(pf, "retx_2xx", st->retx_2xx);
	err |= pr(pf, "invite_absorbed", st->invite_absorbed);
	err |= pr(pf, "ack_retx", st->ack_retx);
	err |= pr(pf, "acks", st->acks);
	err |= pr(pf, "accepted_ended", st->accepted_ended);
	err |= pr(pf, "done_kept", st->done_kept);
	err |= pr(pf, "done_absorbed", st->done_absorbed);
	err |= pr(pf, "ack_timeouts", st->ack_timeouts);
	err |= pr(pf, "forks", st->forks);
	err |= pr(pf, "fork_absorbed", st->fork_absorbed);
	err |= pr(pf, "fork_late", st->fork_late);
	err |= pr(pf, "unclaimed", st->unclaimed);
	err |= pr(pf, "malformed", st->malformed);
	err |= pr(pf, "busy_503", st->busy_503);
	err |= pr(pf, "shed_503", st->shed_503);
	err |= pr(pf, "shed_late", st->shed_late);
	err |= pr(pf, "overloads", st->overloads);
	err |= pr(pf, "rx_drops", st->rx_drops);
	err |= pr(pf, "rx_wakes", st->rx_wakes);
	err |= pr(pf, "rx_calls", st->rx_calls);
	err |= pr(pf, "rx_dgrams", st->rx_dgrams);
	err |= pr(pf, "req_rx", st->req_rx);
	err |= pr(pf, "resp_rx", st->resp_rx);
	err |= pr(pf, "req_absorbed", st->req_absorbed);
	err |= pr(pf, "tx_calls", st->tx_calls);
	err |= pr(pf, "tx_dgrams", st->tx_dgrams);
	err |= pr(pf, "tx_errors", st->tx_errors);
	err |= pr(pf, "retx_req", st->retx_req);
	err |= pr(pf, "retx_final", st->retx_final);
	err |= pr(pf, "overflowed", st->overflowed);
	err |= pr(pf, "cmd_rejected", st->cmd_rejected);
	err |= pr(pf, "cmd_failed", st->cmd_failed);
	err |= pr(pf, "send_errors", st->send_errors);
	err |= pr(pf, "cmd_fifo.enqueued", st->cmd_fifo.enqueued);
	err |= pr(pf, "cmd_fifo.rejected_full", st->cmd_fifo.rejected_full);
	err |= pr(pf, "cmd_fifo.high_water", st->cmd_fifo.high_water);
	err |= pr(pf, "cmd_fifo.wakes", st->cmd_fifo.wakes);
	err |= pr(pf, "tu_fifos.enqueued", st->tu_fifos.enqueued);
	err |= pr(pf, "tu_fifos.rejected_full", st->tu_fifos.rejected_full);
	err |= pr(pf, "tu_fifos.high_water", st->tu_fifos.high_water);

	return err;
}


/* ---- TU handles --------------------------------------------------------- */

static void tu_msg_handler(void *msg, void *arg)
{
	struct redum_stack_tu *tu = arg;

	if (tu->eventh)
		tu->eventh(tu, msg, tu->arg);
	else
		redum_stack_event_release(tu, msg);
}


/* TransactionUserRemoved. The stack notices the FIFO finished on its next
 * tick and frees the record and the FIFO; the handle is the TU's. */
static void tu_close_handler(void *arg)
{
	struct redum_stack_tu *tu = arg;

	if (tu->removedh)
		tu->removedh(tu, tu->arg);

	atomic_store_explicit(&tu->removed, true, memory_order_release);
}


int redum_stack_tu_alloc(struct redum_stack_tu **tup,
			 struct redum_stack *stack,
			 const struct redum_stack_tu_conf *conf)
{
	struct redum_stack_tu *tu;
	struct tu_rec *rec;
	struct cmd *cmd;
	int err;

	if (!tup || !stack || !conf)
		return EINVAL;

	tu  = calloc(1, sizeof(*tu));
	rec = calloc(1, sizeof(*rec));
	cmd = calloc(1, sizeof(*cmd));
	if (!tu || !rec || !cmd) {
		err = ENOMEM;
		goto out;
	}

	err = redum_fifo_alloc(&tu->fifo, REDUM_FIFO_SPSC,
			       conf->capacity ? conf->capacity :
			       DEFAULT_CAPACITY);
	if (err)
		goto out;

	tu->stack    = stack;
	tu->rec      = rec;
	tu->id       = atomic_fetch_add(&stack->next_tu_id, 1) + 1;
	tu->eventh   = conf->eventh;
	tu->removedh = conf->removedh;
	tu->arg      = conf->arg;

	rec->id      = tu->id;
	rec->methods = conf->methods;
	rec->fifo    = tu->fifo;
	if (conf->name)
		str_ncpy(rec->name, conf->name, sizeof(rec->name));

	cmd->type = CMD_TU_ADD;
	cmd->rec  = rec;

	err = redum_fifo_push(stack->cmdq, cmd);
	if (err)
		goto out;

	*tup = tu;
	return 0;

 out:
	if (tu)
		(void)redum_fifo_free(tu->fifo);  /* never attached, empty */
	free(tu);
	free(rec);
	free(cmd);
	return err;
}


int redum_stack_tu_attach(struct redum_stack_tu *tu, bool manual,
			  uint32_t batch)
{
	if (!tu)
		return EINVAL;

	if (manual)
		return redum_fifo_attach_manual(tu->fifo, tu_msg_handler,
						tu_close_handler, tu, batch);

	return redum_fifo_attach(tu->fifo, tu_msg_handler, tu_close_handler,
				 tu, batch);
}


int redum_stack_tu_fd(const struct redum_stack_tu *tu)
{
	return tu ? redum_fifo_fd(tu->fifo) : -1;
}


uint32_t redum_stack_tu_drain(struct redum_stack_tu *tu)
{
	return tu ? redum_fifo_drain(tu->fifo) : 0;
}


bool redum_stack_tu_finished(const struct redum_stack_tu *tu)
{
	return tu ? atomic_load_explicit(&tu->removed, memory_order_acquire)
		  : false;
}


int redum_stack_tu_remove(struct redum_stack_tu *tu, bool graceful)
{
	int want = graceful ? 1 : 2;
	int cur;

	if (!tu)
		return EINVAL;

	cur = atomic_load(&tu->rec->remove_req);
	do {
		if (cur >= want)
			return EALREADY;
	} while (!atomic_compare_exchange_weak(&tu->rec->remove_req, &cur,
					       want));

	stack_wake(tu->stack);

	return 0;
}


int redum_stack_tu_free(struct redum_stack_tu *tu)
{
	if (!tu)
		return 0;

	if (!atomic_load_explicit(&tu->removed, memory_order_acquire))
		return EBUSY;

	free(tu);
	return 0;
}


void redum_stack_tu_fifo_stats(const struct redum_stack_tu *tu,
			       struct redum_fifo_stats *st)
{
	/* before TransactionUserRemoved only: the stack frees the FIFO */
	if (tu && st && !redum_stack_tu_finished(tu))
		redum_fifo_stats(tu->fifo, st);
}


/* ---- commands ------------------------------------------------------------ */

/* One allocation: the struct, then the strings and the body. */
static struct cmd *cmd_alloc(enum cmd_type type, const struct redum_stack_tu *tu,
			     const char *s0, const char *s1, const char *s2,
			     const char *s3, const char *hdrs,
			     const void *body, size_t body_len)
{
	const char *sv[5] = {s0, s1, s2, s3, hdrs};
	size_t lv[5], sz = 0;
	struct cmd *cmd;
	char *p;

	for (int i = 0; i < 5; i++) {
		lv[i] = sv[i] ? strlen(sv[i]) + 1 : 0;
		sz += lv[i];
	}
	if (body && body_len)
		sz += body_len;

	cmd = malloc(sizeof(*cmd) + sz);
	if (!cmd)
		return NULL;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type  = type;
	cmd->tu_id = tu->id;

	p = cmd->data;
	for (int i = 0; i < 5; i++) {
		const char **dst = i < 4 ? &cmd->s[i] : &cmd->hdrs;
		if (!sv[i])
			continue;
		memcpy(p, sv[i], lv[i]);
		*dst = p;
		p += lv[i];
	}
	if (body && body_len) {
		memcpy(p, body, body_len);
		cmd->body = p;
		cmd->body_len = body_len;
	}

	return cmd;
}


static int cmd_send(const struct redum_stack_tu *tu, struct cmd *cmd)
{
	int err;

	if (!cmd)
		return ENOMEM;

	err = redum_fifo_push(tu->stack->cmdq, cmd);
	if (err)
		free(cmd);

	return err;
}


int redum_stack_reply_dlg(struct redum_stack_tu *tu, uint64_t id,
			  uint64_t dlg, uint16_t scode, const char *reason,
			  uint32_t flags, const char *hdrs, const void *body,
			  size_t body_len)
{
	struct cmd *cmd;

	if (!tu || !id || scode < 100 || scode > 699 || !reason)
		return EINVAL;
	if (!dlg && (flags & (REDUM_STACK_F_DLG_ACCEPT |
			      REDUM_STACK_F_DLG_DESTROY)))
		return EINVAL;

	cmd = cmd_alloc(CMD_REPLY, tu, reason, NULL, NULL, NULL, hdrs, body,
			body_len);
	if (cmd) {
		cmd->id = id;
		cmd->id2 = dlg;
		cmd->scode = scode;
		cmd->flags = flags;
	}

	return cmd_send(tu, cmd);
}


int redum_stack_reply(struct redum_stack_tu *tu, uint64_t id, uint16_t scode,
		      const char *reason, uint32_t flags, const char *hdrs,
		      const void *body, size_t body_len)
{
	return redum_stack_reply_dlg(tu, id, 0, scode, reason,
				     flags & ~(uint32_t)(REDUM_STACK_F_DLG_ACCEPT |
						   REDUM_STACK_F_DLG_DESTROY),
				     hdrs, body, body_len);
}


int redum_stack_srv_release(struct redum_stack_tu *tu, uint64_t id)
{
	struct cmd *cmd;

	if (!tu || !id)
		return EINVAL;

	cmd = cmd_alloc(CMD_SRV_RELEASE, tu, NULL, NULL, NULL, NULL, NULL,
			NULL, 0);
	if (cmd)
		cmd->id = id;

	return cmd_send(tu, cmd);
}


int redum_stack_request(struct redum_stack_tu *tu, uint64_t token,
			uint32_t flags, const char *method, const char *uri,
			const char *route, const char *hdrs,
			const void *body, size_t body_len)
{
	struct cmd *cmd;

	if (!tu || !method || !uri || !hdrs || !str_casecmp(method, "ACK") ||
	    !str_casecmp(method, "CANCEL"))
		return EINVAL;

	cmd = cmd_alloc(CMD_REQUEST, tu, method, uri, route, NULL, hdrs,
			body, body_len);
	if (cmd) {
		cmd->id = token;
		cmd->flags = flags;
	}

	return cmd_send(tu, cmd);
}


int redum_stack_drequest(struct redum_stack_tu *tu, uint64_t token,
			 uint64_t dlg, uint32_t flags, const char *method,
			 const char *hdrs, const void *body, size_t body_len)
{
	struct cmd *cmd;

	if (!tu || !dlg || !method || !str_casecmp(method, "ACK") ||
	    !str_casecmp(method, "CANCEL"))
		return EINVAL;

	cmd = cmd_alloc(CMD_DREQUEST, tu, method, NULL, NULL, NULL, hdrs,
			body, body_len);
	if (cmd) {
		cmd->id = token;
		cmd->id2 = dlg;
		cmd->flags = flags;
	}

	return cmd_send(tu, cmd);
}


int redum_stack_ack(struct redum_stack_tu *tu, uint64_t dlg, uint32_t cseq,
		    const char *hdrs, const void *body, size_t body_len)
{
	struct cmd *cmd;

	if (!tu || !dlg)
		return EINVAL;

	cmd = cmd_alloc(CMD_ACK, tu, NULL, NULL, NULL, NULL, hdrs, body,
			body_len);
	if (cmd) {
		cmd->id2 = dlg;
		cmd->cseq = cseq;
	}

	return cmd_send(tu, cmd);
}


int redum_stack_cancel(struct redum_stack_tu *tu, uint64_t token)
{
	struct cmd *cmd;

	if (!tu)
		return EINVAL;

	cmd = cmd_alloc(CMD_CANCEL, tu, NULL, NULL, NULL, NULL, NULL, NULL, 0);
	if (cmd)
		cmd->id = token;

	return cmd_send(tu, cmd);
}


int redum_stack_dlg_alloc(struct redum_stack_tu *tu, uint64_t dlg,
			  const char *uri, const char *to_uri,
			  const char *from_name, const char *from_uri)
{
	return redum_stack_dlg_alloc_route(tu, dlg, uri, to_uri, from_name,
					   from_uri, NULL);
}


int redum_stack_dlg_alloc_route(struct redum_stack_tu *tu, uint64_t dlg,
				const char *uri, const char *to_uri,
				const char *from_name, const char *from_uri,
				const char *route)
{
	struct cmd *cmd;

	if (!tu || !dlg || !uri || !to_uri || !from_uri)
		return EINVAL;

	/* the route rides in the hdrs slot (no headers for this command) */
	cmd = cmd_alloc(CMD_DLG_ALLOC, tu, uri, to_uri, from_name, from_uri,
			route, NULL, 0);
	if (cmd)
		cmd->id2 = dlg;

	return cmd_send(tu, cmd);
}


/* A command about dialog @p dlg and server transaction @p srv. */
static int dlg_srv_cmd(struct redum_stack_tu *tu, enum cmd_type type,
		       uint64_t dlg, uint64_t srv)
{
	struct cmd *cmd;

	if (!tu || !dlg || !srv)
		return EINVAL;

	cmd = cmd_alloc(type, tu, NULL, NULL, NULL, NULL, NULL, NULL, 0);
	if (cmd) {
		cmd->id2 = dlg;
		cmd->id = srv;
	}

	return cmd_send(tu, cmd);
}


int redum_stack_dlg_accept(struct redum_stack_tu *tu, uint64_t dlg,
			   uint64_t srv)
{
	return dlg_srv_cmd(tu, CMD_DLG_ACCEPT, dlg, srv);
}


int redum_stack_dlg_create_srv(struct redum_stack_tu *tu, uint64_t dlg,
			       uint64_t srv)
{
	return dlg_srv_cmd(tu, CMD_DLG_CREATE_SRV, dlg, srv);
}


static int dlg_ev_cmd(struct redum_stack_tu *tu, enum cmd_type type,
		      uint64_t dlg, uint64_t odlg,
		      struct redum_stack_event *ev)
{
	struct cmd *cmd;
	int err;

	if (!tu || !dlg || !ev || !ev->ref)
		return EINVAL;

	cmd = cmd_alloc(type, tu, NULL, NULL, NULL, NULL, NULL, NULL, 0);
	if (!cmd)
		return ENOMEM;

	cmd->id2 = dlg;
	cmd->id  = odlg;
	cmd->ev  = ev;

	err = redum_fifo_push(tu->stack->cmdq, cmd);
	if (err)
		free(cmd);  /* the event stays the caller's */

	return err;
}


int redum_stack_dlg_create(struct redum_stack_tu *tu, uint64_t dlg,
			   struct redum_stack_event *ev)
{
	return dlg_ev_cmd(tu, CMD_DLG_CREATE, dlg, 0, ev);
}


int redum_stack_dlg_fork(struct redum_stack_tu *tu, uint64_t dlg,
			 uint64_t odlg, struct redum_stack_event *ev)
{
	if (!odlg)
		return EINVAL;

	return dlg_ev_cmd(tu, CMD_DLG_FORK, dlg, odlg, ev);
}


int redum_stack_dlg_destroy(struct redum_stack_tu *tu, uint64_t dlg)
{
	struct cmd *cmd;

	if (!tu || !dlg)
		return EINVAL;

	cmd = cmd_alloc(CMD_DLG_DESTROY, tu, NULL, NULL, NULL, NULL, NULL,
			NULL, 0);
	if (cmd)
		cmd->id2 = dlg;

	return cmd_send(tu, cmd);
}
