/**
 * @file dum.h  The Dialog Usage Manager: dialogs and usages as an actor
 *
 * DUM is a transaction user (TU) of the stack (include/redum/stack.h). It
 * owns dialog sets, dialogs and usages (invite sessions, out-of-dialog
 * requests; registrations, subscriptions, publications and pager plug in
 * later the same way) on ONE thread, the DUM thread, which is either
 *
 *  - its own thread: redum_dum_start() spawns it with its own libre loop
 *    (re_thread_init + re_main(NULL)), or
 *  - the embedding program's thread: redum_dum_attach() on a thread that
 *    runs a libre loop makes that loop drive DUM.
 *
 * Application threads talk to DUM only by messages:
 *
 *  - commands (make a call, answer, end, INFO, re-INVITE, OPTIONS, ...) go
 *    on DUM's command FIFO (MPSC) from ANY thread; every command function
 *    returns at once (0, or ENOSPC when the FIFO is full: nothing queued,
 *    never silent) and, where the command creates a usage, gives the new
 *    usage's handle back at once. What happens next comes back as events;
 *  - events come out on the application FIFO (SPSC, DUM the producer). The
 *    application thread drains it (redum_dum_app_attach() on its libre
 *    loop, or manual fd + redum_dum_app_drain()), and each event calls the
 *    handler the application registered for that usage type. Events hold
 *    COPIES of what the application needs (headers, body): no libre object
 *    ever crosses to the application.
 *
 * Handles: every usage is named by a redum_dum_handle, a 64-bit id that is
 * never reused. An application may keep a handle as long as it likes; a
 * command on a usage that has ended completes with a REDUM_DUM_EV_ERROR
 * event, err ENOENT (never an assertion, never a crash).
 *
 * See docs/DUM.md for the guide, with an example per usage.
 */
#ifndef REDUM_DUM_H
#define REDUM_DUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <redum/fifo.h>
#include <redum/stack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct redum_dum;
struct redum_reg_info;
struct redum_registrar_conf;
struct redum_sub_info;     /* include/redum/sub.h */
struct redum_sub_conf;

/** A usage's name: never reused within a DUM; 0 is "no usage". */
typedef uint64_t redum_dum_handle;

/** Usage types ("classes"). Types after REDUM_USAGE_REQUEST_SERVER are
 *  reserved for the usages of the next issue. */
enum redum_usage_type {
	REDUM_USAGE_NONE = 0,
	REDUM_USAGE_INVITE_CLIENT,   /**< a call we made (UAC)              */
	REDUM_USAGE_INVITE_SERVER,   /**< a call we received (UAS)          */
	REDUM_USAGE_REQUEST_CLIENT,  /**< an out-of-dialog request we sent
					  (OPTIONS or any non-INVITE)       */
	REDUM_USAGE_REQUEST_SERVER,  /**< an out-of-dialog request received  */
	REDUM_USAGE_REGISTRATION_CLIENT,
	REDUM_USAGE_REGISTRAR,
	REDUM_USAGE_SUBSCRIPTION_CLIENT,
	REDUM_USAGE_SUBSCRIPTION_SERVER,
	REDUM_USAGE_PUBLICATION_CLIENT,
	REDUM_USAGE_PUBLICATION_SERVER,
	REDUM_USAGE_PAGER,
	REDUM_USAGE_COUNT
};

/** States of an invite session (both sides share the in-dialog states). */
enum redum_invite_state {
	REDUM_INV_CALLING = 0,   /**< UAC: INVITE sent, nothing back yet     */
	REDUM_INV_EARLY,         /**< UAC: provisional received              */
	REDUM_INV_CANCELLING,    /**< UAC: CANCEL asked, final awaited        */
	REDUM_INV_OFFERED,       /**< UAS: on_new posted, app to answer       */
	REDUM_INV_PROCEEDING,    /**< UAS: provisional sent                   */
	REDUM_INV_ACCEPTED,      /**< UAS: 2xx sent, ACK awaited              */
	REDUM_INV_CONNECTED,     /**< both: confirmed dialog, idle            */
	REDUM_INV_REINVITE_SENT, /**< our re-INVITE (offer) pending           */
	REDUM_INV_REINVITE_RECEIVED, /**< peer's re-INVITE, app to answer     */
	REDUM_INV_REINVITE_ACK,  /**< we accepted a re-INVITE, ACK awaited    */
	REDUM_INV_GLARE_WAIT,    /**< our re-INVITE got 491: retry timer      */
	REDUM_INV_ANSWER_WAIT,   /**< UAC: the 2xx held the offer (our INVITE
				      had none); the ACK waits for the
				      application's answer                  */
	REDUM_INV_TERMINATING,   /**< BYE sent, response awaited              */
	REDUM_INV_STATE_COUNT
};

