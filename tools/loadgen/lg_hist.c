/**
 * @file lg_hist.c  Log-linear latency histogram (see lg_hist.h)
 *
 * Bucket layout: index v for v < SUB (exact). For v >= SUB, with msb the
 * position of v's highest set bit, shift = msb - (SUB_BITS - 1) puts v >>
 * shift in [SUB/2, SUB): that is the linear sub-bucket, and each shift
 * (each power of two) has SUB/2 of them. Consecutive values map to
 * consecutive or equal indexes, so a cumulative walk gives percentiles.
 */
#include <string.h>
#include "lg_hist.h"


uint32_t lg_hist_index(uint64_t v)
{
	uint32_t msb, shift;

	if (v < LG_HIST_SUB)
		return (uint32_t)v;

	msb = 63u - (uint32_t)__builtin_clzll(v);
	shift = msb - (LG_HIST_SUB_BITS - 1);

	return LG_HIST_SUB + (shift - 1) * LG_HIST_HALF +
		(uint32_t)((v >> shift) - LG_HIST_HALF);
}


uint64_t lg_hist_low(uint32_t i)
{
	uint32_t j, shift;

	if (i < LG_HIST_SUB)
		return i;

	j = i - LG_HIST_SUB;
	shift = j / LG_HIST_HALF + 1;

	return (uint64_t)(j % LG_HIST_HALF + LG_HIST_HALF) << shift;
}


uint64_t lg_hist_high(uint32_t i)
{
	uint32_t shift;

	if (i < LG_HIST_SUB)
		return i;

	shift = (i - LG_HIST_SUB) / LG_HIST_HALF + 1;

	return lg_hist_low(i) + ((1ull << shift) - 1);
}


void lg_hist_reset(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
}


void lg_hist_record(struct lg_hist *h, uint64_t v)
{
	if (!h->count || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->b[lg_hist_index(v)]++;
}


void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src)
{
	if (!src->count)
		return;
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (uint32_t i = 0; i < LG_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}


uint64_t lg_hist_percentile(const struct lg_hist *h, double pct)
{
	uint64_t rank, seen = 0;
	double r;

	if (!h->count)
		return 0;
	if (pct >= 100.0)
		return h->max;

	r = pct / 100.0 * (double)h->count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;

	for (uint32_t i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = lg_hist_high(i);
			return v > h->max ? h->max : v;
		}
	}

	return h->max;
}
