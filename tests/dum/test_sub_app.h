/**
 * @file test_sub_app.h  Subscription/publication/pager test harness: a
 *                       stack + DUM pair whose events are recorded on the
 *                       test thread (manual application attach); optional
 *                       automatic answers to SUB_NEW. Used by the Criterion
 *                       suites and by the threaded plain check.
 */
#ifndef REDUM_TEST_SUB_APP_H
#define REDUM_TEST_SUB_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>
#include <redum/sub.h>
#include "dumapp.h"

/** One recorded event (copies). */
struct sev {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h;
	int err;
	uint16_t scode;
	char event[32], state[16], reason[32], resource[64], etag[64];
	uint32_t expires, retry_after;
	bool timed_out, removed;
	char body[512];
	size_t body_len;
};

enum { SAPP_QLEN = 512 };

/** The tests/common/dumapp.h core with subscription events copied into
 *  `struct sev`; `quiet` (no "skipping" lines) may be set after start. */
struct sapp {
	DUMAPP_HEAD;                  /* stack, dum, port, uri, quiet, ... */
	struct sev q[SAPP_QLEN];
	/* SUB_NEW: accepted at once with this body when set (after start) */
	const char *auto_accept_body;
	uint32_t accepted;
};

/** Set before sapp_start(): no on_message handler (DUM's auto 200). */
extern bool sapp_no_on_message;
/** Set before sapp_start(): DUM's digest credentials (conf.creds). */
extern const struct redum_dum_cred *sapp_creds;
extern uint32_t sapp_ncreds;

/** Starts a stack (T1 @p t1_ms) and a DUM thread with @p sc (may be NULL:
 *  client side only). @p on_new: take SUBSCRIBE with an on_sub_new
 *  handler. */
int sapp_start(struct sapp *a, uint32_t t1_ms,
	       const struct redum_sub_conf *sc, bool on_new);

static inline const struct sev *sapp_next(struct sapp *a, int timeout_ms)
{
	return dumapp_next(&a->core, timeout_ms);
}

static inline const struct sev *sapp_expect(struct sapp *a,
					    enum redum_dum_ev_type type,
					    int timeout_ms)
{
	return dumapp_expect(&a->core, type, timeout_ms);
}

static inline void sapp_pump(int ms)
{
	dumapp_pump(ms);
}

static inline bool sapp_stop(struct sapp *a, int timeout_ms)
{
	return dumapp_stop(&a->core, timeout_ms);
}

static inline int sapp_sipp_wait(pid_t pid, int timeout_ms)
{
	return dumapp_sipp_wait(pid, timeout_ms);
}

/** A request from @p a to @p uri. */
void sapp_req(const struct sapp *a, const char *uri, const char *event,
	      uint32_t expires, struct redum_sub_req *req);

#endif
