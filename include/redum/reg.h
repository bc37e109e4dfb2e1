/**
 * @file reg.h  Registrations (RFC 3261 section 10) on the DUM: the client
 *              registration usage and an in-memory registrar, with digest
 *              authentication on both sides
 *
 * Client: redum_reg_register() creates a registration usage (handle at
 * once) that REGISTERs our Contact with a registrar, keeps it refreshed,
 * answers 401/407 challenges with the configured credentials, follows 423
 * (Min-Expires) and retries transient failures with a back-off. Events come
 * to the application's `reg` handlers (struct redum_reg_handlers in
 * redum/dum.h) and carry a struct redum_reg_info in ev->reg.
 *
 * Registrar: set redum_dum_conf.registrar before redum_dum_alloc() and DUM
 * takes REGISTER requests: a binding store owned by the DUM thread, with
 * expiry timers, digest authentication against a configured user list, and
 * a lookup command answered by a REG_BINDINGS event.
 *
 * See docs/REGISTRATION.md.
 */
#ifndef REDUM_REG_H
#define REDUM_REG_H

#include <stdbool.h>
#include <stdint.h>
#include <redum/dum.h>

#ifdef __cplusplus
extern "C" {
#endif

/** States of a client registration (REDUM_USAGE_REGISTRATION_CLIENT). */
enum redum_reg_state {
	REDUM_REG_TRYING = 0,     /**< REGISTER sent, not bound yet          */
	REDUM_REG_REGISTERED,     /**< bound; refresh timer running          */
	REDUM_REG_REFRESHING,     /**< bound; refresh REGISTER pending       */
	REDUM_REG_RETRY_WAIT,     /**< failed; waiting for the back-off      */
	REDUM_REG_UNREGISTERING,  /**< Expires: 0 sent                        */
	REDUM_REG_STATE_COUNT
};

/** A client registration to make (strings are copied). */
struct redum_reg_req {
	const char *registrar;  /**< request URI, numeric: "sip:127.0.0.1:5060"*/
	const char *aor;        /**< address of record (To and From URI)     */
	const char *contact;    /**< our Contact URI; NULL: the stack's
				     listening address is used               */
	const char *route;      /**< outbound proxy URI (next hop) or NULL   */
	const char *user;       /**< digest user name, or NULL (no auth)     */
	const char *password;   /**< digest password                         */
	const char *hdrs;       /**< extra header lines, each with CRLF      */
	uint32_t expires;       /**< interval asked for (0: 3600 s)          */
	uint32_t retry_min_s;   /**< first retry delay after a failure
				     (0: 30 s); doubles on each failure     */
	uint32_t retry_max_s;   /**< cap of the retry delay (0: 1800 s)      */
};

/** A binding as a registrar holds it. */
struct redum_reg_binding {
	const char *contact;    /**< the Contact URI (addr-spec)             */
	uint32_t expires;       /**< seconds left                            */
	const char *call_id;
	uint32_t cseq;
};

/** What a registration event is about (ev->reg; valid during the handler
 *  call only, like the event). */
struct redum_reg_info {
	const char *aor;        /**< the address of record                   */
	uint32_t expires;       /**< REGISTERED: seconds the registrar
				     granted to our contact                 */
	uint32_t refresh_in;    /**< REGISTERED: seconds until we refresh    */
	uint32_t retry_in;      /**< RETRYING: seconds until the retry       */
	const char *reason;     /**< FAILURE/RETRYING: reason phrase or ""   */
	bool was_registered;    /**< FAILURE/RETRYING: a binding existed     */
	uint32_t bindingc;      /**< REGISTERED / REG_BINDINGS: bindings     */
	const struct redum_reg_binding *bindings; /**< all contacts of the
				     AOR (REGISTERED: those the registrar
				     listed in its 200)                     */
};

/**
 * Registers: sends REGISTER at once and keeps the binding refreshed until
 * redum_reg_unregister() or redum_reg_end(). *hp receives the usage's
 * handle at once.
 *
 * Thread: any. Lock-free.
 * @return 0, EINVAL (no registrar or aor), ENOMEM, ENOSPC, EPIPE
 */
int redum_reg_register(struct redum_dum *dum, redum_dum_handle *hp,
		       const struct redum_reg_req *req);

/**
 * Removes our binding (REGISTER with Expires: 0); UNREGISTERED follows
 * (whatever the registrar answers), and the usage ends.
 *
 * Thread: any. Lock-free.
 */
int redum_reg_unregister(struct redum_dum *dum, redum_dum_handle h);

/**
 * Ends the usage at once without telling the registrar (the binding
 * expires there by itself). UNREGISTERED follows (scode 0).
 *
 * Thread: any. Lock-free.
 */
int redum_reg_end(struct redum_dum *dum, redum_dum_handle h);


/* ---- registrar ---------------------------------------------------------- */

/** Registrar configuration; fill with redum_registrar_conf_init() first.
 *  Copied by redum_dum_alloc(). */
struct redum_registrar_conf {
	const char *realm;        /**< digest realm (default "redum")        */
	const char *domains;      /**< comma-separated hosts an AOR may have
				       (To URI host); NULL or "": any       */
	const char *users;        /**< comma-separated "user:password" pairs;
				       NULL or "": no authentication        */
	uint32_t min_expires;     /**< shorter non-zero intervals get 423
				       (default 60)                          */
	uint32_t max_expires;     /**< longer ones are cut to this (3600)    */
	uint32_t default_expires; /**< when the request gives none (3600)    */
	uint32_t nonce_ttl;       /**< seconds a nonce is accepted; later it
				       is answered stale=true (default 300) */
	uint32_t max_bindings;    /**< per AOR; more get 403 (default 16)    */
};

/** Defaults as documented above. Thread: any. */
void redum_registrar_conf_init(struct redum_registrar_conf *conf);

/**
 * Asks for the current bindings of @p aor ("sip:alice@example.com"; the
 * user and host are compared). The answer comes as a REG_BINDINGS event on
 * handler reg.on_bindings with ev->h == *hp and the contacts in ev->reg
 * (bindingc 0 if none). err ENODEV in the event if DUM runs no registrar.
 *
 * Thread: any. Lock-free.
 */
int redum_registrar_lookup(struct redum_dum *dum, redum_dum_handle *hp,
			   const char *aor);

/** Registrar counters. */
struct redum_registrar_stats {
	uint64_t aors;            /**< AORs with at least one binding        */
	uint64_t bindings;        /**< bindings now                          */
	uint64_t registers;       /**< REGISTER requests received            */
	uint64_t ok;              /**< of which answered 200                 */
	uint64_t challenged;      /**< answered 401 (no or bad credentials)  */
	uint64_t stale;           /**< of which with stale=true              */
	uint64_t rejected;        /**< other errors (400/403/404/423/500)    */
	uint64_t expired;         /**< bindings removed by their timer       */
};

/** Reads the registrar counters (zeros without registrar).
 *  Thread: any. Wait-free. */
void redum_registrar_stats(const struct redum_dum *dum,
			   struct redum_registrar_stats *st);


/* ---- digest helpers (RFC 2617), for tests and other usages ------------- */

/**
 * Computes a digest response (32 lowercase hex digits + NUL in @p out):
 * MD5 algorithm; @p qop NULL or "" for the RFC 2069 form, "auth" with
 * @p nc (8 hex digits) and @p cnonce.
 *
 * Thread: any. Wait-free.
 * @return 0, EINVAL, or an error of the MD5 helper
 */
int redum_digest_response(char out[33], const char *user, const char *realm,
			  const char *password, const char *method,
			  const char *uri, const char *nonce, const char *nc,
			  const char *cnonce, const char *qop);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_REG_H */
