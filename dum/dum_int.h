/**
 * @file dum_int.h  Internals of the DUM (dum/ only): the usage framework
 *
 * Field ownership per block: [imm] immutable after publication, [dum] DUM
 * thread only, [app] application thread only, [atomic] any thread.
 *
 * How a usage plugs in (registrations, subscriptions... of later issues):
 *  1. a `struct dum_class` with its type, state names, the in-dialog
 *     methods it takes and its handlers (request, response, server
 *     transaction events, commands, end, destroy);
 *  2. a usage struct that starts with `struct dum_usage` (allocated with
 *     dum_usage_alloc(), which issues the handle and files it);
 *  3. new requests: dum_route_method() routes an out-of-dialog method to a
 *     function that creates the usage; commands: a `dum_cmd_type` handled
 *     in dum.c's cmd_handler (creating commands) or by cls->command
 *     (commands on a handle, found by the framework);
 *  4. transactions: dum_ct_new() / dum_st_new() file a client token / a
 *     server transaction id under the usage, so the framework routes the
 *     stack's events for them back to the usage's class;
 *  5. dialogs: dum_dlg_new() gives a dialog id for the stack; in-dialog
 *     requests are routed to the dialog's usage whose cls->dlg_methods has
 *     the method.
 */
#ifndef REDUM_DUM_INT_H
#define REDUM_DUM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <re.h>
#include <redum/dum.h>

#ifdef REDUM_DEBUG_OWNERSHIP
#include <assert.h>
#define DUM_OWNED(d) assert(pthread_equal(pthread_self(), (d)->owner))
#else
#define DUM_OWNED(d) ((void)(d))
#endif

/* Counters with one writer (the DUM thread), readers anywhere. */
#define DCNT_ADD(c, n) atomic_store_explicit(&(c), \
	atomic_load_explicit(&(c), memory_order_relaxed) + (n), \
	memory_order_relaxed)
#define DCNT_INC(c) DCNT_ADD(c, 1)
#define DCNT_DEC(c) DCNT_ADD(c, (uint64_t)-1)

/* Tokens of our client transactions have bit 63 set, so that the stack's
 * CMD_FAILED id (token or server id) is unambiguous. */
#define DUM_TOKEN_BIT (1ULL << 63)

/* ---- commands (application -> DUM) ------------------------------------- */

enum dum_cmd_type {
	DCMD_WAKE = 0,     /* stop flag: look at the flags                */
	DCMD_CALL,
	DCMD_ANSWER,
	DCMD_REJECT,
	DCMD_END,
	DCMD_INFO,
	DCMD_REINVITE,
	DCMD_OPTIONS,
	DCMD_REQUEST,
	DCMD_RESPOND,
	DCMD_REGISTER,     /* reg_client.c: creates a registration       */
	DCMD_UNREGISTER,   /* reg_client.c: on a registration's handle   */
	DCMD_REG_LOOKUP,   /* registrar.c: bindings of an AOR            */
	DCMD_SUBSCRIBE,    /* sub_client.c: creates a client subscription */
	DCMD_PUBLISH,      /* publication.c: creates a client publication */
	DCMD_MESSAGE,      /* pager.c: creates a pager message            */
	DCMD_UNSUBSCRIBE,  /* sub_client.c: on a subscription's handle   */
	DCMD_SUB_ACCEPT,   /* sub_server.c: on a server subscription      */
	DCMD_SUB_REJECT,
	DCMD_SUB_NOTIFY,
	DCMD_SUB_TERMINATE,
	DCMD_PUB_MODIFY,   /* publication.c: on a publication's handle   */
	DCMD_PUB_REMOVE,
};

/** A command: one malloc, strings and body packed in data[]. */
struct dum_cmd {
	enum dum_cmd_type type;
	redum_dum_handle h;
	uint16_t scode;
	bool embedded;       /* part of the dum: never freed            */
	const char *method, *uri, *to, *from, *from_name, *route, *hdrs;
	const char *ctype, *reason;
	const void *body;
	size_t body_len;
	char data[];
};

/** A command in one malloc: @p s's strings (method ... reason; NULL stays
 *  NULL) and @p body (NUL-terminated) are copied into data[]; the other
 *  fields of @p s are not read. @return the command, or NULL (ENOMEM).
 *  Thread: any. */
struct dum_cmd *dum_cmd_new(enum dum_cmd_type type, redum_dum_handle h,
			    const struct dum_cmd *s, const void *body,
			    size_t body_len);

/** Posts @p cmd on DUM's command FIFO (counted: commands_posted, or
 *  commands_rejected and @p cmd freed). NULL @p cmd (a failed
 *  dum_cmd_new) gives ENOMEM. Thread: any. Lock-free.
 *  @return 0, ENOMEM, ENOSPC (full) or EPIPE (stopped) */
