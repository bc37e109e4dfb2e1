/**
 * @file dumtest.h  DUM test harness: a stack + DUM pair ("app") whose
 *                  events are recorded on the test thread, SIPp children,
 *                  free loopback ports. The app is tests/common/dumapp.h's
 *                  core with invite/request events copied into `struct
 *                  tev`; the tt_* helpers are tests/common/testutil.h's.
 */
#ifndef REDUM_TEST_DUMTEST_H
#define REDUM_TEST_DUMTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>
#include "dumapp.h"
#include "testutil.h"

/** One recorded event (copies). */
struct tev {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h, related;
	int err;
	uint16_t scode;
	enum redum_term_reason reason;
	bool has_msg;
	char method[24];
	char to[256];
	char ctype[64];
	char body[1024];
	size_t body_len;
};

enum { TAPP_QLEN = 4096 };

/** A stack (udp:127.0.0.1:0) and a DUM on it; the test thread is the
 *  application thread (manual attach). Set before tapp_start():
 *  options_app (on_options recorded, else DUM's 200), attached (DUM and
 *  app on this thread's libre loop, redum_dum_attach: the test runs
 *  re_main itself, tapp_run), no_start (DUM allocated, not started). */
struct tapp {
	DUMAPP_HEAD;               /* stack, dum, port, uri, head, tail,
				      deleted, attached, dropped, ...    */
	struct tev q[TAPP_QLEN];
	bool options_app;
	bool no_start;
};

/** The SDP offer/answer every test sends (tests/common). */
#define tapp_sdp rtest_sdp

/** Starts a stack (T1 @p t1_ms) and a DUM thread. @p conf may be NULL. */
int tapp_start(struct tapp *a, uint32_t t1_ms,
	       const struct redum_dum_conf *conf);

/** Next recorded event of @p type (others skipped), pumping every app;
 *  NULL after @p timeout_ms. */
static inline const struct tev *tapp_expect(struct tapp *a,
					    enum redum_dum_ev_type type,
					    int timeout_ms)
{
	return dumapp_expect(&a->core, type, timeout_ms);
}

/** Next recorded event of any type, or NULL after @p timeout_ms. */
static inline const struct tev *tapp_next(struct tapp *a, int timeout_ms)
{
	return dumapp_next(&a->core, timeout_ms);
}

/** Next recorded event without waiting, or NULL. */
static inline const struct tev *tapp_pop(struct tapp *a)
{
	return dumapp_pop(&a->core);
}

/** Runs this thread's libre loop (attached apps) for @p ms, or until
 *  @p a (may be NULL) got on_dum_can_be_deleted; pumps the others. */
static inline void tapp_run(struct tapp *a, int ms)
{
	dumapp_run(a ? &a->core : NULL, ms);
}

/** Pumps all apps for @p ms. */
static inline void tapp_pump(int ms)
{
	dumapp_pump(ms);
}

/** Stops DUM, waits for on_dum_can_be_deleted, frees it, stops the stack.
 *  @return true if everything ended in time */
static inline bool tapp_stop(struct tapp *a, int timeout_ms)
{
	return dumapp_stop(&a->core, timeout_ms);
}

/** A request to @p peer's URI from @p a. */
void tapp_req(const struct tapp *a, const char *to_uri,
	      struct redum_dum_req *req);

/** A call with the SDP offer (tapp_sdp) from @p a to @p uri.
 *  @return redum_dum_call's result; *hp: the call */
int tapp_call(struct tapp *a, const char *uri, redum_dum_handle *hp);

/* SIPp and ports (tests/common/testutil.h), also declared by
 * tests/shutdown/shuttest.h */
uint16_t tt_free_port(void);
int64_t  tt_now(void);
/** sipp [target] -sf @p scen -m 1 with the common arguments (-timeout
 *  20s), then @p extra, NULL-ended. */
pid_t    tt_sipp_spawn(const char *scen, const char *target, uint16_t lport,
		       const char *extra, ...);
/** A SIPp UAC running scenario file @p scen once against
 *  127.0.0.1:@p dport, from a free port; @p extra...: more arguments,
 *  NULL-ended. @return its pid, or -1 */
pid_t    tt_sipp_uac(const char *scen, uint16_t dport,
		     const char *extra, ...);
/** A SIPp UAS running scenario file @p scen once on a free port, given
 *  300 ms to bind; @p uri gets sip:@p user@127.0.0.1:PORT (user NULL:
 *  sip:127.0.0.1:PORT). @p extra...:
 *  more arguments, NULL-ended. @return its pid, or -1 */
pid_t    tt_sipp_uas(const char *scen, const char *user, char *uri,
		     size_t sz, const char *extra, ...);
/** Waits for SIPp, pumping every app meanwhile. */
int      tt_sipp_wait(pid_t pid, int timeout_ms);
/** Path of a scenario in SCEN_DIR. */
const char *tt_scen(const char *name);

#endif
