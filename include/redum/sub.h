/**
 * @file sub.h  Subscriptions (RFC 6665), publications (RFC 3903) and pager
 *              (MESSAGE, RFC 3428) as DUM usages
 *
 * Usages (include/redum/dum.h): REDUM_USAGE_SUBSCRIPTION_CLIENT /_SERVER,
 * REDUM_USAGE_PUBLICATION_CLIENT /_SERVER (the DUM-owned store) and
 * REDUM_USAGE_PAGER. Their events carry `ev->sub` (struct redum_sub_info)
 * and call the handlers of `redum_dum_handlers.sub`.
 *
 * Every wait is bounded: an unsubscribe waits for the terminating NOTIFY at
 * most conf.unsub_wait_ms (default 64*T1 = 32 s) and then reports
 * SUB_TERMINATED with timed_out set; a subscription whose 2xx came without
 * a NOTIFY ends after conf.notify_wait_ms; a server subscription expires by
 * timer; a publication's transactions are bounded by the stack's Timer F.
 *
 * Commands: thread any, lock-free; return 0 (queued), EINVAL, ENOMEM,
 * ENOSPC (command FIFO full: nothing queued) or EPIPE (DUM stopped), like
 * every DUM command. See docs/SUBSCRIPTIONS.md.
 */
#ifndef REDUM_SUB_H
#define REDUM_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <redum/dum.h>