int dum_cmd_push(struct redum_dum *dum, struct dum_cmd *cmd);

/* ---- the usage framework ------------------------------------------------ */

struct redum_dum;
struct dum_usage;
struct dum_ct;
struct dum_st;

struct dum_class {
	enum redum_usage_type type;
	uint32_t nstates;
	const char *const *state_names;
	uint32_t dlg_methods;   /* in-dialog methods this usage takes       */
	/** A request for the usage: in-dialog (ev->dlg) or filed st. The
	 *  class answers it (view until the final reply) and releases ev. */
	void (*request)(struct dum_usage *u, struct redum_stack_event *ev);
	/** RESPONSE / CLI_ERROR / CMD_FAILED for one of its client tokens.
	 *  Releases ev (or consumes it with dlg_create/dlg_fork). */
	void (*response)(struct dum_usage *u, struct dum_ct *ct,
			 struct redum_stack_event *ev);
	/** CANCELLED / SRV_ERROR / ACK / ACK_TIMEOUT for a filed server
	 *  transaction, or CMD_FAILED naming it. Releases ev. */
	void (*srv_event)(struct dum_usage *u, struct dum_st *st,
			  struct redum_stack_event *ev);
	/** An application command on the usage's handle. */
	void (*command)(struct dum_usage *u, struct dum_cmd *cmd);
	/** DUM stops: end the usage as gracefully as the state allows. */
	void (*end)(struct dum_usage *u);
	/** The usage is being freed (release its own resources). */
	void (*destroy)(struct dum_usage *u);
};

/** Client transaction record: token -> usage. */
struct dum_ct {
	struct le he;           /* dum->ht_ct                              */
	struct le le;           /* u->ctl                                  */
	struct dum_usage *u;
	uint64_t token;
	int kind;               /* the class's purpose tag                 */
	bool keep;              /* survives a final response (INVITE: forks)*/
};

/** Server transaction record: stack server id -> usage. */
struct dum_st {
	struct le he;           /* dum->ht_st                              */
	struct le le;           /* u->stl                                  */
	struct dum_usage *u;
	uint64_t id;
	int kind;
	bool view;              /* we still hold its request view          */
};

/** A dialog known to the stack by id. */
struct dum_dlg {
	struct le he;           /* dum->ht_dlg                             */
	struct redum_dum *dum;
	uint64_t id;
	struct list usagel;     /* usages in this dialog (struct dum_usage) */
	bool in_stack;          /* the stack holds a dialog with this id   */
};

struct dum_usage {
	struct le he;           /* dum->ht_usage by handle                 */
	struct le le;           /* dum->usagel                             */
	struct le le_dlg;       /* dlg->usagel                             */
	const struct dum_class *cls;
	struct redum_dum *dum;
	redum_dum_handle h;
	int state;
	bool dead;              /* being freed                             */
	uint8_t shut_state;     /* shutdown.c: 1 asked to end, 2 forced   */
	uint64_t born;          /* dum_shut_now() at creation             */
	struct dum_dlg *dlg;    /* may be NULL                             */
	struct list ctl, stl;   /* its transactions                        */
};

/* ---- the stack as DUM sees it ------------------------------------------- */

/**
 * The stack functions DUM calls, through one table so that the invite state
 * machines can be tested in isolation (tests/dum/test_dum_fsm.c replaces it
 * with a recorder and feeds synthetic events). Process-wide; the real stack
 * unless a test says otherwise before allocating a DUM.
 */
struct dum_stack_ops {
	int (*tu_alloc)(struct redum_stack_tu **tup, struct redum_stack *stack,
			const struct redum_stack_tu_conf *conf);
	int (*tu_attach)(struct redum_stack_tu *tu, bool manual,
			 uint32_t batch);
	int (*tu_remove)(struct redum_stack_tu *tu, bool graceful);
	int (*tu_free)(struct redum_stack_tu *tu);
	void (*tu_fifo_stats)(const struct redum_stack_tu *tu,
			      struct redum_fifo_stats *st);
	void (*event_release)(struct redum_stack_tu *tu,
			      struct redum_stack_event *ev);
	int (*reply)(struct redum_stack_tu *tu, uint64_t id, uint16_t scode,
		     const char *reason, uint32_t flags, const char *hdrs,
		     const void *body, size_t body_len);
	int (*srv_release)(struct redum_stack_tu *tu, uint64_t id);
	int (*request)(struct redum_stack_tu *tu, uint64_t token,
		       uint32_t flags, const char *method, const char *uri,
		       const char *route, const char *hdrs, const void *body,
		       size_t body_len);
	int (*drequest)(struct redum_stack_tu *tu, uint64_t token,
			uint64_t dlg, uint32_t flags, const char *method,
			const char *hdrs, const void *body, size_t body_len);
	int (*ack)(struct redum_stack_tu *tu, uint64_t dlg, uint32_t cseq,
		   const char *hdrs, const void *body, size_t body_len);
	int (*cancel)(struct redum_stack_tu *tu, uint64_t token);
	int (*dlg_alloc)(struct redum_stack_tu *tu, uint64_t dlg,
			 const char *uri, const char *to_uri,
			 const char *from_name, const char *from_uri);
	int (*dlg_accept)(struct redum_stack_tu *tu, uint64_t dlg,
			  uint64_t srv);
	int (*dlg_create)(struct redum_stack_tu *tu, uint64_t dlg,
			  struct redum_stack_event *ev);
	int (*dlg_fork)(struct redum_stack_tu *tu, uint64_t dlg, uint64_t odlg,
			struct redum_stack_event *ev);
	int (*dlg_destroy)(struct redum_stack_tu *tu, uint64_t dlg);
	int (*dlg_alloc_route)(struct redum_stack_tu *tu, uint64_t dlg,
			       const char *uri, const char *to_uri,
			       const char *from_name, const char *from_uri,
			       const char *route);
	/* sub_client.c: a NOTIFY before the 2xx (NULL in the fsm fake) */
	int (*dlg_create_srv)(struct redum_stack_tu *tu, uint64_t dlg,
			      uint64_t srv);
};