/** Out-of-dialog request usages (client and server). */
enum redum_req_state {
	REDUM_REQ_PENDING = 0,   /**< sent / received, final not yet          */
	REDUM_REQ_STATE_COUNT
};

/** Most states a usage type may have (for the counters). */
enum { REDUM_DUM_MAX_STATES = 16 };

/** Why an invite session ended (REDUM_DUM_EV_TERMINATED). */
enum redum_term_reason {
	REDUM_TERM_NONE = 0,
	REDUM_TERM_LOCAL_BYE,    /**< we ended it (BYE sent)                  */
	REDUM_TERM_REMOTE_BYE,   /**< the peer sent BYE                       */
	REDUM_TERM_REJECTED,     /**< final non-2xx to the initial INVITE:
				      received (UAC) or sent (UAS); scode    */
	REDUM_TERM_CANCELLED,    /**< CANCELled: by us (UAC) or the peer (UAS)*/
	REDUM_TERM_ACK_TIMEOUT,  /**< our 2xx was never ACKed: BYE sent       */
	REDUM_TERM_DIALOG_GONE,  /**< the peer answered 481/408 in dialog     */
	REDUM_TERM_ERROR,        /**< transaction or transport error (err)    */
	REDUM_TERM_SHUTDOWN,     /**< DUM stopped                             */
};

/** Event types. Which handler each one calls: see the handler tables. */
enum redum_dum_ev_type {
	REDUM_DUM_EV_NEW = 1,        /**< invite: incoming call (offer in msg) */
	REDUM_DUM_EV_PROVISIONAL,    /**< invite UAC: 1xx (101..199)          */
	REDUM_DUM_EV_CONNECTED,      /**< invite: dialog confirmed            */
	REDUM_DUM_EV_TERMINATED,     /**< invite: ended (reason, scode, err)  */
	REDUM_DUM_EV_FAILURE,        /**< invite UAC: non-2xx final or error  */
	REDUM_DUM_EV_OFFER,          /**< invite: peer's offer (re-INVITE)    */
	REDUM_DUM_EV_ANSWER,         /**< invite: peer's answer to our offer  */
	REDUM_DUM_EV_OFFER_REJECTED, /**< invite: our re-INVITE failed (scode)*/
	REDUM_DUM_EV_INFO,           /**< invite: INFO received (200 sent)    */
	REDUM_DUM_EV_INFO_RESPONSE,  /**< invite: final response to our INFO  */
	REDUM_DUM_EV_OPTIONS,        /**< OPTIONS received: answer it         */
	REDUM_DUM_EV_REQUEST,        /**< other request received: answer it   */
	REDUM_DUM_EV_RESPONSE,       /**< final response to our request       */
	REDUM_DUM_EV_ERROR,          /**< a command failed (err; ENOENT: the
					  handle names no live usage)       */
	/* registrations (include/redum/reg.h; details in ev->reg) */
	REDUM_DUM_EV_REGISTERED,     /**< reg: bound (or refreshed)           */
	REDUM_DUM_EV_REG_RETRYING,   /**< reg: failed, retry scheduled        */
	REDUM_DUM_EV_REG_FAILURE,    /**< reg: failed for good; usage ended   */
	REDUM_DUM_EV_UNREGISTERED,   /**< reg: unregistered/ended; usage gone */
	REDUM_DUM_EV_REG_BINDINGS,   /**< registrar: answer to a lookup       */
	/* subscriptions, publications, pager (include/redum/sub.h; details
	 * in ev->sub) */
	REDUM_DUM_EV_SUB_NEW,        /**< sub server: SUBSCRIBE to accept     */
	REDUM_DUM_EV_SUB_UPDATE,     /**< sub client: NOTIFY active/pending   */
	REDUM_DUM_EV_SUB_TERMINATED, /**< sub: ended; usage gone              */
	REDUM_DUM_EV_SUB_FAILURE,    /**< sub client: SUBSCRIBE failed; gone  */
	REDUM_DUM_EV_PUB_SUCCESS,    /**< pub client: 2xx (etag, expires)     */
	REDUM_DUM_EV_PUB_FAILURE,    /**< pub client: failed; usage gone      */
	REDUM_DUM_EV_PUB_REMOVED,    /**< pub client: removed; usage gone     */
	REDUM_DUM_EV_PUB_STATE,      /**< pub store: entry set/removed        */
	REDUM_DUM_EV_PAGER_MESSAGE,  /**< pager: MESSAGE received (200 sent)  */
	REDUM_DUM_EV_PAGER_RESULT,   /**< pager: final status of our MESSAGE  */
	REDUM_DUM_EV_COUNT
};

