/**
 * @file tsan_fifo_mpsc_stress.c  Plain check (runs under TSan): MPSC and
 *       SPSC FIFOs across threads, nothing lost, duplicated or reordered.
 *
 * Messages per producer: argv[1], else $REDUM_FIFO_STRESS_N, else 200000
 * (TSan slows this down ~10x; the Criterion suite runs 4 x 1M).
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

static void check(const char *name, int ret, const char *why)
{
	if (ret) {
		++failed;
		printf("FAIL %s: %s\n", name, why);
	}
	else {
		++passed;
		printf("ok   %s\n", name);
	}
	fflush(stdout);
}

int main(int argc, char *argv[])
{
	uint64_t n = fifo_test_count("REDUM_FIFO_STRESS_N", 200000);
	char why[512];

	if (argc > 1 && strtoull(argv[1], NULL, 10) > 0)
		n = strtoull(argv[1], NULL, 10);

	fifo_watchdog_set_fail_handler(watchdog_fail);

	why[0] = '\0';
	check("mpsc 4 producers", fifo_stress_mpsc(REDUM_FIFO_MPSC, 4, n,
						    1024, false, why,
						    sizeof(why)), why);
	/* A tiny ring: full and wrapping all the time, the consumer arming
	 * and being rung every few messages (slow, hence n / 8). */
	why[0] = '\0';
	check("mpsc 2 producers, capacity 8",
	      fifo_stress_mpsc(REDUM_FIFO_MPSC, 2, n / 8 + 1, 8, false, why,
			       sizeof(why)), why);
	why[0] = '\0';
	check("spsc", fifo_stress_mpsc(REDUM_FIFO_SPSC, 1, n, 256, false,
					why, sizeof(why)), why);
	/* Heap objects written by the producer, read + freed by the
	 * consumer: TSan checks the payload's hand-over. */
	why[0] = '\0';
	check("mpsc 3 producers, heap messages",
	      fifo_stress_mpsc(REDUM_FIFO_MPSC, 3, n / 4 + 1, 64, true, why,
			       sizeof(why)), why);
	why[0] = '\0';
	check("spsc, heap messages",
	      fifo_stress_mpsc(REDUM_FIFO_SPSC, 1, n / 2 + 1, 64, true, why,
			       sizeof(why)), why);

	printf("%u passed, %u failed\n", passed, failed);

	return failed ? 1 : 0;
}