extern const struct dum_stack_ops dum_stack_real;
extern const struct dum_stack_ops *dum_ops;

/* For the isolated tests: the TU's event and removed handlers. */
void dum_stack_event_handler(struct redum_stack_tu *tu,
			     struct redum_stack_event *ev, void *arg);
void dum_removed_handler(struct redum_stack_tu *tu, void *arg);

/* ---- the DUM ------------------------------------------------------------ */

struct dum_counters {
	_Atomic uint64_t usages[REDUM_USAGE_COUNT][REDUM_DUM_MAX_STATES];
	_Atomic uint64_t usages_created[REDUM_USAGE_COUNT];
	_Atomic uint64_t dialogs, handles, events_posted, events_overflowed;
	_Atomic uint64_t commands_posted, commands_rejected, commands_stale;
	_Atomic uint64_t busy_503, forks_ended, glare_491, stack_errors;
};

typedef void (dum_newreq_h)(struct redum_dum *dum,
			    struct redum_stack_event *ev);

enum dum_phase {
	PH_RUNNING = 0,
	PH_ENDING,       /* usages being ended, bounded by stop_ms        */
	PH_REMOVING,     /* TU removal asked, TransactionUserRemoved due   */
	PH_FINISHING,    /* command FIFO closed; app FIFO to close         */
	PH_DONE,
};

struct redum_dum {
	/* [imm] */
	struct redum_stack *stack;
	struct redum_stack_tu *tu;
	struct redum_fifo *cmdq;     /* app -> DUM, MPSC                    */
	struct redum_fifo *appq;     /* DUM -> app, SPSC                    */
	struct redum_dum_conf conf;
	struct redum_dum_handlers hd;
	char *allow, *accept;

	/* thread start */
	pthread_t thread;
	pthread_t owner;
	bool threaded;
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool ready;
	int start_err;

	/* [atomic] */
	_Atomic bool attached;
	_Atomic bool app_attached;
	_Atomic int stop_req;
	_Atomic uint64_t next_handle;
	_Atomic bool finished;        /* DUM side done (thread may end)     */
	struct dum_counters c;
	_Atomic uint32_t in_depth, in_hw;
	struct dum_cmd wake_cmd;      /* embedded, for stop                 */

	/* [dum] */
	struct hash *ht_usage, *ht_ct, *ht_st, *ht_dlg;
	struct list usagel;
	uint64_t next_token, next_dlg;
	dum_newreq_h *newreq[REDUM_STACK_M_COUNT];
	struct tmr tmr_tick, tmr_stop;
	enum dum_phase phase;
	struct redum_dum_event *ovf_head, *ovf_tail; /* app FIFO overflow  */
	uint32_t congestion_depth;
	struct dum_reg *reg;          /* registrar (registrar.c): conf [imm],
					 store [dum], counters [atomic]     */
	struct dum_subs *subs;        /* sub_*.c, publication.c, pager.c:
					 conf [imm], store [dum], counters
					 [atomic] (dum/sub_int.h)           */
	struct dum_shut *shut;        /* shutdown.c: request [mutex],
					 stages and report [dum]            */
	struct dum_creds *creds;      /* auth.c: conf.creds copied [imm]    */
};

/* dum.c: the framework */
struct dum_usage *dum_usage_alloc(struct redum_dum *dum, size_t size,
				  const struct dum_class *cls,
				  redum_dum_handle h, int state);
