/**
 * @file malloc_tune.h  glibc's malloc tuned for a fast-growing heap (tools)
 */
#ifndef REDUM_TOOLS_MALLOC_TUNE_H
#define REDUM_TOOLS_MALLOC_TUNE_H

/**
 * Tunes glibc's malloc for a process that runs the stack at thousands of
 * calls/s. libre's transactions keep ~4 KB per call for 32 s, so the heap
 * grows and shrinks by hundreds of MB under load.
 *
 * 1. Huge pages: re-executes the program (same pid, same argv) with
 *    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 added (malloc madvise()s its
 *    heaps MADV_HUGEPAGE), unless it is set already or REDUM_NO_THP is.
 *    Every new 4 KiB page was a page fault (15% of the stack thread at
 *    3000 calls/s on this VM), then a TLB miss. Measured with
 *    redum-stack-echo: 128-142 µs per call without, 81-83 with (3000
 *    calls/s, 30 s). A tunable is read only at process start, hence the
 *    re-exec; if exec fails the program runs on with 4 KiB pages.
 * 2. Unless REDUM_NO_MALLOPT is set: M_TOP_PAD 64 MiB and M_TRIM_THRESHOLD
 *    512 MiB, so glibc keeps the heap (pads growth, never trims) instead
 *    of paying brk() and page faults each time.
 *
 * An application's choice, never the library's: call it first thing in
 * main(), after the arguments are checked (they are parsed twice).
 *
 * Thread: main, before any other thread is started.
 */
void redum_tool_malloc_tune(char *argv[]);

#endif
