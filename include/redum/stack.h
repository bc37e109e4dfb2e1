/**
 * @file stack.h  The stack thread: libre's transports and transactions as
 *                an actor
 *
 * One thread owns libre's `struct sip` and runs re_main(). Everything else
 * talks to it through messages:
 *
 *  - commands go in on the stack's command FIFO (MPSC, any thread), built and
 *    pushed by the redum_stack_*() command functions below, which return
 *    ENOSPC at once if the FIFO is full (never block, never drop silently);
 *  - events come out on each transaction user's (TU's) own inbound FIFO
 *    (SPSC: the stack thread is its only producer), consumed on the TU's
 *    thread, which handles each one and then hands it back with
 *    redum_stack_event_release().
 *
 * Ownership of SIP messages (the lifetime rule):
 *  - an event may carry `msg`, a READ-ONLY view of a libre `struct sip_msg`.
 *    The stack holds the reference and does the mem_deref on the stack
 *    thread; the TU only reads (never mem_ref/mem_deref it, never keep a
 *    pointer into it past the hand-back below);
 *  - REDUM_STACK_EV_REQUEST: the view stays valid until the TU posts the
 *    final reply for that server transaction (redum_stack_reply() with a
 *    status >= 200) or redum_stack_srv_release(); those hand it back. Posting
 *    the event itself back with redum_stack_event_release() does NOT end the
 *    view of a request (so a TU may release the event at once and answer
 *    later);
 *  - every other event with a view (responses, the ACK of a 2xx): the view
 *    is valid until redum_stack_event_release() of that event, or until the
 *    event is consumed by redum_stack_dlg_create()/redum_stack_dlg_fork();
 *  - after TransactionUserRemoved (the TU's removed handler), the TU must
 *    not read any view and must not post commands.
 *
 * See docs/STACK.md for the full contract.
 */
#ifndef REDUM_STACK_H
#define REDUM_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>

#include <redum/fifo.h>