/** Copies of a SIP message's parts; strings NUL-terminated, "" if absent. */
struct redum_dum_msg {
	const char *method;     /**< request method, or CSeq method of a
				     response                               */
	uint16_t scode;         /**< response status (0 for a request)      */
	const char *reason;     /**< response reason phrase                 */
	const char *ruri;       /**< request URI                            */
	const char *from;       /**< From header value (with tag)           */
	const char *to;         /**< To header value (with tag, if any)     */
	const char *call_id;
	uint32_t cseq;
	const char *ctype;      /**< Content-Type "type/subtype", or ""      */
	const uint8_t *body;    /**< body bytes (NUL-terminated too), or NULL*/
	size_t body_len;
};

/** An event. Valid during the handler call only (copy what you keep). */
struct redum_dum_event {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h;          /**< the usage                           */
	redum_dum_handle related;    /**< a fork's original call, else 0      */
	int err;                     /**< errno value, 0 if none              */
	uint16_t scode;              /**< status the event is about, 0 if none*/
	enum redum_term_reason reason; /**< TERMINATED only                   */
	bool has_msg;                /**< msg holds a copied SIP message      */
	struct redum_dum_msg msg;
	const struct redum_reg_info *reg; /**< registration events: details
					       (include/redum/reg.h), else NULL */
	const struct redum_sub_info *sub; /**< subscription/publication/pager
					       events (include/redum/sub.h)  */
};

/** An event handler; runs on the application thread. */
typedef void (redum_dum_event_h)(struct redum_dum *dum,
				 const struct redum_dum_event *ev,
				 void *arg);

/** Invite sessions (both REDUM_USAGE_INVITE_CLIENT and _SERVER). */
struct redum_invite_handlers {
	redum_dum_event_h *on_new;         /**< NULL: DUM takes no calls (new
					        INVITEs are not routed to it:
					        the stack answers 501)        */
	redum_dum_event_h *on_provisional;
	redum_dum_event_h *on_connected;
	redum_dum_event_h *on_terminated;
	redum_dum_event_h *on_failure;
	redum_dum_event_h *on_offer;
	redum_dum_event_h *on_answer;
	redum_dum_event_h *on_offer_rejected;
	redum_dum_event_h *on_info;
	redum_dum_event_h *on_info_response;
};

/** Out-of-dialog requests (REDUM_USAGE_REQUEST_CLIENT and _SERVER). */
struct redum_request_handlers {
	/** NULL: DUM answers OPTIONS itself (200 with Allow and Accept);
	 *  set: the application answers with redum_dum_respond(). */
	redum_dum_event_h *on_options;
	/** NULL: DUM does not take other methods (the stack 501s them); set:
	 *  the methods in redum_dum_conf.methods come here, answered with
	 *  redum_dum_respond(). */
	redum_dum_event_h *on_request;
	redum_dum_event_h *on_response;
};

/** Registrations (include/redum/reg.h): the client usage and the
 *  registrar's lookup answers. */
struct redum_reg_handlers {
	redum_dum_event_h *on_registered;   /**< REGISTERED                  */
	redum_dum_event_h *on_retrying;     /**< REG_RETRYING                */
	redum_dum_event_h *on_failure;      /**< REG_FAILURE                 */
	redum_dum_event_h *on_unregistered; /**< UNREGISTERED                */
	redum_dum_event_h *on_bindings;     /**< REG_BINDINGS                */
};

