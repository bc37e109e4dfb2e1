/**
 * @file roles.h  redumd's server roles: UAS (auto-answer, ring delay,
 *                hang-up timer, reject rules), registrar, presence agent,
 *                MESSAGE sink, OPTIONS; the DUM handler table; the role
 *                counters for the report and /metrics
 *
 * Thread: the application thread (the one that runs the libre loop with
 * redum_dum_app_attach()), except app_roles_metrics() (any thread: it
 * reads only atomics).
 */
#ifndef APP_ROLES_H
#define APP_ROLES_H

#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/sub.h>
#include "app.h"

/** Allocates the roles' state (the per-call timers' table). */
int app_roles_init(struct app *app);

/** Frees what is left of it (after DUM ended). */
void app_roles_close(struct app *app);

/** Fills the DUM configuration from app->cfg: @p rc and @p sc are the
 *  registrar and subscription configurations @p dc points to (they must
 *  live until redum_dum_alloc() copied them). */
void app_roles_dum_conf(struct app *app, struct redum_dum_conf *dc,
			struct redum_registrar_conf *rc,
			struct redum_sub_conf *sc);

/** Fills the handler table (roles and client usages). */
void app_roles_handlers(struct app *app, struct redum_dum_handlers *hd);

/** The SDP redumd offers and answers (redum carries SDP as an opaque
 *  body; redumd has no media). */
extern const char app_sdp[];
extern const size_t app_sdp_len;

/** Prometheus lines of the role counters (app_metrics_extra_h).
 *  Thread: any (atomics only). */
int app_roles_metrics(struct re_printf *pf, void *arg);

/** The live state report (SIGUSR1), multi-line. Thread: any. */
int app_roles_report(struct re_printf *pf, const struct app *app);

#endif /* APP_ROLES_H */
