/**
 * @file test_sub_app.h  Subscription/publication/pager test harness: a
 *                       stack + DUM pair whose events are recorded on the
 *                       test thread (manual application attach); optional
 *                       automatic answers to SUB_NEW. Used by the Criterion
 *                       suites and by the threaded plain check.
 */
#ifndef REDUM_TEST_SUB_APP_H
#define REDUM_TEST_SUB_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>
#include <redum/sub.h>

/** One recorded event (copies). */
struct sev {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h;
	int err;
	uint16_t scode;
	char event[32], state[16], reason[32], resource[64], etag[64];
	uint32_t expires, retry_after;
	bool timed_out, removed;
	char body[512];
	size_t body_len;
};

enum { SAPP_QLEN = 512 };

struct sapp {
	struct redum_stack *stack;
	struct redum_dum *dum;
	uint16_t port;
	char uri[64];                 /* sip:dum@127.0.0.1:PORT */
	struct sev q[SAPP_QLEN];
	unsigned head, tail;
	bool deleted;
	/* SUB_NEW: accepted at once with this body when set */
	const char *auto_accept_body;
	uint32_t accepted;
	bool quiet;                   /* no "skipping" lines (set after start) */
};

/** Set before sapp_start(): no on_message handler (DUM's auto 200). */
extern bool sapp_no_on_message;
/** Set before sapp_start(): DUM's digest credentials (conf.creds). */
extern const struct redum_dum_cred *sapp_creds;
extern uint32_t sapp_ncreds;

/** Starts a stack (T1 @p t1_ms) and a DUM thread with @p sc (may be NULL:
 *  client side only). @p on_new: take SUBSCRIBE with an on_sub_new
 *  handler. */
int sapp_start(struct sapp *a, uint32_t t1_ms,
	       const struct redum_sub_conf *sc, bool on_new);
const struct sev *sapp_next(struct sapp *a, int timeout_ms);
const struct sev *sapp_expect(struct sapp *a, enum redum_dum_ev_type type,
			      int timeout_ms);
void sapp_pump(int ms);
bool sapp_stop(struct sapp *a, int timeout_ms);
int  sapp_sipp_wait(pid_t pid, int timeout_ms);
/** A request from @p a to @p uri. */
void sapp_req(const struct sapp *a, const char *uri, const char *event,
	      uint32_t expires, struct redum_sub_req *req);

#endif