/** Subscriptions, publications, pager (include/redum/sub.h). */
struct redum_sub_handlers {
	redum_dum_event_h *on_sub_new;        /**< NULL: SUBSCRIBE not taken
						   (unless presence_agent:
						   then accepted by DUM)   */
	redum_dum_event_h *on_sub_update;     /**< SUB_UPDATE              */
	redum_dum_event_h *on_sub_terminated; /**< SUB_TERMINATED          */
	redum_dum_event_h *on_sub_failure;    /**< SUB_FAILURE             */
	redum_dum_event_h *on_pub_success;    /**< PUB_SUCCESS             */
	redum_dum_event_h *on_pub_failure;    /**< PUB_FAILURE             */
	redum_dum_event_h *on_pub_removed;    /**< PUB_REMOVED             */
	redum_dum_event_h *on_pub_state;      /**< PUB_STATE (store)       */
	redum_dum_event_h *on_message;        /**< PAGER_MESSAGE           */
	redum_dum_event_h *on_message_result; /**< PAGER_RESULT            */
};

/** The application's handlers, fixed at redum_dum_alloc(). */
struct redum_dum_handlers {
	struct redum_invite_handlers invite;
	struct redum_request_handlers request;
	struct redum_reg_handlers reg;
	struct redum_sub_handlers sub;
	/** A command failed (REDUM_DUM_EV_ERROR), whatever the usage type. */
	redum_dum_event_h *on_error;
	/** The final message on the application FIFO, after every event: the
	 *  application may now redum_dum_free() (from any thread but the DUM
	 *  thread, e.g. after its loop returned). */
	void (*on_dum_can_be_deleted)(struct redum_dum *dum, void *arg);
	void *arg;
};

/** A digest credential for DUM's client requests (docs/DUM.md, "Digest
 *  authentication"). */
struct redum_dum_cred {
	const char *realm;          /**< realm it answers; NULL or "": any   */
	const char *user;
	const char *password;
};

/** DUM configuration; fill with redum_dum_conf_init() first. */
struct redum_dum_conf {
	const char *name;           /**< TU name for logs                     */
	uint32_t cmd_capacity;      /**< command FIFO (default 65536)         */
	uint32_t app_capacity;      /**< application FIFO (default 65536)     */
	uint32_t tu_capacity;       /**< inbound FIFO from the stack (65536)  */
	uint32_t batch;             /**< messages per wake (0: FIFO default)  */
	uint32_t congestion_pct;    /**< inbound depth in % of capacity above
				         which new dialog-creating requests
				         get 503 (default 80; 0 = never)     */
	uint32_t retry_after;       /**< Retry-After seconds of those (5)     */
	uint32_t methods;           /**< extra REDUM_STACK_MBIT() methods for
				         on_request (default MESSAGE)          */
	bool want_forks;            /**< keep forked 2xx as calls of their own
				         (else DUM ACKs and BYEs them)        */
	uint32_t stop_ms;           /**< redum_dum_stop(): give-up bound for
				         ending usages (default 4000)         */
	const char *allow;          /**< Allow of the automatic OPTIONS 200   */
	const char *accept;         /**< Accept of it (application/sdp)       */
	const struct redum_registrar_conf *registrar; /**< non-NULL: DUM is a
				         registrar (REGISTER taken; copied,
				         include/redum/reg.h)                */
	const struct redum_sub_conf *sub; /**< subscriptions, publication
				         store, pager (copied; NULL: client
				         side only; include/redum/sub.h)    */
	const struct redum_dum_cred *creds; /**< credentials answering 401/407
				         to every client request DUM sends
				         (INVITE, BYE, INFO, OPTIONS, MESSAGE,
				         SUBSCRIBE, PUBLISH...); an exact realm
				         wins over an "any realm" entry
				         (copied; NULL: challenges fail)    */
	uint32_t ncreds;            /**< entries in creds                     */
};

/** Defaults as documented above. Thread: any. */
void redum_dum_conf_init(struct redum_dum_conf *conf);

