/**
 * @file baseline_signals.h  SIGTERM/SIGINT for the libre baselines: read
 * from a signalfd on the libre loop (never in a handler); either one ends
 * re_main(). Thread: main, before and inside re_main.
 */
#ifndef REDUM_BASELINE_SIGNALS_H
#define REDUM_BASELINE_SIGNALS_H

/** Blocks SIGTERM and SIGINT and opens a signalfd for them.
 *  @return the fd, or -1 (printed) */
int baseline_signals_open(void);

/** Listens on @p *fdp in the calling thread's libre loop: a signal
 *  re_cancel()s it. @return 0 or errno */
int baseline_signals_listen(int *fdp);

/** Stops listening and closes the fd (-1: nothing). */
void baseline_signals_close(int fd);

#endif