void dum_usage_set_state(struct dum_usage *u, int state);
void dum_usage_free(struct dum_usage *u);
struct dum_ct *dum_ct_new(struct dum_usage *u, int kind);
void dum_ct_free(struct dum_ct *ct);
struct dum_st *dum_st_new(struct dum_usage *u, uint64_t id, int kind);
void dum_st_free(struct dum_st *st);
struct dum_dlg *dum_dlg_new(struct dum_usage *u);
void dum_dlg_destroy(struct dum_usage *u);
void dum_route_method(struct redum_dum *dum, enum redum_stack_method m,
		      dum_newreq_h *h);
bool dum_congested(struct redum_dum *dum);
void dum_reply_503(struct redum_dum *dum, uint64_t srv);
void dum_stack_err(struct redum_dum *dum, int err);
uint64_t dum_new_handle(struct redum_dum *dum);
const char *dum_reason(uint16_t scode);

/* events to the application */
struct redum_dum_event *dum_ev_new(struct dum_usage *u,
				   enum redum_dum_ev_type type,
				   const struct sip_msg *msg);
struct redum_dum_event *dum_ev_new_h(struct redum_dum *dum,
				     enum redum_usage_type ut,
				     redum_dum_handle h,
				     enum redum_dum_ev_type type,
				     const struct sip_msg *msg);
void dum_ev_post(struct redum_dum *dum, struct redum_dum_event *ev);
void dum_post_error(struct redum_dum *dum, enum redum_usage_type ut,
		    redum_dum_handle h, int err);

/* invite.c */
extern const struct dum_class dum_invite_client_class;
extern const struct dum_class dum_invite_server_class;
void dum_invite_init(struct redum_dum *dum);
void dum_invite_call(struct redum_dum *dum, struct dum_cmd *cmd);

/* ood.c */
extern const struct dum_class dum_req_client_class;
extern const struct dum_class dum_req_server_class;
void dum_ood_init(struct redum_dum *dum);
void dum_ood_request(struct redum_dum *dum, struct dum_cmd *cmd);

/* reg_client.c, registrar.c (registrations; see dum/reg_int.h) */
struct dum_reg;
extern const struct dum_class dum_reg_client_class;
void dum_reg_client_new(struct redum_dum *dum, struct dum_cmd *cmd);
int  dum_registrar_alloc(struct redum_dum *dum,
			 const struct redum_dum_conf *conf);
void dum_registrar_init(struct redum_dum *dum);
void dum_registrar_lookup(struct redum_dum *dum, struct dum_cmd *cmd);
void dum_registrar_teardown(struct redum_dum *dum);
void dum_registrar_free(struct redum_dum *dum);
struct redum_dum_event *dum_ev_new_ext(struct redum_dum *dum,
				       enum redum_usage_type ut,
				       redum_dum_handle h,
				       enum redum_dum_ev_type type,
				       size_t extra, void **extp);

/* sub_client.c, sub_server.c, publication.c, pager.c (dum/sub_int.h) */
struct dum_subs;
const struct dum_class *dum_sub_class_of(enum redum_usage_type t);
int  dum_subs_alloc(struct redum_dum *dum, const struct redum_dum_conf *conf);
uint32_t dum_subs_methods(const struct redum_dum *dum);
void dum_subs_init(struct redum_dum *dum);
void dum_subs_create(struct redum_dum *dum, struct dum_cmd *cmd);
void dum_subs_teardown(struct redum_dum *dum);
void dum_subs_free(struct redum_dum *dum);

/* auth.c: the credential store of conf.creds (dum/reg_int.h has the
 * digest helpers that use it) */
struct dum_creds;
int  dum_creds_alloc(struct redum_dum *dum, const struct redum_dum_conf *conf);
void dum_creds_free(struct redum_dum *dum);

/* shutdown.c (the staged shutdown; docs/SHUTDOWN.md) */
struct dum_shut;
uint64_t dum_shut_now(void);
int  dum_shut_alloc(struct redum_dum *dum);
void dum_shut_free(struct redum_dum *dum);
void dum_shut_teardown(struct redum_dum *dum);
void dum_shut_check(struct redum_dum *dum);
void dum_shut_usage_gone(struct redum_dum *dum, bool was_asked);
void dum_shut_removing(struct redum_dum *dum);
void dum_shut_removed(struct redum_dum *dum);
void dum_shut_finished(struct redum_dum *dum);
void dum_shut_refused(struct redum_dum *dum);
void dum_shut_count_discard(struct redum_dum *dum);
void dum_shut_final_begin(struct redum_dum *dum);
void dum_shut_final_end(struct redum_dum *dum);
bool dum_shut_defer_free(struct redum_dum *dum);
/* dum.c: asks the stack to remove DUM (graceful or abandon) */
void dum_remove(struct redum_dum *dum, bool graceful);

/* Test hook: the invite state machine with the stack replaced (tests). */
#endif