/** Counters; each value read atomically, not all together. */
struct redum_dum_stats {
	uint64_t usages[REDUM_USAGE_COUNT][REDUM_DUM_MAX_STATES]; /**< alive,
					       by type and state             */
	uint64_t usages_alive;      /**< sum of the above                     */
	uint64_t usages_created[REDUM_USAGE_COUNT];
	uint64_t dialogs;           /**< DUM dialogs alive                    */
	uint64_t handles;           /**< handles issued (usages created)     */
	uint64_t events_posted;     /**< events pushed to the app FIFO        */
	uint64_t events_overflowed; /**< of which waited (app FIFO full)      */
	uint64_t commands_posted;   /**< commands accepted on the FIFO        */
	uint64_t commands_rejected; /**< refused: full (ENOSPC) or closed     */
	uint64_t commands_stale;    /**< on a handle of no live usage         */
	uint64_t busy_503;          /**< new requests refused for congestion  */
	uint64_t forks_ended;       /**< forked 2xx ACKed and BYEd            */
	uint64_t glare_491;         /**< 491 sent (offer pending)             */
	uint64_t stack_errors;      /**< stack commands refused (ENOSPC...)   */
	uint32_t inbound_depth;     /**< stack->DUM FIFO now                  */
	uint32_t inbound_high_water;
};

/**
 * Allocates a DUM and registers it as a TU of @p stack (a stack command).
 * Nothing runs until redum_dum_start() or redum_dum_attach().
 *
 * Thread: any. Lock-free.
 * @return 0, EINVAL, ENOMEM, or the errors of redum_stack_tu_alloc()
 */
int redum_dum_alloc(struct redum_dum **dump, struct redum_stack *stack,
		    const struct redum_dum_conf *conf,
		    const struct redum_dum_handlers *handlers);

/**
 * Starts the DUM thread (signals blocked, own libre loop) and returns once
 * it runs.
 *
 * Thread: any. Blocks until the thread is ready.
 * @return 0, EALREADY, or a pthread/libre error
 */
int redum_dum_start(struct redum_dum *dum);

/**
 * Makes the calling thread the DUM thread: its libre loop (re_main, run by
 * the caller) now drives DUM. The caller keeps its loop running until the
 * application's on_dum_can_be_deleted.
 *
 * Thread: the future DUM thread, which has a libre loop. Call once.
 * @return 0, EALREADY, or an fd_listen error
 */
int redum_dum_attach(struct redum_dum *dum);

/**
 * Makes the calling thread the application thread. @p manual false: events
 * are dispatched from the calling thread's libre loop; true: the caller
 * polls redum_dum_app_fd() and calls redum_dum_app_drain().
 *
 * Thread: the application thread, once (it may be the DUM thread too).
 */
int redum_dum_app_attach(struct redum_dum *dum, bool manual, uint32_t batch);

/** Doorbell fd of a manually attached application FIFO. Thread: any. */
int redum_dum_app_fd(const struct redum_dum *dum);

/** Dispatches pending events to the handlers (manual mode).
 *  Thread: the application thread. @return events handled */
uint32_t redum_dum_app_drain(struct redum_dum *dum);

/**
 * Stops DUM: the staged graceful shutdown with the default order and
 * give-up bound conf.stop_ms, i.e. redum_dum_shutdown(dum, NULL) (see
 * include/redum/shutdown.h for the other modes and the report): every
 * usage is ended (487, BYE, CANCEL, final NOTIFY, un-REGISTER...) stage by
 * stage; then DUM removes itself from the stack, waits for
 * TransactionUserRemoved, refuses further commands (EPIPE) and closes the
 * application FIFO, whose final message is on_dum_can_be_deleted.
 *
 * Thread: any, handlers included. Never waits for DUM (a short mutex, a
 * flag and a wake-up: never fails for lack of room).
 * @return 0, EALREADY (a shutdown is under way), EINVAL
 */
int redum_dum_stop(struct redum_dum *dum);

/**
 * Frees the DUM after on_dum_can_be_deleted (joins the DUM thread if
 * redum_dum_start() made one). Called from inside on_dum_can_be_deleted
 * it returns 0 and the free happens once the callback returned.
 *
 * Thread: any but the DUM thread. @return 0, EBUSY (not finished yet)
 */
int redum_dum_free(struct redum_dum *dum);

/** Reads the counters. Thread: any. Wait-free. */
void redum_dum_stats(const struct redum_dum *dum, struct redum_dum_stats *st);

