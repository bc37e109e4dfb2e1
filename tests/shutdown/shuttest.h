/**
 * @file shuttest.h  Shutdown test harness: stack + DUM pairs ("sapp") with
 *                   handlers that count events, answer calls on request,
 *                   run a hook (e.g. a shutdown from inside a handler) and
 *                   keep the final report; a watchdog per wait.
 */
#ifndef REDUM_TEST_SHUTTEST_H
#define REDUM_TEST_SHUTTEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/sub.h>
#include "dumapp.h"
#include "dumtest.h"     /* tt_*: SIPp, ports, clock (tests/dum) */
#include "testutil.h"

struct sapp;
typedef void (sapp_hook_h)(struct sapp *a, const struct redum_dum_event *ev);

enum { SAPP_MAX_FORCED = 64, SAPP_MAX_SEQ = 4096 };

/** One recorded event in arrival order (for order checks). */
struct sseq {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h;
	enum redum_term_reason reason;
	int err;
	uint16_t scode;
};

/* The tests/common/dumapp.h core (no event queue: events are counted)
 * and the shutdown tests' options, counters and final report. */
struct sapp {
	DUMAPP_HEAD;               /* stack, dum, port, uri, deleted, ... */
	/* options (set before sapp_start) */
	bool auto_answer;          /* NEW -> 200 with SDP               */
	bool registrar;            /* DUM is a registrar                */
	bool notifier;             /* DUM takes SUBSCRIBE (presence
				      agent), PUBLISH and MESSAGE       */
	bool free_in_final;        /* redum_dum_free() inside the final
				      callback                          */
	uint32_t t1_ms;
	sapp_hook_h *hook;         /* every event, after counting       */
	void *hook_arg;
	/* counters (application thread) */
	unsigned nev[REDUM_DUM_EV_COUNT];
	unsigned err_shutdown, err_other;
	struct sseq seq[SAPP_MAX_SEQ];
	unsigned nseq;
	redum_dum_handle last_new;
	uint32_t last_bindingc;    /* of the last REG_BINDINGS          */
	/* the end (and `deleted`, atomic, in the core) */
	bool freed;
	bool got_report;
	struct redum_shutdown_report rep;   /* copy; forced[] below     */
	struct redum_shutdown_usage forced[SAPP_MAX_FORCED];
	char report_text[8192];
	int64_t t_deleted;
};

/** The SDP offer/answer every test sends (tests/common). */
#define sapp_sdp rtest_sdp

/** Starts a stack (udp:127.0.0.1:0) and a DUM thread; this thread is the
 *  application thread (manual drain). @return 0 or an errno */
int sapp_start(struct sapp *a);
/** Dispatches events of every started app for up to @p ms. */
static inline void sapp_pump(int ms)
{
	dumapp_pump(ms);
}
/** Pumps until @p cond(a) or @p timeout_ms: true if cond held. */
bool sapp_wait(bool (*cond)(struct sapp *a, void *arg), struct sapp *a,
	       void *arg, int timeout_ms);
/** Pumps until a's on_dum_can_be_deleted (the watchdog: @p timeout_ms);
 *  then frees DUM and stops the stack. @return true if it finished */
bool sapp_finish(struct sapp *a, int timeout_ms);
/** Makes a call from @p a to @p uri. @return 0 or an errno */
int sapp_call(struct sapp *a, const char *uri, redum_dum_handle *hp);
/** A subscription / publication / MESSAGE from @p a to @p uri. */
int sapp_subscribe(struct sapp *a, const char *uri, redum_dum_handle *hp);
int sapp_publish(struct sapp *a, const char *uri, redum_dum_handle *hp);
int sapp_message(struct sapp *a, const char *uri, redum_dum_handle *hp);
/** A registration of @p aor from @p a with @p registrar (a URI),
 *  expires 600. @return 0 or an errno */
int sapp_register(struct sapp *a, const char *registrar, const char *aor,
		  redum_dum_handle *hp);
/** Counter of an event type. */
unsigned sapp_n(const struct sapp *a, enum redum_dum_ev_type t);
/** Pumps until @p a counted @p n events of type @p t (or @p timeout_ms
 *  passed): true if it did. */
bool sapp_wait_n(struct sapp *a, enum redum_dum_ev_type t, unsigned n,
		 int timeout_ms);

/** Waits for SIPp (killed after @p timeout_ms) while pumping the apps.
 *  @return its exit code, -1 if killed or failed */
static inline int sapp_sipp_wait(pid_t pid, int timeout_ms)
{
	return dumapp_sipp_wait(pid, timeout_ms);
}

#endif
