/**
 * @file check.h  Pass/fail counting of the plain check executables (the
 *                TSan build's tests): CHECK() counts, prints each failure
 *                with its place, and rtest_check_report() prints the
 *                "N passed, N failed" line ctest and CI read last.
 *
 * CHECK may be used from any thread (the counters are atomic).
 */
#ifndef REDUM_TEST_CHECK_H
#define REDUM_TEST_CHECK_H

#include <stdatomic.h>

extern atomic_uint rtest_passed, rtest_failed;

void rtest_check_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Prints "N passed, N failed" (the last line of the output).
 *  @return the exit code: 0 if nothing failed, else 1 */
int rtest_check_report(void);

#define CHECK(cond, ...) do {                                          \
		if (cond)                                              \
			atomic_fetch_add(&rtest_passed, 1);            \
		else                                                   \
			rtest_check_fail(__FILE__, __LINE__,           \
					 __VA_ARGS__);                 \
	} while (0)

#endif
