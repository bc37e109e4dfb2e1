/**
 * @file test_reg_app.h  Registration test harness: a stack + DUM pair whose
 *                       registration events are recorded on the test
 *                       thread (manual application attach), optionally a
 *                       registrar; SIPp children pumped while they run.
 */
#ifndef REDUM_TEST_REG_APP_H
#define REDUM_TEST_REG_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include "dumapp.h"

/** One recorded event (copies). */
struct rev {
	enum redum_dum_ev_type type;
	redum_dum_handle h;
	int err;
	uint16_t scode;
	uint32_t expires, refresh_in, retry_in, bindingc;
	bool was_registered;
	char reason[64];
	char contact[4][128];        /* first bindings' contacts           */
	uint32_t bexp[4];
};

enum { RAPP_QLEN = 256 };

/** The tests/common/dumapp.h core with registration events copied into
 *  `struct rev`. */
struct rapp {
	DUMAPP_HEAD;               /* stack, dum, port, uri, ...          */
	struct rev q[RAPP_QLEN];
};

/** Starts a stack on udp:127.0.0.1:0 (T1 @p t1_ms) and a DUM thread;
 *  @p rc non-NULL makes it a registrar. */
int rapp_start(struct rapp *a, uint32_t t1_ms,
	       const struct redum_registrar_conf *rc);

/** Next event of @p type (others skipped and printed), or NULL. */
static inline const struct rev *rapp_expect(struct rapp *a,
					    enum redum_dum_ev_type type,
					    int timeout_ms)
{
	return dumapp_expect(&a->core, type, timeout_ms);
}

/** Next event of any type, or NULL after @p timeout_ms. */
static inline const struct rev *rapp_next(struct rapp *a, int timeout_ms)
{
	return dumapp_next(&a->core, timeout_ms);
}

/** Pumps every started app for @p ms. */
static inline void rapp_pump(int ms)
{
	dumapp_pump(ms);
}

/** Asks the registrar of @p a for @p aor's bindings; NULL on timeout. */
const struct rev *rapp_lookup(struct rapp *a, const char *aor);

/** Stops and frees; true if everything ended in time. */
static inline bool rapp_stop(struct rapp *a, int timeout_ms)
{
	return dumapp_stop(&a->core, timeout_ms);
}

/** Waits for SIPp @p pid, pumping the apps; its exit status or -1. */
static inline int rapp_sipp_wait(pid_t pid, int timeout_ms)
{
	return dumapp_sipp_wait(pid, timeout_ms);
}

#endif
