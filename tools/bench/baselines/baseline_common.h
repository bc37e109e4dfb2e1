/**
 * @file baseline_common.h  What the libre baselines share: their SDP
 * answer, and SIGTERM/SIGINT read from a signalfd on the libre loop (never
 * in a handler); either one ends re_main(). Thread: main, before and
 * inside re_main.
 */
#ifndef REDUM_BASELINE_COMMON_H
#define REDUM_BASELINE_COMMON_H

/** The SDP answer of every call (the same placeholder redumd sends). */
extern const char baseline_answer_sdp[];

/** Blocks SIGTERM and SIGINT and opens a signalfd for them.
 *  @return the fd, or -1 (printed) */
int baseline_signals_open(void);

/** Listens on @p *fdp in the calling thread's libre loop: a signal
 *  re_cancel()s it. @return 0 or errno */
int baseline_signals_listen(int *fdp);

/** Stops listening and closes the fd (-1: nothing). */
void baseline_signals_close(int fd);

#endif