#ifdef __cplusplus
extern "C" {
#endif

struct redum_stack;
struct redum_stack_tu;

/** Methods, for TU routing masks and counters. */
enum redum_stack_method {
	REDUM_STACK_M_INVITE = 0,
	REDUM_STACK_M_ACK,
	REDUM_STACK_M_BYE,
	REDUM_STACK_M_CANCEL,
	REDUM_STACK_M_OPTIONS,
	REDUM_STACK_M_REGISTER,
	REDUM_STACK_M_SUBSCRIBE,
	REDUM_STACK_M_NOTIFY,
	REDUM_STACK_M_PUBLISH,
	REDUM_STACK_M_MESSAGE,
	REDUM_STACK_M_INFO,
	REDUM_STACK_M_UPDATE,
	REDUM_STACK_M_PRACK,
	REDUM_STACK_M_REFER,
	REDUM_STACK_M_OTHER,
	REDUM_STACK_M_COUNT
};

/** Bit of a method in a TU's routing mask. */
#define REDUM_STACK_MBIT(m) (1u << (m))
/** A TU that takes every method. */
#define REDUM_STACK_MALL ((1u << REDUM_STACK_M_COUNT) - 1)

/** Maps a method name to its enum (REDUM_STACK_M_OTHER if unknown).
 *  Thread: any; wait-free. */
enum redum_stack_method redum_stack_method_of(const struct pl *met);
/** The method's name ("OTHER" for REDUM_STACK_M_OTHER). Thread: any. */
const char *redum_stack_method_name(enum redum_stack_method m);

enum { REDUM_STACK_MAX_LISTEN = 8 };

/** One transport to listen on (numeric address; port 0 = ephemeral). */
struct redum_stack_listen {
	enum sip_transp tp;     /**< SIP_TRANSP_UDP, _TCP or _TLS          */
	struct sa addr;         /**< numeric IPv4 or IPv6 address and port */
};

/** Stack configuration; fill with redum_stack_conf_init() first. */
struct redum_stack_conf {
	struct redum_stack_listen listen[REDUM_STACK_MAX_LISTEN];
	uint32_t listenc;
	const char *software;   /**< Server/User-Agent (copied), or NULL    */
	const char *tls_cert;   /**< PEM with cert+key: needed for TLS      */
	uint32_t ctrans_hsize;  /**< client transaction hash (power of 2)   */
	uint32_t strans_hsize;  /**< server transaction hash (power of 2)   */
	uint32_t tcp_hsize;     /**< connection hash (power of 2)           */
	uint32_t obj_hsize;     /**< redum's own tables (power of 2)        */
	uint32_t udp_rcvbuf;    /**< SO_RCVBUF bytes (0 = keep kernel's;
				     default 16 MiB)                      */
	uint32_t udp_sndbuf;    /**< SO_SNDBUF bytes (0 = keep kernel's)     */
	uint32_t udp_rxsz;      /**< largest UDP datagram read (0 = libre's
				     8192); larger ones are truncated
				     (dropped); set on a socket at its first
				     request. Each datagram is kept in an
				     mbuf of its own size (udp_batch.c)    */
	uint32_t cmd_capacity;  /**< command FIFO capacity                  */
	uint32_t t1_ms;         /**< T1 of the 2xx retransmission (500)     */
	uint32_t t2_ms;         /**< T2 of the 2xx retransmission (4000)    */
	uint32_t graceful_ms;   /**< bound of a graceful TU removal          */
	uint32_t force_ms;      /**< bound of every wait of a forced stop   */
	uint32_t retry_after;   /**< Retry-After seconds in our 503s         */
	uint32_t overload_pct;  /**< overload control: when a UDP listener's
				     receive queue passes this % of its
				     buffer (checked every 20 ms), new
				     out-of-dialog requests get 503 +
				     Retry-After until it is below half of
				     that; in-dialog ones (ACK, BYE) still
				     pass. 0 = off (default 50)            */
	uint32_t overload_delay_ms; /**< overload control by queueing delay:
				     a request that waited longer than this
				     in a UDP receive queue (kernel
				     timestamp to our read) is late; while
				     every request read for
				     overload_interval_ms was late, new
				     out-of-dialog ones get 503 +
				     Retry-After. Both overload 503s are
				     stateless. 0 = off (default 200, below
				     T1: what is admitted was not
				     retransmitted yet)                   */
	uint32_t overload_interval_ms; /**< how long requests must be late
				     before the delay rule sheds (CoDel's
				     interval; default 100): a burst after
				     one stall is not overload. 0 = shed
				     every late request                    */
	uint32_t trying_ms;     /**< 100 Trying to an INVITE only if the TU
				     has not responded within this many ms
				     (RFC 3261 17.2.1; default 200); 0 = at
				     once, before the TU is woken          */
};

/** Defaults: no listeners, hashes sized for ~20k transactions/s kept 64 s
 *  (2^19 buckets), a 16 MiB UDP receive buffer, libre's 8 KiB UDP
 *  datagrams, 65536 commands,
 *  T1 500 ms, T2 4 s, graceful 32 s, force 2 s, Retry-After 5,
 *  overload at 50% of a UDP receive buffer or 200 ms of queueing delay
 *  standing for 100 ms,
 *  100 Trying after 200 ms.
 *  Thread: any. */
void redum_stack_conf_init(struct redum_stack_conf *conf);

/**
 * Adds a listener from text: "udp:127.0.0.1:5060", "tcp:[::1]:0",
 * "tls:127.0.0.1:0". Thread: any.
 * @return 0, EINVAL (bad text or not numeric), E2BIG (too many)
 */
int redum_stack_conf_listen(struct redum_stack_conf *conf, const char *spec);

/**
 * Starts the stack thread: blocks every signal in it, gives it a libre loop,
 * allocates `struct sip` with the listeners, and runs re_main(). Returns
 * once the thread is ready, or failed (then the thread is joined and the
 * error returned).
 *
 * Thread: any (not a stack thread). Blocks until ready.
 * @return 0, EINVAL, ENOMEM, or an errno of a socket/TLS/thread call
 */
int redum_stack_start(struct redum_stack **stackp,
		      const struct redum_stack_conf *conf);

/**
 * Asks the stack to stop. Graceful: every TU is removed gracefully (see
 * redum_stack_tu_remove()), then sip_close(); force: every TU is abandoned
 * and every wait bounded by conf.force_ms. A force while a graceful stop is
 * under way escalates it.
 *
 * Thread: any, the stack's own included; lock-free.
 * @return 0, EALREADY (already stopping in that mode or harsher), EINVAL
 */
int redum_stack_shutdown(struct redum_stack *stack, bool force);

struct redum_stack_stats;

/**
 * Waits for the stack thread to finish, then frees the stack. Call once,
 * after redum_stack_shutdown() (or the thread would never end).
 *
 * Thread: any but the stack thread (EDEADLK). Blocks.
 * @param final  receives the last counters (NULL: not wanted)
 */
int redum_stack_join(struct redum_stack *stack,
		     struct redum_stack_stats *final);

/**
 * Bound address of listener @p i (port resolved when 0 was asked).
 * Thread: any, after redum_stack_start() returned 0. Wait-free.
 * @return 0, ENOENT (no such listener)
 */
int redum_stack_laddr(const struct redum_stack *stack, uint32_t i,
		      enum sip_transp *tpp, struct sa *laddr);

/**
 * The fd libre uses for UDP listener @p i (found by matching getsockname()
 * of the new sockets against the bound address; see docs/STACK.md), or -1.
 * Thread: any, after start. Wait-free.
 */
int redum_stack_udp_fd(const struct redum_stack *stack, uint32_t i);

/** Counters; each value read atomically, not all together. */
struct redum_stack_stats {
	uint64_t strans_alive;  /**< server transactions redum tracks      */
	uint64_t ctrans_alive;  /**< client transactions redum tracks      */
	uint64_t dialogs_alive;
	uint64_t tus;           /**< TUs registered and not yet gone        */
	uint64_t req_in[REDUM_STACK_M_COUNT];  /**< requests reaching redum:
				     new ones and ACKs; retransmissions
				     the transaction layer (libre's or
				     redum's) absorbs are not counted     */
	uint64_t req_out[REDUM_STACK_M_COUNT]; /**< requests sent (no retx) */
	uint64_t resp_in[6];    /**< responses received, by class 1xx..6xx  */
	uint64_t resp_out[6];   /**< responses sent, by class (no retx)      */
	uint64_t retx_2xx;      /**< INVITE 2xx retransmissions sent        */
	uint64_t invite_absorbed; /**< INVITE retransmissions after the 2xx
				       that reached redum and were absorbed  */
	uint64_t ack_retx;      /**< ACKs re-sent on a retransmitted 2xx    */
	uint64_t acks;          /**< ACKs of our 2xx received               */
	uint64_t accepted_ended; /**< libre ACCEPTED strans ended at the ACK
				      (a dialog record absorbs copies)      */
	uint64_t done_kept;     /**< completed non-INVITE transactions on UDP
				     kept compact for Timer J (done.c)      */
	uint64_t done_absorbed; /**< their request retransmissions answered */
	uint64_t ack_timeouts;  /**< 2xx never ACKed within 64*T1           */
	uint64_t forks;         /**< 2xx of other forks reported (new To-tag
				     after the INVITE's first 2xx)          */
	uint64_t fork_absorbed; /**< their retransmissions before the TU ACKed */
	uint64_t fork_late;     /**< fork 2xx after the 64*T1 window (dropped) */
	uint64_t unclaimed;     /**< requests no TU took (501/481/ACK)      */
	uint64_t malformed;     /**< requests refused before routing as
				     malformed (400, 416, 420) or dropped
				     (no Via; a malformed ACK): see
				     docs/HARDENING.md                     */
	uint64_t busy_503;      /**< new requests refused: TU FIFO full,
				     TU leaving, stack stopping, overload  */
	uint64_t shed_503;      /**< of which for overload (receive queue
				     too full, or waited too long in it) */
	uint64_t shed_late;     /**< of which for a wait over
				     overload_delay_ms                     */
	uint64_t overloads;     /**< times overload control switched on    */
	uint64_t rx_drops;      /**< datagrams the kernel dropped on our UDP
				     sockets (SO_MEMINFO), last tick       */
	uint64_t rx_wakes;      /**< UDP read wake-ups (batched receive:
				     docs/STACK.md), as of the last tick   */
	uint64_t rx_calls;      /**< recvmmsg() calls that returned data   */
	uint64_t rx_dgrams;     /**< UDP datagrams read                    */
	uint64_t req_rx;        /**< requests received (every transport),
				     retransmissions included: every
				     request libre decoded, before its
				     transaction layer (docs/OVERLOAD.md) */
	uint64_t resp_rx;       /**< responses received, likewise          */
	uint64_t req_absorbed;  /**< req_rx - sum(req_in): requests the
				     transaction layer took: retransmissions
				     absorbed (libre's or redum's records:
				     invite_absorbed, done_absorbed; the
				     last response re-sent), ACKs of non-2xx
				     finals                                 */
	uint64_t tx_calls;      /**< sendmmsg() calls that sent something  */
	uint64_t tx_dgrams;     /**< UDP datagrams sent in those calls     */
	uint64_t tx_errors;     /**< datagrams the kernel refused at the
				     batch's send (lost, as on the wire)    */
	uint64_t retx_req;      /**< requests re-sent by libre's client
				     transactions (Timer A/E, UDP), as of
				     the last tick                          */
	uint64_t retx_final;    /**< non-2xx finals to INVITE re-sent by
				     libre's server transactions (Timer G,
				     UDP), as of the last tick              */
	uint64_t overflowed;    /**< events parked in a TU overflow list    */
	uint64_t cmd_rejected;  /**< commands refused (unknown id, state)   */
	uint64_t cmd_failed;    /**< commands whose libre call failed        */
	uint64_t send_errors;   /**< sends/requests that failed              */
	struct redum_fifo_stats cmd_fifo;  /**< the command FIFO             */
	struct redum_fifo_stats tu_fifos;  /**< sum over the live TU FIFOs
					        (high_water: the largest)      */
};

/**
 * For tests: makes the stack thread sleep @p ms (a command), as an
 * overloaded stack would stall. Thread: any. Lock-free.
 */
int redum_stack_debug_stall(struct redum_stack *stack, uint32_t ms);

/** Reads the counters. Thread: any. Wait-free (plus one snapshot per live
 *  TU FIFO, read under the stack's registry lock: see docs/STACK.md). */
void redum_stack_stats(const struct redum_stack *stack,
		       struct redum_stack_stats *st);

/** Prints the counters (one `name value` a line, zeros skipped).
 *  Thread: any. */
int redum_stack_stats_print(struct re_printf *pf,
			    const struct redum_stack_stats *st);


/* ---- events ------------------------------------------------------------ */

enum redum_stack_ev_type {
	/** New server transaction: msg = request view, id = stack-chosen
	 *  server transaction id, dlg = the TU's dialog id if in-dialog
	 *  (0 if not). For an INVITE the stack already sent 100 Trying. */
	REDUM_STACK_EV_REQUEST = 1,
	/** A CANCEL matched server transaction id: the stack answered the
	 *  CANCEL 200 and the INVITE 487. The view stays until the TU
	 *  releases the transaction (a later reply is not sent). */
	REDUM_STACK_EV_CANCELLED,
	/** Server transaction id ended without the TU's final reply going
	 *  out (err: the send error, or ECONNABORTED when the stack abandoned
	 *  it on removal/stop and answered it itself). The view, if still
	 *  held, stays until srv_release/final reply as usual. */
	REDUM_STACK_EV_SRV_ERROR,
	/** The ACK of our 2xx to INVITE id arrived: msg = ACK view (NULL if
	 *  the reply asked REDUM_STACK_F_NO_ACK_VIEW), release rule 2. */
	REDUM_STACK_EV_ACK,
	/** No ACK for our 2xx to INVITE id within 64*T1 (err ETIMEDOUT) or
	 *  the stack stopped waiting (err ECONNABORTED). */
	REDUM_STACK_EV_ACK_TIMEOUT,
	/** A response to client transaction id (the TU's token): msg view,
	 *  dlg = dialog id for in-dialog requests. Final when
	 *  msg->scode >= 200: no more events about that token — except, for an
	 *  INVITE sent in a UAC dialog, a 2xx of ANOTHER fork (another To-tag)
	 *  within 64*T1 of the first 2xx: reported once per To-tag with the
	 *  INVITE's token and dlg = the INVITE's dialog, for the TU to
	 *  redum_stack_dlg_fork(), redum_stack_ack() and keep or BYE. */
	REDUM_STACK_EV_RESPONSE,
	/** Client transaction id failed without a final response: err =
	 *  ETIMEDOUT, ECONNREFUSED, ECONNABORTED (stack stopping), ... */
	REDUM_STACK_EV_CLI_ERROR,
	/** A command could not be carried out: id = its token/srv/dialog id,
	 *  err = why (ENOENT: unknown id, EPROTO: wrong state, ENOMEM, or the
	 *  libre error; for a request: the send failure). */
	REDUM_STACK_EV_CMD_FAILED,
};

/** An event, owned by the TU from its handler until it hands it back with
 *  redum_stack_event_release(). */
struct redum_stack_event {
	enum redum_stack_ev_type type;
	int err;
	uint64_t id;                  /**< server id, or the TU's token     */
	uint64_t dlg;                 /**< dialog id, 0 if none            */
	const struct sip_msg *msg;    /**< read-only view, or NULL          */
	/* private to the stack */
	struct sip_msg *ref;
	struct redum_stack_event *next;
};

/** Handles one event on the TU's thread. */
typedef void (redum_stack_event_h)(struct redum_stack_tu *tu,
				   struct redum_stack_event *ev, void *arg);

/** TransactionUserRemoved: the TU's last message, after every event. The
 *  TU then frees its handle with redum_stack_tu_free() (after this handler
 *  has returned, e.g. once its loop ends). */
typedef void (redum_stack_removed_h)(struct redum_stack_tu *tu, void *arg);

/**
 * Hands an event back. Frees it on the calling thread if it holds no view;
 * otherwise posts it back to the stack (a lock-free list that never fails
 * and needs no allocation), which does the mem_deref. @p tu must be the TU
 * that received it.
 *
 * Thread: the TU's thread. Lock-free.
 */
void redum_stack_event_release(struct redum_stack_tu *tu,
			       struct redum_stack_event *ev);


/* ---- transaction users -------------------------------------------------- */

struct redum_stack_tu_conf {
	const char *name;       /**< for logs (copied, 31 chars kept)        */
	uint32_t methods;       /**< REDUM_STACK_MBIT() mask or MALL; 0 = the
				     TU takes no new requests (only in-dialog
				     ones of its dialogs and its responses) */
	uint32_t capacity;      /**< inbound FIFO capacity (0 = 65536)      */
	redum_stack_event_h *eventh;
	redum_stack_removed_h *removedh;
	void *arg;
};

/**
 * Creates a TU and registers it with the stack (a command). Events wait in
 * its FIFO until it is attached.
 *
 * Thread: any. Lock-free.
 * @return 0, EINVAL, ENOMEM, ENOSPC (command FIFO full), EPIPE (stopping)
 */
int redum_stack_tu_alloc(struct redum_stack_tu **tup,
			 struct redum_stack *stack,
			 const struct redum_stack_tu_conf *conf);

/**
 * Makes the calling thread the TU's thread: attaches its FIFO to the
 * calling thread's libre loop (@p manual false) or for redum_stack_tu_fd()
 * + redum_stack_tu_drain() (@p manual true).
 *
 * Thread: the TU's thread, once.
 */
int redum_stack_tu_attach(struct redum_stack_tu *tu, bool manual,
			  uint32_t batch);

/** Doorbell of a manually attached TU. Thread: any, until
 *  TransactionUserRemoved (the stack then frees the FIFO). */
int redum_stack_tu_fd(const struct redum_stack_tu *tu);
/** Handles pending events of a manually attached TU; the last one handled
 *  is TransactionUserRemoved, after which it must not be called.
 *  Thread: the TU's. Wait-free per event. */
uint32_t redum_stack_tu_drain(struct redum_stack_tu *tu);
/** True once TransactionUserRemoved was handled. Thread: any. */
bool redum_stack_tu_finished(const struct redum_stack_tu *tu);

/**
 * Asks the stack to remove the TU. Graceful: new requests stop being routed
 * to it (a new request only it would take gets 503 + Retry-After), its
 * transactions finish (bounded by conf.graceful_ms, then abandoned); abandon
 * (@p graceful false): its pending server transactions are answered 503 by
 * the stack, client transactions cancelled and reported, dialogs dropped.
 * Either way TransactionUserRemoved comes last on its FIFO.
 *
 * Thread: any (normally the TU's). Lock-free; never fails for lack of room
 * (a flag plus a wake-up, not a queued command).
 * @return 0, EALREADY
 */
int redum_stack_tu_remove(struct redum_stack_tu *tu, bool graceful);

/**
 * Frees the TU handle and its FIFO.
 * Thread: the TU's, after its removed handler has returned (EBUSY before).
 */
int redum_stack_tu_free(struct redum_stack_tu *tu);

/** The TU's inbound FIFO counters. Thread: any. */
void redum_stack_tu_fifo_stats(const struct redum_stack_tu *tu,
			       struct redum_fifo_stats *st);


/* ---- commands (thread: the TU's, or any thread that owns the TU's
 *      commands; each is lock-free and returns 0, EINVAL, ENOMEM,
 *      ENOSPC (command FIFO full: nothing was queued), or EPIPE (the
 *      stack is gone). Errors found on the stack thread come back as
 *      REDUM_STACK_EV_CMD_FAILED.) ----------------------------------------- */

/** Flags of replies and requests. */
enum {
	/** add "Contact: <sip:LADDR;transport=..>" of the socket used */
	REDUM_STACK_F_CONTACT     = 1u << 0,
	/** reply 2xx to INVITE: report the ACK without its view */
	REDUM_STACK_F_NO_ACK_VIEW = 1u << 1,
	/** request: no provisional responses reported */
	REDUM_STACK_F_NO_PROV     = 1u << 2,
	/** redum_stack_reply_dlg(): first accept dialog @p dlg from the
	 *  request (as redum_stack_dlg_accept), then reply */
	REDUM_STACK_F_DLG_ACCEPT  = 1u << 3,
	/** redum_stack_reply_dlg(): destroy dialog @p dlg after the reply */
	REDUM_STACK_F_DLG_DESTROY = 1u << 4,
};

/**
 * Replies on server transaction @p id. @p hdrs: extra header lines, each
 * ending in CRLF (e.g. "Contact: <sip:a@b>\r\nContent-Type: application/sdp
 * \r\n"), or NULL; @p body of @p body_len bytes or NULL. Any number of
 * provisionals (101..199) then one final (>= 200), which hands the view back.
 * A 2xx to INVITE is retransmitted by the stack until the ACK (EV_ACK) or
 * 64*T1 (EV_ACK_TIMEOUT).
 */
int redum_stack_reply(struct redum_stack_tu *tu, uint64_t id, uint16_t scode,
		      const char *reason, uint32_t flags, const char *hdrs,
		      const void *body, size_t body_len);

/** redum_stack_reply() plus dialog work in the same command (one FIFO
 *  crossing instead of two): REDUM_STACK_F_DLG_ACCEPT creates UAS dialog
 *  @p dlg from the request before the reply goes out (a failure is
 *  reported with EV_CMD_FAILED, the reply is still sent);
 *  REDUM_STACK_F_DLG_DESTROY destroys dialog @p dlg after it (e.g. the 200
 *  to a BYE). */
int redum_stack_reply_dlg(struct redum_stack_tu *tu, uint64_t id,
			  uint64_t dlg, uint16_t scode, const char *reason,
			  uint32_t flags, const char *hdrs, const void *body,
			  size_t body_len);

/** Hands the view of server transaction @p id back without a reply (an
 *  unanswered transaction gets 500 from the stack). */
int redum_stack_srv_release(struct redum_stack_tu *tu, uint64_t id);

/**
 * Sends a request out of dialog. @p uri: numeric request URI; @p route:
 * numeric URI of the next hop the request is sent to, or NULL (it is only
 * the destination: no Route header is added, so a loose-routing proxy
 * that wants one gets it from @p hdrs); @p hdrs must hold To, From, Call-ID,
 * CSeq (and Contact if wanted) lines; Max-Forwards, Via, User-Agent,
 * Content-Length are added. Events about it carry @p token.
 */
int redum_stack_request(struct redum_stack_tu *tu, uint64_t token,
			uint32_t flags, const char *method, const char *uri,
			const char *route, const char *hdrs,
			const void *body, size_t body_len);

/** Sends a request in dialog @p dlg (sip_drequestf: the dialog adds To,
 *  From, Call-ID, CSeq, Route). For "ACK" use redum_stack_ack(). */
int redum_stack_drequest(struct redum_stack_tu *tu, uint64_t token,
			 uint64_t dlg, uint32_t flags, const char *method,
			 const char *hdrs, const void *body, size_t body_len);

/** ACKs a 2xx in dialog @p dlg for the INVITE with CSeq @p cseq. The stack
 *  re-sends that ACK if the 2xx is retransmitted (for 64*T1). */
int redum_stack_ack(struct redum_stack_tu *tu, uint64_t dlg, uint32_t cseq,
		    const char *hdrs, const void *body, size_t body_len);

/** CANCELs the pending INVITE sent with @p token (libre sends the CANCEL
 *  once a provisional arrived; the INVITE's final comes as usual). */
int redum_stack_cancel(struct redum_stack_tu *tu, uint64_t token);

/** UAC dialog before the INVITE (sip_dialog_alloc). @p dlg: the TU's id. */
int redum_stack_dlg_alloc(struct redum_stack_tu *tu, uint64_t dlg,
			  const char *uri, const char *to_uri,
			  const char *from_name, const char *from_uri);

/** Like redum_stack_dlg_alloc() with a numeric @p route URI (outbound
 *  proxy / next hop, loose routing) put in the dialog's route set, or
 *  NULL for none. */
int redum_stack_dlg_alloc_route(struct redum_stack_tu *tu, uint64_t dlg,
				const char *uri, const char *to_uri,
				const char *from_name, const char *from_uri,
				const char *route);

/** UAS dialog from the request of server transaction @p srv
 *  (sip_dialog_accept). Post it before the reply that carries the To-tag:
 *  the stack's replies use the same local tag. */
int redum_stack_dlg_accept(struct redum_stack_tu *tu, uint64_t dlg,
			   uint64_t srv);

/** Establishes UAC dialog @p dlg from the response in @p ev (a 1xx/2xx
 *  with a To-tag: sip_dialog_create). On a dialog already established with
 *  that To-tag (a 200 after a 180) it updates the remote target from the
 *  Contact (sip_dialog_update); another To-tag fails with EALREADY (use
 *  redum_stack_dlg_fork). Consumes @p ev (no release). */
int redum_stack_dlg_create(struct redum_stack_tu *tu, uint64_t dlg,
			   struct redum_stack_event *ev);

/** Establishes UAC dialog @p dlg from the request of server transaction
 *  @p srv: a NOTIFY that came before the 2xx to our SUBSCRIBE (RFC 6665
 *  4.1.2.4). Such a NOTIFY is routed to the TU of the not yet established
 *  dialog whose local tag its To-tag names, with ev->dlg set. If the
 *  dialog is already established with the same tags this does nothing;
 *  with other tags the command fails with EALREADY. */
int redum_stack_dlg_create_srv(struct redum_stack_tu *tu, uint64_t dlg,
			       uint64_t srv);

/** Forks established dialog @p odlg into new dialog @p dlg from the
 *  response in @p ev (sip_dialog_fork). Consumes @p ev. */
int redum_stack_dlg_fork(struct redum_stack_tu *tu, uint64_t dlg,
			 uint64_t odlg, struct redum_stack_event *ev);

/** Destroys dialog @p dlg (in-dialog requests for it then get 481). */
int redum_stack_dlg_destroy(struct redum_stack_tu *tu, uint64_t dlg);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_STACK_H */
