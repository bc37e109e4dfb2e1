/**
 * @file dumtest_cr.h  Criterion steps over the tapp harness (dumtest.h)
 *                     that the DUM-against-SIPp suites share: a SIPp UAS,
 *                     a call with an offer, its BYE, and the end of a
 *                     test (nothing left alive, SIPp passed, DUM stopped).
 *                     Static inline: each suite includes it once.
 */
#ifndef REDUM_TEST_DUMTEST_CR_H
#define REDUM_TEST_DUMTEST_CR_H

#include <criterion/criterion.h>
#include <string.h>
#include "dumtest.h"

/** A SIPp UAS running tt_scen(@p scen) on a free port (@p uri: the URI
 *  to call, user "sipp"). @return its pid */
static inline pid_t tcr_sipp_uas(const char *scen, char *uri, size_t sz)
{
	pid_t pid = tt_sipp_uas(tt_scen(scen), "sipp", uri, sz, NULL);

	cr_assert(pid > 0, "sipp %s did not start", scen);
	return pid;
}

/** A call with the SDP offer from @p a to @p uri. @return its handle */
static inline redum_dum_handle tcr_call(struct tapp *a, const char *uri)
{
	redum_dum_handle h = 0;

	cr_assert_eq(tapp_call(a, uri, &h), 0);
	cr_assert(h);
	return h;
}

/** The next TERMINATED of @p a is call @p h's, for @p reason.
 *  @return the event (for more checks) */
static inline const struct tev *tcr_expect_term(struct tapp *a,
						redum_dum_handle h,
						enum redum_term_reason reason,
						int timeout_ms)
{
	const struct tev *t = tapp_expect(a, REDUM_DUM_EV_TERMINATED,
					  timeout_ms);

	cr_assert(t, "not terminated");
	cr_expect_eq(t->h, h);
	cr_expect_eq(t->reason, reason, "reason %s, expected %s",
		     redum_term_reason_name(t->reason),
		     redum_term_reason_name(reason));
	return t;
}

/** Ends call @p h: BYE from redum, TERMINATED(local BYE). */
static inline void tcr_hang_up(struct tapp *a, redum_dum_handle h,
			       int timeout_ms)
{
	cr_assert_eq(redum_invite_end(a->dum, h), 0);
	tcr_expect_term(a, h, REDUM_TERM_LOCAL_BYE, timeout_ms);
}

/** No usage and no dialog left in @p a (after 100 ms of events). */
static inline void tcr_expect_clean(struct tapp *a)
{
	struct redum_dum_stats st;

	tapp_pump(100);
	redum_dum_stats(a->dum, &st);
	cr_expect_eq(st.usages_alive, 0, "usages left: %llu",
		     (unsigned long long)st.usages_alive);
	cr_expect_eq(st.dialogs, 0, "dialogs left");
}

/** The end of a test: nothing left alive, SIPp @p pid's scenario passed
 *  (within @p sipp_wait_ms), @p a stopped in time. */
static inline void tcr_finish(struct tapp *a, pid_t pid, int sipp_wait_ms)
{
	tcr_expect_clean(a);
	cr_expect_eq(tt_sipp_wait(pid, sipp_wait_ms), 0, "sipp failed");
	cr_expect(tapp_stop(a, 10000));
}

#endif