/** Prints the counters (one `name value` a line, zeros skipped).
 *  Thread: any. */
int redum_dum_stats_print(struct re_printf *pf,
			  const struct redum_dum_stats *st);

/** Name of a usage type / of a state of that type (for logs).
 *  Thread: any. */
const char *redum_usage_name(enum redum_usage_type type);
const char *redum_usage_state_name(enum redum_usage_type type, int state);
const char *redum_term_reason_name(enum redum_term_reason reason);
const char *redum_dum_ev_name(enum redum_dum_ev_type type);


/* ---- commands: thread any; lock-free; return 0 (queued), EINVAL, ENOMEM,
 *      ENOSPC (command FIFO full: nothing queued) or EPIPE (DUM stopped).
 *      Errors found on the DUM thread come back as REDUM_DUM_EV_ERROR on
 *      the handle (ENOENT: no such usage any more; EPROTO: not in a state
 *      that allows it; EBUSY: an INVITE transaction is pending). ------- */

/** A request to send (calls and out-of-dialog requests). Strings copied. */
struct redum_dum_req {
	const char *method;     /**< redum_dum_request() only              */
	const char *uri;        /**< numeric request URI: "sip:b@127.0.0.1:5070"*/
	const char *to;         /**< To URI (default: uri)                  */
	const char *from;       /**< From URI (required)                    */
	const char *from_name;  /**< display name, or NULL                  */
	const char *route;      /**< next hop URI (a call's goes into its
				     dialog's route set), or NULL          */
	const char *hdrs;       /**< extra header lines, each with CRLF     */
	const char *ctype;      /**< Content-Type of body                   */
	const void *body;
	size_t body_len;
};

/** Makes a call (INVITE with the offer in req->body). *hp: the new call's
 *  handle, at once. */
int redum_dum_call(struct redum_dum *dum, redum_dum_handle *hp,
		   const struct redum_dum_req *req);

/**
 * Answers the peer's INVITE of call @p h: 101..199 (provisional; the stack
 * already sent 100) or 2xx (accept; the stack retransmits it until the ACK).
 * Also answers a received re-INVITE (2xx with the answer, or the offer if
 * the re-INVITE had none), and, for a call made without an offer, the
 * offer of the peer's 2xx (any 2xx code: the answer goes in the ACK).
 * @p ctype/@p body: the answer (SDP), or NULL.
 */
int redum_invite_answer(struct redum_dum *dum, redum_dum_handle h,
			uint16_t scode, const char *reason, const char *ctype,
			const void *body, size_t body_len);

/** Rejects the peer's INVITE (>= 300; the call ends, REJECTED) or
 *  re-INVITE (e.g. 488; the call stays). */
int redum_invite_reject(struct redum_dum *dum, redum_dum_handle h,
			uint16_t scode, const char *reason);

/** Ends call @p h whatever its state: CANCEL (UAC early), 480 (UAS not
 *  answered yet), BYE (confirmed). */
int redum_invite_end(struct redum_dum *dum, redum_dum_handle h);

/** Sends INFO in call @p h; the final response comes as INFO_RESPONSE. */
int redum_invite_info(struct redum_dum *dum, redum_dum_handle h,
		      const char *ctype, const void *body, size_t body_len);

/** Sends a re-INVITE with a new offer in call @p h (EBUSY event if an
 *  INVITE transaction is pending; a 491 is retried after the RFC 3261
 *  14.1 random delay). The answer comes as ANSWER (or OFFER_REJECTED). */
int redum_invite_reinvite(struct redum_dum *dum, redum_dum_handle h,
			  const char *ctype, const void *body,
			  size_t body_len);

/** Sends OPTIONS out of dialog (req->method ignored). *hp at once; the
 *  final response comes as RESPONSE. */
int redum_dum_options(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_dum_req *req);

/** Sends a non-INVITE request out of dialog (req->method, e.g. MESSAGE).
 *  *hp at once; the final response comes as RESPONSE. */
int redum_dum_request(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_dum_req *req);

/** Answers a received out-of-dialog request (OPTIONS or REQUEST event). */
int redum_dum_respond(struct redum_dum *dum, redum_dum_handle h,
		      uint16_t scode, const char *reason, const char *hdrs,
		      const char *ctype, const void *body, size_t body_len);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_DUM_H */
