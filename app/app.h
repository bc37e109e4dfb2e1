/**
 * @file app.h  redumd's shared state (internal to app/)
 *
 * One struct app lives in main(). Its plain fields belong to the
 * application thread (the main thread, which runs the libre loop that
 * dispatches DUM's events); the counters are C11 atomics, because the
 * metrics thread reads them.
 */
#ifndef APP_APP_H
#define APP_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <redum/dum.h>
#include "config.h"

struct redum_stack;
struct redum_dum;
struct app_metrics;
struct hash;

/** Role counters (written on the application thread, read anywhere). */
struct app_counters {
	atomic_uint_fast64_t calls_offered;     /* INVITEs taken (NEW)     */
	atomic_uint_fast64_t calls_answered;    /* 200 sent                */
	atomic_uint_fast64_t calls_rejected[APP_CONFIG_MAX_REJECT];
						/* by uas_reject rule      */
	atomic_uint_fast64_t calls_connected;   /* ACKed                   */
	atomic_uint_fast64_t calls_ended;       /* TERMINATED (server)     */
	atomic_uint_fast64_t calls_hung_up;     /* by uas_hangup_s         */
	atomic_uint_fast64_t messages_received; /* MESSAGE (200 sent)      */
	atomic_uint_fast64_t options_answered;  /* OPTIONS                 */
	atomic_uint_fast64_t command_errors;    /* ERROR events            */
};

/** Client usages' states, for the report and the metrics. */
enum app_client_state {
	APP_CLIENT_OFF = 0,    /* not configured                          */
	APP_CLIENT_STARTING,   /* request sent, nothing yet               */
	APP_CLIENT_UP,         /* registered / subscribed / call connected */
	APP_CLIENT_RETRYING,   /* registration failed, retry scheduled    */
	APP_CLIENT_FAILED,     /* failed for good                         */
	APP_CLIENT_ENDED,      /* ended (shutdown, BYE, unregistered)     */
};

struct app_client {
	uint64_t h;                       /* usage handle (0: none)       */
	atomic_int state;                 /* enum app_client_state        */
	atomic_uint_fast64_t ups;         /* times it came up (refreshes) */
};

struct app {
	struct app_config cfg;
	struct redum_stack *stack;
	struct redum_dum *dum;
	struct app_metrics *metrics;
	int sigfd;
	unsigned signals;       /* stop signals received so far           */
	uint32_t force_ended;   /* from the final shutdown report          */
	char *client_from;      /* effective client From URI               */
	struct redum_dum_cred cred; /* register_user's, for every request  */

	/* roles (application thread) */
	struct hash *calls;     /* struct app_call by handle, when timers   */
	struct app_counters cnt;

	/* client usages */
	struct app_client reg, sub, call;
};

const char *app_client_state_name(enum app_client_state s);

#endif /* APP_APP_H */
