/**
 * @file tsan_fifo_wakeup_stress.c  Plain check (runs under TSan): ping-pong
 *       over two FIFOs, both sides sleeping on the doorbell every round; a
 *       lost wake-up stalls it and the watchdog fails it.
 *
 * Rounds: argv[1], else $REDUM_FIFO_PINGPONG_N, else 50000.
 * Prints "N passed, N failed" last; exit status 0 only if all passed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fifo_testlib.h"

static unsigned passed, failed;

static void watchdog_fail(const char *why)
{
	printf("FAIL watchdog: %s\n%u passed, %u failed\n", why, passed,
	       failed + 1);
	fflush(stdout);
	_Exit(1);
}

int main(int argc, char *argv[])
{
	uint64_t n = fifo_test_count("REDUM_FIFO_PINGPONG_N", 50000);
	char why[512] = "";

	if (argc > 1 && strtoull(argv[1], NULL, 10) > 0)
		n = strtoull(argv[1], NULL, 10);

	fifo_watchdog_set_fail_handler(watchdog_fail);

	/* No spin: both sides arm and sleep on the doorbell every round. */
	if (fifo_stress_pingpong(n, 0, 0, 10000, why, sizeof(why))) {
		++failed;
		printf("FAIL ping-pong, no spin, %llu rounds: %s\n",
		       (unsigned long long)n, why);
	}
	else {
		++passed;
		printf("ok   ping-pong, no spin, %llu rounds\n",
		       (unsigned long long)n);
	}
	fflush(stdout);

	/* Default spin, answers after 0..5 us: around the peer's spin, arm
	 * and re-check. */
	why[0] = '\0';
	if (fifo_stress_pingpong(n / 4 + 1, 2000, 5000, 10000, why,
				 sizeof(why))) {
		++failed;
		printf("FAIL ping-pong, spin + jitter, %llu rounds: %s\n",
		       (unsigned long long)(n / 4 + 1), why);
	}
	else {
		++passed;
		printf("ok   ping-pong, spin + jitter, %llu rounds\n",
		       (unsigned long long)(n / 4 + 1));
	}

	printf("%u passed, %u failed\n", passed, failed);

	return failed ? 1 : 0;
}
