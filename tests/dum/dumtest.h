/**
 * @file dumtest.h  DUM test harness: a stack + DUM pair ("app") whose
 *                  events are recorded on the test thread, SIPp children,
 *                  free loopback ports.
 */
#ifndef REDUM_TEST_DUMTEST_H
#define REDUM_TEST_DUMTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>

/** One recorded event (copies). */
struct tev {
	enum redum_dum_ev_type type;
	enum redum_usage_type usage;
	redum_dum_handle h, related;
	int err;
	uint16_t scode;
	enum redum_term_reason reason;
	bool has_msg;
	char method[24];
	char to[256];
	char ctype[64];
	char body[1024];
	size_t body_len;
};

enum { TAPP_QLEN = 4096 };

/** A stack (udp:127.0.0.1:0) and a DUM on it; the test thread is the
 *  application thread (manual attach). */
struct tapp {
	struct redum_stack *stack;
	struct redum_dum *dum;
	uint16_t port;
	char uri[64];              /* sip:dum@127.0.0.1:PORT */
	struct tev q[TAPP_QLEN];
	unsigned head, tail;
	bool deleted;
	bool options_app;          /* on_options set (else DUM's 200)  */
	bool attached;             /* DUM and app on this thread's libre
				      loop (redum_dum_attach): the test
				      runs re_main itself                */
	bool no_start;             /* DUM allocated, not started       */
	uint64_t dropped;
};

extern const char tapp_sdp[];

/** Starts a stack (T1 @p t1_ms) and a DUM thread. @p conf may be NULL. */
int tapp_start(struct tapp *a, uint32_t t1_ms,
	       const struct redum_dum_conf *conf);
/** Next recorded event of @p type (others skipped), pumping every app;
 *  NULL after @p timeout_ms. */
const struct tev *tapp_expect(struct tapp *a, enum redum_dum_ev_type type,
			      int timeout_ms);
/** Next recorded event of any type, or NULL after @p timeout_ms. */
const struct tev *tapp_next(struct tapp *a, int timeout_ms);
/** Runs this thread's libre loop (attached apps) for @p ms, or until
 *  @p a (may be NULL) got on_dum_can_be_deleted; pumps the others. */
void tapp_run(struct tapp *a, int ms);
/** Pumps all apps for @p ms. */
void tapp_pump(int ms);
/** Stops DUM, waits for on_dum_can_be_deleted, frees it, stops the stack.
 *  @return true if everything ended in time */
bool tapp_stop(struct tapp *a, int timeout_ms);

/** A request to @p peer's URI from @p a. */
void tapp_req(const struct tapp *a, const char *to_uri,
	      struct redum_dum_req *req);

uint16_t tt_free_port(void);
int64_t  tt_now(void);
pid_t    tt_sipp_spawn(const char *scen, const char *target, uint16_t lport,
		       const char *extra, ...);
int      tt_sipp_wait(pid_t pid, int timeout_ms);
const char *tt_scen(const char *name);

#endif
