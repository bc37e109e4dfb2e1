/**
 * @file stack_int.h  Internals of the stack thread (stack/ only)
 *
 * Field ownership is marked per block: [imm] immutable after publication,
 * [st] stack thread only, [tu] the TU's thread only, [atomic] any thread.
 */
#ifndef REDUM_STACK_INT_H
#define REDUM_STACK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <redum/stack.h>

#ifdef REDUM_DEBUG_OWNERSHIP
#include <assert.h>
/** At entry of every function that touches stack-owned objects. */
#define STACK_OWNED(s) \
	assert(pthread_equal(pthread_self(), (s)->owner))
#else
#define STACK_OWNED(s) ((void)(s))
#endif

/* Counters: one writer (the stack thread), readers anywhere. */
#define CNT_ADD(c, n) atomic_store_explicit(&(c), \
	atomic_load_explicit(&(c), memory_order_relaxed) + (n), \
	memory_order_relaxed)
#define CNT_INC(c) CNT_ADD(c, 1)
#define CNT_DEC(c) CNT_ADD(c, (uint64_t)-1)

struct counters {
	_Atomic uint64_t strans_alive, ctrans_alive, dialogs_alive, tus;
	_Atomic uint64_t req_in[REDUM_STACK_M_COUNT];
	_Atomic uint64_t req_out[REDUM_STACK_M_COUNT];
	_Atomic uint64_t resp_in[6], resp_out[6];
	_Atomic uint64_t retx_2xx, invite_absorbed, ack_retx, acks;
	_Atomic uint64_t accepted_ended, done_kept, done_absorbed;
	_Atomic uint64_t ack_timeouts, unclaimed, busy_503, overflowed;
	_Atomic uint64_t forks, fork_absorbed, fork_late;
	_Atomic uint64_t shed_503, shed_late, overloads, rx_drops;
	_Atomic uint64_t rx_wakes, rx_calls, rx_dgrams; /* udp_batch.c  */
	_Atomic uint64_t req_rx, resp_rx;   /* stack.c rx_trace: every message
					      libre decoded */
	_Atomic uint64_t tx_calls, tx_dgrams, tx_errors; /* udp_batch.c */
	_Atomic uint64_t retx_req, retx_final;          /* udp_batch.c */
	_Atomic uint64_t cmd_rejected, cmd_failed, send_errors;
	_Atomic uint64_t malformed;                     /* srv.c req_check */
};

enum cmd_type {
	CMD_WAKE = 0,
	CMD_TU_ADD,
	CMD_REPLY,
	CMD_SRV_RELEASE,
	CMD_REQUEST,
	CMD_DREQUEST,
	CMD_ACK,
	CMD_CANCEL,
	CMD_DLG_ALLOC,
	CMD_DLG_ACCEPT,
	CMD_DLG_CREATE,
	CMD_DLG_FORK,
	CMD_DLG_DESTROY,
	CMD_DLG_CREATE_SRV,
	CMD_STALL,
};

struct tu_rec;

/** A command: one allocation, strings packed in data[]. */
struct cmd {
	enum cmd_type type;
	uint32_t tu_id;          /* commands name their TU by id: a TU gone
				    meanwhile is detected, not dereferenced */
	struct tu_rec *rec;      /* CMD_TU_ADD only                        */
	uint64_t id, id2;
	uint32_t flags, cseq;
	uint16_t scode;
	bool embedded;           /* part of another object: do not free    */
	struct redum_stack_event *ev;
	const char *s[4];        /* method/reason, uri, route/to, from/... */
	const char *hdrs;
	const void *body;
	size_t body_len;
	char data[];
};

/** Stack-side record of a TU (freed by the stack once its FIFO finished). */
struct tu_rec {
	struct le le;            /* [st] stack->tul or stack->closedl      */
	uint32_t id;             /* [imm] */
	uint32_t methods;        /* [imm] */
	struct redum_fifo *fifo; /* [imm] producer side; [st] until close  */
	char name[32];           /* [imm] */
	_Atomic int remove_req;  /* [atomic] 0, 1 graceful, 2 abandon      */
	/* [st] */
	int state;               /* TU_ACTIVE, TU_LEAVING, TU_CLOSED       */
	uint64_t deadline;       /* graceful removal bound (tmr_jiffies)   */
	struct list srvl, clil, dlgl, orphl;
	struct redum_stack_event *ovf_head, *ovf_tail;
	bool wake_pending;       /* pushed without doorbell (stack_tu_push) */
};

enum { TU_ACTIVE = 0, TU_LEAVING, TU_CLOSED };

/** The user's handle of a TU. */
struct redum_stack_tu {
	struct redum_stack *stack;   /* [imm] */
	struct tu_rec *rec;          /* [imm]; the stack frees it          */
	struct redum_fifo *fifo;     /* [imm]; the stack frees it after
					TransactionUserRemoved            */
	_Atomic bool removed;        /* the removed handler has returned   */
	uint32_t id;                 /* [imm] */
	redum_stack_event_h *eventh; /* [imm] */
	redum_stack_removed_h *removedh;
	void *arg;
};

