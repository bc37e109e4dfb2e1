/**
 * @file check.c  Pass/fail counting of the plain checks (see check.h)
 */
#include <stdarg.h>
#include <stdio.h>
#include "check.h"

atomic_uint rtest_passed, rtest_failed;


void rtest_check_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&rtest_failed, 1);
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}


int rtest_check_report(void)
{
	unsigned f = atomic_load(&rtest_failed);

	printf("%u passed, %u failed\n", atomic_load(&rtest_passed), f);
	fflush(stdout);
	return f ? 1 : 0;
}