#ifdef __cplusplus
extern "C" {
#endif

/** States of a client subscription. */
enum redum_subc_state {
	REDUM_SUBC_SUBSCRIBING = 0, /**< initial SUBSCRIBE sent            */
	REDUM_SUBC_WAIT_NOTIFY,     /**< 2xx got, first NOTIFY awaited     */
	REDUM_SUBC_ACTIVE,          /**< NOTIFY active                     */
	REDUM_SUBC_PENDING,         /**< NOTIFY pending                    */
	REDUM_SUBC_UNSUBSCRIBING,   /**< Expires 0 sent, final NOTIFY awaited*/
	REDUM_SUBC_STATE_COUNT
};

/** States of a server subscription. */
enum redum_subs_state {
	REDUM_SUBS_OFFERED = 0,  /**< SUB_NEW posted, app to accept/reject  */
	REDUM_SUBS_ACTIVE,       /**< accepted, NOTIFYs flow               */
	REDUM_SUBS_TERMINATING,  /**< final NOTIFY sent, its answer awaited */
	REDUM_SUBS_STATE_COUNT
};

/** States of a client publication / a server one (store entry) / pager. */
enum redum_pub_state {
	REDUM_PUB_PUBLISHING = 0, /**< a PUBLISH in flight                  */
	REDUM_PUB_PUBLISHED,      /**< the server holds our state (ETag)    */
	REDUM_PUB_REMOVING,       /**< Expires 0 sent                        */
	REDUM_PUB_STATE_COUNT
};

/** Details of a subscription/publication/pager event (ev->sub). Strings
 *  are "" when absent; valid during the handler call. */
struct redum_sub_info {
	const char *event;       /**< event package ("presence")            */
	const char *state;       /**< "active", "pending", "terminated"     */
	const char *reason;      /**< termination reason ("timeout",
				      "noresource", "deactivated", ...;
				      DUM's own: "local-timeout" (no final
				      NOTIFY in time), "no-notify",
				      "refresh-failed", "shutdown",
				      "notify-failed", "unsubscribed")    */
	const char *resource;    /**< server side: the subscribed/published
				      resource "user@host"                 */
	const char *etag;        /**< publications: the current SIP-ETag    */
	uint32_t expires;        /**< granted/remaining seconds             */
	uint32_t retry_after;    /**< SUB_TERMINATED: retry-after (0: none) */
	bool timed_out;          /**< SUB_TERMINATED: our bounded wait ended
				      it, not the peer                     */
	bool removed;            /**< PUB_STATE: the entry went away        */
	uint64_t coalesced;      /**< server sub: NOTIFYs merged so far     */
};

/** DUM's subscription/publication/pager configuration
 *  (redum_dum_conf.sub, copied at redum_dum_alloc()). */
struct redum_sub_conf {
	const char *events;        /**< event packages taken by the server
				        side, comma separated ("presence") */
	uint32_t unsub_wait_ms;    /**< client: bound of the wait for the
				        terminating NOTIFY (default 32000) */
	uint32_t notify_wait_ms;   /**< client: bound of the wait for the
				        first NOTIFY after the 2xx; server:
				        of the app's answer to SUB_NEW (then
				        480, SUB_TERMINATED "no-answer")
				        (default 32000)                    */
	uint32_t notify_min_ms;    /**< server: at most one NOTIFY per this
				        many ms per subscription (default
				        200; coalesced: the latest is sent) */
	uint32_t min_expires;      /**< server: below -> 423 (default 1)     */
	uint32_t max_expires;      /**< server: clamped to (default 3600)    */
	uint32_t default_expires;  /**< server: no Expires (default 3600)    */
	bool pub_store;            /**< take PUBLISH (the DUM store)         */
	bool presence_agent;       /**< PUBLISHed "presence" state is
				        NOTIFYed to the server subscriptions
				        of the same resource                */
	bool pager;                /**< take MESSAGE (200 at once; on_message
				        told, or counted if unset)          */
};

/** Defaults as documented above. Thread: any. */
void redum_sub_conf_init(struct redum_sub_conf *conf);

/** Counters; each read atomically. */
struct redum_sub_stats {
	uint64_t notifies_in, notifies_out, notifies_coalesced;
	uint64_t sub_timeouts;      /**< client waits that ran out          */
	uint64_t sub_expired;       /**< server subs ended by their timer   */
	uint64_t publish_in, pub_412, pub_489, pub_expired, pub_entries;
	uint64_t messages_in, messages_auto200;
	uint64_t presence_fanout;   /**< NOTIFYs caused by a PUBLISH        */
	uint64_t notify_481_retries; /**< first NOTIFY re-sent after 481    */
};

/** Reads the counters. Thread: any. Wait-free. */
void redum_sub_stats(const struct redum_dum *dum, struct redum_sub_stats *st);

/** A subscription, publication or message to send. Strings copied. */
struct redum_sub_req {
	const char *uri;        /**< numeric request URI                   */
	const char *to;         /**< To URI (default: uri)                  */
	const char *from;       /**< From URI (required)                    */
	const char *from_name;
	const char *route;      /**< next hop URI or NULL                   */
	const char *event;      /**< Event package (SUBSCRIBE, PUBLISH)     */
	uint32_t expires;       /**< asked (default 3600); MESSAGE: unused  */
	const char *hdrs;       /**< extra header lines, each with CRLF     */
	const char *ctype;      /**< Content-Type of body                   */
	const void *body;
	size_t body_len;
};

/* ---- client subscriptions ---- */

/** SUBSCRIBE (creates a dialog). *hp at once. Then SUB_UPDATE per NOTIFY
 *  (active/pending, body), SUB_FAILURE (non-2xx), SUB_TERMINATED. */
int redum_sub_subscribe(struct redum_dum *dum, redum_dum_handle *hp,
			const struct redum_sub_req *req);
/** Unsubscribes (SUBSCRIBE Expires: 0), then waits at most
 *  conf.unsub_wait_ms for the terminating NOTIFY; SUB_TERMINATED either
 *  way (timed_out says which). */
int redum_sub_unsubscribe(struct redum_dum *dum, redum_dum_handle h);

/* ---- server subscriptions (SUB_NEW: accept or reject) ---- */

/** Accepts (scode 200 or 202) and sends the first NOTIFY with @p state
 *  ("active" or "pending") and the body. */
int redum_sub_accept(struct redum_dum *dum, redum_dum_handle h,
		     uint16_t scode, const char *state, const char *ctype,
		     const void *body, size_t body_len);
/** Rejects (>= 300). */
int redum_sub_reject(struct redum_dum *dum, redum_dum_handle h,
		     uint16_t scode, const char *reason);
/** New state to NOTIFY (rate bounded: coalesced, the latest is sent). */
int redum_sub_notify(struct redum_dum *dum, redum_dum_handle h,
		     const char *state, const char *ctype, const void *body,
		     size_t body_len);
/** Ends the subscription: NOTIFY terminated;reason=@p reason
 *  [;retry-after=N]. SUB_TERMINATED when its answer (or error) came. */
int redum_sub_terminate(struct redum_dum *dum, redum_dum_handle h,
			const char *reason, uint32_t retry_after);

/* ---- client publications ---- */

/** Initial PUBLISH with req->body; refreshed before expiry (SIP-If-Match,
 *  no body). PUB_SUCCESS per 2xx (etag, expires), PUB_FAILURE (usage
 *  ended), PUB_REMOVED. */
int redum_pub_publish(struct redum_dum *dum, redum_dum_handle *hp,
		      const struct redum_sub_req *req);
/** Modifies the published state (SIP-If-Match with the new body). */
int redum_pub_modify(struct redum_dum *dum, redum_dum_handle h,
		     const char *ctype, const void *body, size_t body_len);
/** Removes it (Expires: 0); PUB_REMOVED ends the usage. */
int redum_pub_remove(struct redum_dum *dum, redum_dum_handle h);

/* ---- pager ---- */

/** Sends MESSAGE with req->body; PAGER_RESULT gives the final status. */
int redum_pager_send(struct redum_dum *dum, redum_dum_handle *hp,
		     const struct redum_sub_req *req);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_SUB_H */
