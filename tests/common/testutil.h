/**
 * @file testutil.h  What every test harness needs once: a monotonic clock,
 *                   free loopback ports, SIPp children (spawn with the
 *                   common arguments, wait with a watchdog), scenario
 *                   paths, and the stack configuration the tests start
 *                   from. Library redum_testutil (tests/common/).
 *
 * Every function is for a test's own thread (no shared state unless
 * said) and is blocking where it waits.
 */
#ifndef REDUM_TEST_TESTUTIL_H
#define REDUM_TEST_TESTUTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

struct redum_stack_conf;

/** A minimal SDP (audio, 127.0.0.1) the tests offer and answer with. */
extern const char rtest_sdp[];

/** Milliseconds on a monotonic clock. */
int64_t rtest_now(void);

/** A port on 127.0.0.1 free now for both UDP and TCP (@p socktype is
 *  kept for the callers' intent), taken below the kernel's ephemeral
 *  range so no outgoing connection of a test running side by side takes
 *  it meanwhile. Never the same port twice from one thread. 0 if none.
 *  Any thread. */
uint16_t rtest_free_port(int socktype);

/** "@p dir/@p name" in a buffer of the calling thread (valid until its
 *  next call): a scenario file's path. */
const char *rtest_path(const char *dir, const char *name);

/**
 * Starts `sipp [target] -i 127.0.0.1 -p LPORT -buff_size 4194304
 * -nostdin -timeout Ts -timeout_error [pre...] [args...]` as a child
 * (stdout to /dev/null, working directory /tmp, signals unblocked).
 * @param target  remote host:port (a UAC), or NULL (a UAS)
 * @param timeout_s  SIPp's own overall timeout (an error when reached)
 * @param pre  NULL-ended arguments added first (may be NULL)
 * @param arg  NULL-ended arguments (variadic / va_list)
 * With DUMTEST_TRACE set in the environment, every child also logs its
 * messages to that file (-trace_msg).
 * @return the child's pid, or -1
 */
pid_t rtest_sipp_vspawn(const char *target, uint16_t lport,
			unsigned timeout_s, const char *const *pre,
			const char *arg, va_list ap);
pid_t rtest_sipp_spawn(const char *target, uint16_t lport,
		       unsigned timeout_s, const char *arg, ...);

/** Waits for a SIPp child up to @p timeout_ms, then kills it (the
 *  watchdog). While waiting it calls @p pump(10) (the harness's event
 *  pump, so the peer keeps being answered), or sleeps 10 ms if NULL.
 *  @return its exit status, or -1 (killed, signalled, not found) */
int rtest_sipp_wait(pid_t pid, int timeout_ms, void (*pump)(int ms));

/** A stack configuration on udp:127.0.0.1:0 with T1 @p t1_ms (T2 at least
 *  T1, graceful bound 64*T1), hashes of 1024 and a 4096-command FIFO.
 *  @return 0 or an errno of redum_stack_conf_listen */
int rtest_stack_conf(struct redum_stack_conf *sc, const char *software,
		     uint32_t t1_ms);

#endif
