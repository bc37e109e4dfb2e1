/**
 * @file lg_hist.h  A small HDR-style latency histogram (log-linear buckets)
 *
 * Values (microseconds in redum-loadgen, but any unit) below 128 get a
 * bucket each; above, every power of two is split into 64 linear buckets,
 * so a reported percentile is within 1/64 (1.6%) of the true value, for
 * any value up to 2^64 - 1, in a fixed 30 KiB array: recording is O(1)
 * (a count-leading-zeros and an add), no allocation.
 *
 * Thread: one owner (no locking); merge copies between owners if needed.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

enum {
	LG_HIST_SUB_BITS = 7,
	LG_HIST_SUB      = 1 << LG_HIST_SUB_BITS,        /* 128 */
	LG_HIST_HALF     = LG_HIST_SUB / 2,              /* 64  */
	LG_HIST_BUCKETS  = LG_HIST_SUB + (64 - LG_HIST_SUB_BITS) * LG_HIST_HALF,
};

struct lg_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t b[LG_HIST_BUCKETS];
};

/** Empties @p h. */
void lg_hist_reset(struct lg_hist *h);
/** Records one value. O(1). */
void lg_hist_record(struct lg_hist *h, uint64_t v);
/** Adds every count of @p src to @p dst. */
void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src);
/**
 * The value at percentile @p pct (0 < pct <= 100): the highest value that
 * falls in the same bucket as the value of rank ceil(pct/100 * count),
 * never above the exact maximum. 0 if the histogram is empty.
 */
uint64_t lg_hist_percentile(const struct lg_hist *h, double pct);
/** Bucket index of @p v, and the lowest/highest value of bucket @p i
 *  (exposed for the tests). */
uint32_t lg_hist_index(uint64_t v);
uint64_t lg_hist_low(uint32_t i);
uint64_t lg_hist_high(uint32_t i);

#endif /* LG_HIST_H */
