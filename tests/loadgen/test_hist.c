/**
 * @file test_hist.c  The loadgen's log-linear latency histogram: bucket
 *                    bounds, percentiles within 1/64, merge, edge values.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "tools/loadgen/lg_hist.h"

static struct lg_hist h, h2;

Test(lg_hist, buckets_are_contiguous_and_bound_their_values)
{
	uint32_t prev = 0;

	for (uint64_t v = 0; v < 200000; v++) {
		uint32_t i = lg_hist_index(v);
		cr_assert(i == prev || i == prev + 1, "v %lu: %u after %u",
			  (unsigned long)v, i, prev);
		cr_assert(lg_hist_low(i) <= v && v <= lg_hist_high(i));
		prev = i;
	}
	cr_assert_lt(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS);
	cr_assert_eq(lg_hist_high(lg_hist_index(UINT64_MAX)), UINT64_MAX);
	/* exact below 128; 1/64 relative width above */
	cr_assert_eq(lg_hist_low(lg_hist_index(127)), 127);
	for (uint64_t v = 128; v < (1ull << 40); v = v * 3 + 7) {
		uint32_t i = lg_hist_index(v);
		cr_assert_leq((double)(lg_hist_high(i) - lg_hist_low(i)),
			      (double)lg_hist_low(i) / 64.0 + 1);
	}
}

Test(lg_hist, percentiles_of_a_uniform_ramp)
{
	lg_hist_reset(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		lg_hist_record(&h, v);

	cr_assert_eq(h.count, 100000);
	cr_assert_eq(h.min, 1);
	cr_assert_eq(h.max, 100000);
	struct { double p; double want; } t[] = {
		{50, 50000}, {90, 90000}, {99, 99000}, {99.9, 99900},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double got = (double)lg_hist_percentile(&h, t[i].p);
		cr_assert(got >= t[i].want && got <= t[i].want * (1 + 1 / 64.0),
			  "p%g: %g, want %g", t[i].p, got, t[i].want);
	}
	cr_assert_eq(lg_hist_percentile(&h, 100), 100000);
}

Test(lg_hist, a_tail_is_not_hidden)
{
	lg_hist_reset(&h);
	for (int i = 0; i < 990; i++)
		lg_hist_record(&h, 1000);      /* 1 ms */
	for (int i = 0; i < 10; i++)
		lg_hist_record(&h, 5000000);   /* 5 s  */

	cr_assert_leq(lg_hist_percentile(&h, 99), 1000 * 65 / 64);
	cr_assert_geq(lg_hist_percentile(&h, 99.9), 5000000);
	cr_assert_eq(lg_hist_percentile(&h, 99.9), 5000000);  /* capped at max */
	cr_assert_eq(h.max, 5000000);
}

Test(lg_hist, merge_and_empty)
{
	lg_hist_reset(&h);
	lg_hist_reset(&h2);
	cr_assert_eq(lg_hist_percentile(&h, 50), 0);
	lg_hist_record(&h, 10);
	lg_hist_record(&h2, 20);
	lg_hist_record(&h2, 0);
	lg_hist_merge(&h, &h2);
	cr_assert_eq(h.count, 3);
	cr_assert_eq(h.min, 0);
	cr_assert_eq(h.max, 20);
	cr_assert_eq(lg_hist_percentile(&h, 50), 10);
}