struct redum_stack {
	/* [imm] after start */
	struct redum_stack_conf conf;
	char *software, *tls_cert;
	pthread_t thread;
	pthread_t owner;
	struct redum_fifo *cmdq;
	struct redum_stack_listen bound[REDUM_STACK_MAX_LISTEN];
	int udp_fd[REDUM_STACK_MAX_LISTEN];
	uint32_t boundc;

	/* start hand-shake */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool started;
	int start_err;

	/* [atomic] */
	struct counters c;
	_Atomic int stop_req;            /* 0, 1 graceful, 2 force         */
	_Atomic uint32_t next_tu_id;
	_Atomic(struct redum_stack_event *) relq; /* released views        */
	_Atomic bool joined;
	_Atomic uint64_t tus_enq, tus_deq, tus_full, tus_depth, tus_hw;
	_Atomic uint64_t tus_cap;             /* TU FIFO figures, per tick  */

	/* [st] */
	struct sip *sip;
	struct sip_lsnr *lsnr_req, *lsnr_resp;
	struct tls *tls;
	struct udp_batch *ub;            /* batched UDP receive (udp_batch.c) */
	struct list tul, closedl;
	struct hash *ht_srv, *ht_acc, *ht_cli, *ht_dlg, *ht_dlgcid;
	struct hash *ht_done;            /* done.c: completed non-INVITE    */
	struct list donel;               /* done.c: the same, oldest first  */
	uint64_t next_srv;
	void *rxsz_set[REDUM_STACK_MAX_LISTEN]; /* UDP socks already sized  */
	struct tmr tmr_tick, tmr_force;
	int stop_mode;                   /* applied stop_req                */
	bool sip_closed, sip_exited, cmdq_closed;
	bool overloaded;                 /* shedding new requests           */
	uint64_t late_since;             /* requests late since (0: not)    */
	uint64_t late_last;              /* the last late request read      */
	uint32_t defer_wake;             /* inside a receive batch          */
	bool wake_pending;               /* some rec->wake_pending          */
};

/* stack.c */
int  stack_push_cmd(struct redum_stack *stack, struct cmd *cmd);
void stack_post(struct redum_stack *stack, struct tu_rec *rec,
		struct redum_stack_event *ev);
struct redum_stack_event *stack_ev_alloc(enum redum_stack_ev_type type,
					 uint64_t id, uint64_t dlg, int err);
void stack_ev_free(struct redum_stack_event *ev);
int  stack_tu_push(struct redum_stack *stack, struct tu_rec *rec,
		   struct redum_stack_event *ev);
void stack_wake_flush(struct redum_stack *stack);
void stack_wake(struct redum_stack *stack);

/* srv.c: server transactions, 2xx reliability, routing of requests */
bool srv_request_handler(const struct sip_msg *msg, void *arg);
void srv_cmd_reply(struct redum_stack *stack, struct tu_rec *rec,
		   struct cmd *cmd);
void srv_cmd_release(struct redum_stack *stack, struct tu_rec *rec,
		     struct cmd *cmd);
const struct sip_msg *srv_lookup_msg(struct redum_stack *stack,
				     struct tu_rec *rec, uint64_t id,
				     uint64_t dlg);
void srv_abandon(struct redum_stack *stack, struct tu_rec *rec);
void srv_free_orphans(struct redum_stack *stack, struct tu_rec *rec);
void stack_reply_busy(struct redum_stack *stack, const struct sip_msg *msg,
		      struct sip_strans **stp);

void srv_reply_dst(struct sa *dst, const struct sip_msg *req);

/* done.c: completed non-INVITE server transactions on UDP, compact */
int  done_add(struct redum_stack *stack, const struct sip_msg *req,
	      const struct mbuf *rsp);
bool done_absorb(struct redum_stack *stack, const struct sip_msg *msg);
void done_expire(struct redum_stack *stack);

/* cli.c: client transactions and dialogs */
bool cli_response_handler(const struct sip_msg *msg, void *arg);
void cli_cmd(struct redum_stack *stack, struct tu_rec *rec, struct cmd *cmd);
void cli_abandon(struct redum_stack *stack, struct tu_rec *rec);
void dlg_flush(struct redum_stack *stack, struct tu_rec *rec);
struct tu_rec *dlg_route(struct redum_stack *stack, const struct sip_msg *msg,
			 uint64_t *dlgid);
int  dlg_accept_msg(struct redum_stack *stack, struct tu_rec *rec,
		    uint64_t id, const struct sip_msg *msg);
bool dlg_uas_dup(struct redum_stack *stack, const struct sip_msg *msg);
bool dlg_uas_made_by(struct redum_stack *stack, const struct tu_rec *rec,
		     uint64_t id, const struct sip_msg *req);
int  dlg_destroy_id(struct redum_stack *stack, struct tu_rec *rec,
		    uint64_t id);

/* sock.c */
struct fdset;
int  sock_snapshot(struct fdset **setp);
int  sock_find_new(const struct fdset *before, int type,
		   const struct sa *want, const struct sa *exclude,
		   uint32_t exclc, struct sa *bound);
void sock_bufsize(int fd, uint32_t rcv, uint32_t snd);
int  sock_rxfill(int fd, uint32_t *pct, uint32_t *drops);

#endif
