/**
 * @file clients.h  redumd's client usages made at start: --register-to
 *                  (a registration kept refreshed), --subscribe-to (a
 *                  presence subscription kept), --call-to (a call kept up)
 *
 * They live until the shutdown ends them (un-REGISTER, un-SUBSCRIBE, BYE:
 * the staged shutdown's client stages, docs/SHUTDOWN.md), which is what
 * makes them useful to test a shutdown with client usages to end.
 *
 * Thread: the application thread.
 */
#ifndef APP_CLIENTS_H
#define APP_CLIENTS_H

#include <redum/dum.h>
#include "app.h"

/** Computes the effective client From URI (app->client_from). */
int app_clients_prepare(struct app *app);

/** Starts the configured client usages (DUM running). */
int app_clients_start(struct app *app);

/** Events of the client usages (dispatched by the roles' handlers). */
void app_clients_on_invite(struct app *app, const struct redum_dum_event *ev);
void app_clients_on_reg(struct app *app, const struct redum_dum_event *ev);
void app_clients_on_sub(struct app *app, const struct redum_dum_event *ev);

#endif /* APP_CLIENTS_H */
