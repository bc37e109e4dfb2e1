/**
 * @file reg_int.h  Internals of registrations (dum/reg_client.c,
 *                  dum/registrar.c, dum/auth.c)
 *
 * The digest helpers here are usage-neutral: any client usage (INVITE,
 * OPTIONS...) can keep a `struct dum_auth`, feed it each 401/407 with
 * dum_auth_challenge() and add the header from dum_auth_header() to the
 * retried request. Everything runs on the DUM thread.
 */
#ifndef REDUM_REG_INT_H
#define REDUM_REG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include <redum/reg.h>
#include "dum_int.h"

/* ---- digest client state (auth.c) ------------------------------------- */

/** The last challenge and what we did with it. [dum] */
struct dum_auth {
	char *realm, *nonce, *opaque;  /* mem strings, NULL if none       */
	bool qop_auth;                 /* server offered qop=auth         */
	bool proxy;                    /* 407: Proxy-Authorization        */
	uint32_t nc;                   /* nonce count used so far         */
	uint32_t tries;                /* challenges answered in a row    */
};

/**
 * Takes a 401/407 response. @return 0: retry with dum_auth_header();
 * EACCES: give up (the same nonce rejected again without stale=true, or
 * too many challenges in a row); EPROTO: no usable challenge (none, or an
 * algorithm other than MD5).
 */
int dum_auth_challenge(struct dum_auth *a, const struct sip_msg *msg);

/** A success (a non-401/407 final): the next challenge starts afresh. */
void dum_auth_ok(struct dum_auth *a);

/**
 * Prints the "Authorization: Digest ...\r\n" (or Proxy-Authorization)
 * line for @p method @p uri into a new mem string *hdrp, or "" when no
 * challenge is known. Increments the nonce count.
 */
int dum_auth_header(struct dum_auth *a, char **hdrp, const char *method,
		    const char *uri, const char *user, const char *password);

/** Frees the strings (the struct itself is the caller's). */
void dum_auth_reset(struct dum_auth *a);

/* ---- the DUM-wide credential store (redum_dum_conf.creds) ------------- */

/**
 * Takes a 401/407 to a request of a usage that answers challenges from the
 * store. @return 0: retry with dum_auth_hdr(); EACCES: no credential for
 * the realm, the same nonce refused again (stale=false) or too many
 * challenges in a row; EPROTO: no usable challenge.
 */
int dum_auth_retry(struct redum_dum *dum, struct dum_auth *a,
		   const struct sip_msg *msg);

/** dum_auth_header() with the store's credential for a->realm ("" when no
 *  challenge is known). */
int dum_auth_hdr(struct redum_dum *dum, struct dum_auth *a, char **hdrp,
		 const char *method, const char *uri);

/* ---- digest server side (auth.c) --------------------------------------- */

/** A nonce: hex of the issue time (ms since the epoch of @p now) and a MAC
 *  over it with @p secret, so the registrar keeps no nonce state. */
int dum_auth_nonce(char *buf, size_t sz, const uint8_t secret[16],
		   uint64_t now_ms);

/** 0: nonce ours and fresh; ETIMEDOUT: ours but older than @p ttl_ms
 *  (answer stale=true); EACCES: not ours. */
int dum_auth_nonce_check(const struct pl *nonce, const uint8_t secret[16],
			 uint64_t now_ms, uint64_t ttl_ms);

/** Checks a decoded Authorization against @p password. 0 or EACCES. */
int dum_auth_verify(const struct httpauth_digest_resp *resp,
		    const char *method, const char *password);

/* ---- events (reg_client.c) --------------------------------------------- */

/** A registration event whose info is a deep copy of @p tmpl. */
struct redum_dum_event *dum_reg_ev_new(struct redum_dum *dum,
				       enum redum_usage_type ut,
				       redum_dum_handle h,
				       enum redum_dum_ev_type type,
				       const struct redum_reg_info *tmpl);

/** The command packing of the registration commands. */
struct dum_reg_params {
	uint32_t expires, retry_min_s, retry_max_s;
};

#endif
