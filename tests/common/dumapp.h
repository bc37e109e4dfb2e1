/**
 * @file dumapp.h  The one DUM test application core: a stack
 *                 (udp:127.0.0.1:0) and a DUM on it, whose events are
 *                 recorded on the test thread (the application thread,
 *                 manual attach) into a bounded queue, with next / expect
 *                 / pump / stop and the can-be-deleted bookkeeping.
 *
 * The suites' apps (tests/dum tapp, rapp, sapp; tests/shutdown sapp) are
 * this core plus what differs: which handlers record, what an event record
 * copies (a `copy` callback into the suite's own record type), and hooks.
 * A suite's struct starts with DUMAPP_HEAD, so its tests keep writing
 * `A.dum`, `A.port`, `A.uri`, while the dumapp_* functions take
 * `&A.core`. Everything runs on the one test thread.
 */
#ifndef REDUM_TEST_DUMAPP_H
#define REDUM_TEST_DUMAPP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <redum/dum.h>

struct dumapp;

/** What a suite's app adds to the core (one const instance per suite). */
struct dumapp_kind {
	const char *name;    /* "tapp": diagnostics                      */
	size_t esz;          /* size of one event record (0: none kept)  */
	unsigned qlen;       /* records in the queue (<= DUMAPP_QLEN_MAX) */
	/* fills the (zeroed) record of @p ev; NULL: nothing copied */
	void (*copy)(struct dumapp *d, void *rec,
		     const struct redum_dum_event *ev);
	/* every event, before it is recorded (e.g. an automatic answer) */
	void (*on_event)(struct dumapp *d, struct redum_dum *dum,
			 const struct redum_dum_event *ev);
	/* on_dum_can_be_deleted, before `deleted` is set */
	void (*on_deleted)(struct dumapp *d, struct redum_dum *dum);
};

enum { DUMAPP_QLEN_MAX = 4096 };

/** The part of every recorded event the core itself keeps (to find
 *  events by type and to say what it skipped). */
struct dumapp_ev {
	enum redum_dum_ev_type type;
	enum redum_term_reason reason;
	int err;
	uint16_t scode;
};

#define DUMAPP_FIELDS                                                      \
	struct redum_stack *stack;                                          \
	struct redum_dum *dum;                                              \
	uint16_t port;           /* the stack's listener 0               */ \
	char uri[64];            /* sip:dum@127.0.0.1:PORT               */ \
	const struct dumapp_kind *kind;                                     \
	void *recs;              /* kind->qlen records of kind->esz      */ \
	unsigned head, tail;     /* next record: recs[head % qlen]       */ \
	uint64_t dropped;        /* events lost to a full queue          */ \
	bool quiet;              /* no "skipping" lines but errors'      */ \
	bool attached;           /* DUM on this thread's loop (re_main)  */ \
	_Atomic bool deleted;    /* on_dum_can_be_deleted came           */ \
	struct dumapp_ev evs[DUMAPP_QLEN_MAX];

struct dumapp {
	DUMAPP_FIELDS
};

/** The first member of a suite's app: the core, reachable as `core` and
 *  field by field (a->dum, a->port, ...). */
#define DUMAPP_HEAD union {                                                \
		struct dumapp core;                                        \
		struct { DUMAPP_FIELDS };                                  \
	}

/** What differs between the suites' stacks and DUMs. */
struct dumapp_conf {
	const char *software;     /* the stack's User-Agent/Server      */
	uint32_t t1_ms;
	uint32_t hsize;           /* transaction/object hashes; 0: 1024 */
	uint32_t cmd_capacity;    /* stack command FIFO; 0: 4096        */
	const struct redum_dum_conf *dum;  /* may be NULL: defaults     */
	bool attached;            /* embedding mode: DUM and app on this
				     thread's libre loop; events come from
				     re_main (not pumped)               */
	bool no_start;            /* DUM allocated and attached, not
				     started                            */
};

/** The event handler to put in every slot of redum_dum_handlers whose
 *  events the app records (arg: the core). */
void dumapp_rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg);

/** Sets every invite handler of @p hd to dumapp_rec. */
void dumapp_rec_invite(struct redum_dum_handlers *hd);
/** Sets every registration handler of @p hd to dumapp_rec. */
void dumapp_rec_reg(struct redum_dum_handlers *hd);
/** Sets the subscription/publication/pager handlers of the client side
 *  (update, terminated, failure, pub success/failure/removed, message
 *  result) of @p hd to dumapp_rec. */
void dumapp_rec_sub(struct redum_dum_handlers *hd);

/**
 * Starts the stack and the DUM with handlers @p hd (its recording slots
 * set to dumapp_rec; on_dum_can_be_deleted and arg are filled here).
 * Clears the core's fields (not the suite's). Started (not attached)
 * apps are pumped by dumapp_pump(). @return 0 or an errno
 */
int dumapp_start(struct dumapp *d, const struct dumapp_kind *kind, void *q,
		 struct redum_dum_handlers *hd, const struct dumapp_conf *c);

/** Dispatches the events of every started app for up to @p ms (at
 *  least that long when there is nothing to wait for). */
void dumapp_pump(int ms);

/** The next record without waiting, or NULL. */
const void *dumapp_pop(struct dumapp *d);
/** The next record, pumping every app meanwhile; NULL after
 *  @p timeout_ms. */
const void *dumapp_next(struct dumapp *d, int timeout_ms);
/** The next record of @p type (others skipped, and said unless quiet);
 *  NULL after @p timeout_ms (said). */
const void *dumapp_expect(struct dumapp *d, enum redum_dum_ev_type type,
			  int timeout_ms);

/** Pumps until on_dum_can_be_deleted (attached: runs this thread's
 *  loop). @return true if it came within @p timeout_ms */
bool dumapp_wait_deleted(struct dumapp *d, int timeout_ms);
/** After can-be-deleted: frees DUM (unless @p dum_freed: the app freed
 *  it in its final callback), stops the pump of it, shuts the stack down
 *  and joins it. @return true if all went well */
bool dumapp_free(struct dumapp *d, bool dum_freed);
/** redum_dum_stop(), wait for can-be-deleted, dumapp_free().
 *  @return true if everything ended within @p timeout_ms */
bool dumapp_stop(struct dumapp *d, int timeout_ms);

/** Waits for a SIPp child while pumping every app (rtest_sipp_wait). */
int dumapp_sipp_wait(pid_t pid, int timeout_ms);

/** Runs this thread's libre loop (attached apps) for @p ms, or until
 *  @p d (may be NULL) got can-be-deleted; pumps the others meanwhile. */
void dumapp_run(struct dumapp *d, int ms);

#endif
