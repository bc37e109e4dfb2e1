/**
 * @file shutdown.h  Staged shutdown of a DUM: graceful (usages ended in
 *                   order, bounded by a give-up deadline), if-no-usages,
 *                   forced; progress snapshots and the final report
 *
 * Every mode ends the same way (docs/SHUTDOWN.md):
 *
 *   DUM asks the stack to remove it as a TU -> the stack posts
 *   TransactionUserRemoved as the final message of DUM's inbound FIFO ->
 *   DUM closes the application FIFO -> the application gets the report
 *   handler (if any) and then on_dum_can_be_deleted, on its own thread,
 *   after every event posted before. Only then may the stack be shut down
 *   and joined.
 *
 * While a shutdown runs: new dialog-creating requests get 503 with
 * Retry-After (redum_dum_conf.retry_after; 503 rather than 480 because the
 * service, not the callee, is unavailable: a peer may fail over at once);
 * commands that would create a usage complete with an ERROR event, err
 * ESHUTDOWN; once the command FIFO is closed (after TransactionUserRemoved)
 * every command function returns EPIPE at once. Commands on existing
 * usages keep working (an application may end its calls itself).
 */
#ifndef REDUM_SHUTDOWN_H
#define REDUM_SHUTDOWN_H

#include <stdbool.h>
#include <stdint.h>
#include <redum/dum.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Most stages of an order. */
enum { REDUM_SHUTDOWN_MAX_STAGES = 12 };

/** A set of usage types: bit (1u << enum redum_usage_type). */
#define REDUM_USAGE_BIT(t) (1u << (t))

enum redum_shutdown_mode {
	REDUM_SHUTDOWN_NONE = 0,
	REDUM_SHUTDOWN_GRACEFUL,       /**< ordered, bounded by give_up_ms  */
	REDUM_SHUTDOWN_IF_NO_USAGES,   /**< as graceful, refused if busy    */
	REDUM_SHUTDOWN_FORCED,         /**< nothing more sent, all freed    */
};

/** Where a shutdown is. */
enum redum_shutdown_phase {
	REDUM_SHUTDOWN_RUNNING = 0,    /**< not asked                       */
	REDUM_SHUTDOWN_REQUESTED,      /**< asked, DUM thread not there yet */
	REDUM_SHUTDOWN_ENDING,         /**< ending usages, stage by stage   */
	REDUM_SHUTDOWN_REMOVING,       /**< TU removal asked of the stack   */
	REDUM_SHUTDOWN_FINISHING,      /**< TransactionUserRemoved in; app
					    FIFO closing                    */
	REDUM_SHUTDOWN_DONE,           /**< app FIFO closed                 */
};

struct redum_shutdown_report;

/** Receives the final report on the application thread, just before
 *  on_dum_can_be_deleted. The report stays valid until redum_dum_free(). */
typedef void (redum_shutdown_report_h)(struct redum_dum *dum,
				       const struct redum_shutdown_report *r,
				       void *arg);

/** Graceful shutdown configuration; redum_shutdown_conf_init() first. */
struct redum_shutdown_conf {
	/** Give-up deadline, counted from the DUM thread taking the request
	 *  up (at once; at worst at its next 50 ms tick): what remains then
	 *  is force-ended and named in the report. 0 = wait forever.
	 *  Default 4000. */
	uint32_t give_up_ms;
	/** Stages: each a set of REDUM_USAGE_BIT()s, ended in turn, each
	 *  stage waiting until every usage of it and of the stages before it
	 *  is gone. Types in no stage are ended in an implicit last stage.
	 *  Default (7 stages): invite-server (with request-server,
	 *  publication-server, registrar), subscription-server,
	 *  invite-client, subscription-client, pager (with request-client),
	 *  publication-client, registration-client. */
	uint32_t stages[REDUM_SHUTDOWN_MAX_STAGES];
	uint32_t nstages;
	/** End every stage at once (no waiting between stages). */
	bool all_at_once;
	/** Log a line to stderr at each stage change and at the deadline
	 *  (default true). */
	bool log;
	/** Final report handler (application thread), or NULL. */
	redum_shutdown_report_h *reporth;
	void *arg;
};

/** Fills the defaults above. Thread: any. Wait-free. */
void redum_shutdown_conf_init(struct redum_shutdown_conf *conf);

/**
 * Graceful shutdown: refuse new work, end usages stage by stage, then
 * remove DUM from the stack (see the file comment for the final steps).
 *
 * Thread: any, the application thread and DUM's handlers included (it
 * only records the request and wakes the DUM thread; it never waits for
 * it). Blocking only on a short internal mutex (never held across I/O).
 *
 * @param conf  NULL: the defaults with give_up_ms = redum_dum_conf.stop_ms
 * @return 0, EALREADY (a shutdown is already under way: nothing changed),
 *         EINVAL
 */
int redum_dum_shutdown(struct redum_dum *dum,
		       const struct redum_shutdown_conf *conf);

/**
 * Shuts down only if no usage exists; else returns EBUSY and changes
 * nothing. The check reads the usage counters on the calling thread; a
 * request that creates a usage on the DUM thread in the instant between
 * the check and the DUM thread taking the shutdown up is ended gracefully
 * like any usage (within @p give_up_ms).
 *
 * Thread: any. @return 0, EBUSY, EALREADY, EINVAL
 */
int redum_dum_shutdown_if_no_usages(struct redum_dum *dum,
				    uint32_t give_up_ms);

/**
 * Forced shutdown: DUM sends nothing more to peers and asks the stack to
 * abandon its TU (the stack answers pending server transactions 503 and
 * cancels pending client transactions: docs/STACK.md "Removal of a TU").
 * Every usage is freed (each invite session gets TERMINATED, reason
 * shutdown) and named in the report. Bounded by the stack's abandon, not
 * by any peer. During a graceful shutdown it escalates it.
 *
 * Thread: any. @return 0, EALREADY (already forced), EINVAL
 */
int redum_dum_shutdown_force(struct redum_dum *dum);

/** A usage the shutdown is waiting for, or force-ended. */
struct redum_shutdown_usage {
	redum_dum_handle h;
	enum redum_usage_type type;
	int state;
	const char *state_name;   /**< static string                       */
	const char *waiting_for;  /**< static string: what it waited for    */
	uint32_t age_ms;          /**< since the usage was created          */
};

/** A snapshot of a shutdown in progress. */
struct redum_shutdown_progress {
	enum redum_shutdown_mode mode;
	enum redum_shutdown_phase phase;
	uint32_t stage;           /**< 1-based stage being ended (0: none)  */
	uint32_t nstages;
	uint32_t stage_types;     /**< REDUM_USAGE_BIT()s of that stage     */
	uint64_t elapsed_ms;      /**< since the DUM thread began it        */
	uint32_t give_up_ms;
	/** usages alive now, by type and state (the counters) */
	uint64_t usages[REDUM_USAGE_COUNT][REDUM_DUM_MAX_STATES];
	uint64_t usages_alive;
	/** the oldest usage still alive when the DUM thread last looked
	 *  (h 0: none), refreshed at each stage change and at most every
	 *  20 ms (by the 50 ms tick at least) */
	struct redum_shutdown_usage oldest;
	/** up to 8 usages of the current stage and what each waits for */
	struct redum_shutdown_usage waiting[8];
	uint32_t nwaiting;
};

/**
 * Thread-safe snapshot of the shutdown's progress (all zero but the
 * counters before a shutdown was asked).
 *
 * Thread: any. Blocks on a short internal mutex. @return 0, EINVAL
 */
int redum_dum_shutdown_progress(const struct redum_dum *dum,
				struct redum_shutdown_progress *p);

/** Prints a progress snapshot (multi-line). Thread: any. */
int redum_shutdown_progress_print(struct re_printf *pf,
				  const struct redum_shutdown_progress *p);

/** One stage in the final report. */
struct redum_shutdown_stage {
	uint32_t types;           /**< REDUM_USAGE_BIT()s                   */
	bool reached;             /**< false: skipped (deadline, force)     */
	uint32_t ended;           /**< usages of it asked to end            */
	uint64_t start_ms;        /**< since the shutdown began             */
	uint64_t duration_ms;
};

/** The final report (application thread, from the report handler or
 *  redum_dum_shutdown_result()). */
struct redum_shutdown_report {
	enum redum_shutdown_mode mode;      /**< as asked first             */
	bool escalated;                     /**< forced during graceful     */
	bool deadline_hit;                  /**< give_up_ms expired         */
	uint32_t give_up_ms;
	uint64_t total_ms;                  /**< begin -> app FIFO closed   */
	uint64_t ending_ms;                 /**< begin -> TU removal asked  */
	uint64_t removal_ms;                /**< removal -> TU removed      */
	uint32_t usages_at_start;
	uint32_t nstages;                   /**< incl. the implicit last    */
	struct redum_shutdown_stage stages[REDUM_SHUTDOWN_MAX_STAGES + 1];
	/** usages force-ended (deadline, force, or left at the removal) */
	uint32_t nforced;
	struct redum_shutdown_usage *forced;
	uint64_t events_after_begin;        /**< events posted to the app
						 after the begin: all are
						 delivered before the final
						 message                    */
	uint64_t events_discarded;          /**< events lost (allocation
						 failure only)              */
	uint64_t commands_refused;          /**< ERROR ESHUTDOWN completions
						 after the begin            */
};

/** The final report: valid from the report handler / on_dum_can_be_deleted
 *  until redum_dum_free(); NULL before. Thread: the application thread. */
const struct redum_shutdown_report *
redum_dum_shutdown_result(const struct redum_dum *dum);

/** Prints the final report (multi-line). Thread: any. */
int redum_shutdown_report_print(struct re_printf *pf,
				const struct redum_shutdown_report *r);

/** Name of a mode / phase. Thread: any. */
const char *redum_shutdown_mode_name(enum redum_shutdown_mode m);
const char *redum_shutdown_phase_name(enum redum_shutdown_phase p);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_SHUTDOWN_H */
