/**
 * @file clients.c  redumd's client usages made at start (see clients.h)
 */
#include <string.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/sub.h>
#include "app.h"
#include "clients.h"
#include "log.h"
#include "roles.h"


static void set_state(struct app_client *c, enum app_client_state s)
{
	atomic_store(&c->state, (int)s);
	if (s == APP_CLIENT_UP)
		atomic_fetch_add(&c->ups, 1);
}


int app_clients_prepare(struct app *app)
{
	const struct app_config *cfg = &app->cfg;

	if (cfg->client_from)
		return str_dup(&app->client_from, cfg->client_from);
	return str_dup(&app->client_from, "sip:redumd@127.0.0.1");
}


/* sip:redumd@HOST[:PORT] of the registrar URI, when no register_aor. */
static int default_aor(char **aorp, const char *registrar)
{
	struct uri uri;
	struct pl pl;

	pl_set_str(&pl, registrar);
	if (uri_decode(&uri, &pl))
		return EINVAL;
	if (uri.af == AF_INET6)
		return re_sdprintf(aorp, "sip:redumd@[%r]", &uri.host);
	return re_sdprintf(aorp, "sip:redumd@%r", &uri.host);
}


static int start_register(struct app *app)
{
	const struct app_config *cfg = &app->cfg;
	struct redum_reg_req q;
	char *aor = NULL;
	int err;

	memset(&q, 0, sizeof(q));
	q.registrar = cfg->register_to;
	if (cfg->register_aor) {
		q.aor = cfg->register_aor;
	}
	else {
		err = default_aor(&aor, cfg->register_to);
		if (err)
			return err;
		q.aor = aor;
	}
	q.user = cfg->register_user;
	q.password = cfg->register_password;
	q.expires = cfg->register_expires;

	err = redum_reg_register(app->dum, &app->reg.h, &q);
	if (!err) {
		set_state(&app->reg, APP_CLIENT_STARTING);
		app_log(APP_LOG_INFO, "registering %s at %s", q.aor,
			cfg->register_to);
	}
	mem_deref(aor);
	return err;
}


static int start_subscribe(struct app *app)
{
	const struct app_config *cfg = &app->cfg;
	struct redum_sub_req q;
	int err;

	memset(&q, 0, sizeof(q));
	q.uri = cfg->subscribe_to;
	q.from = app->client_from;
	q.event = cfg->subscribe_event ? cfg->subscribe_event : "presence";
	q.expires = cfg->subscribe_expires;

	err = redum_sub_subscribe(app->dum, &app->sub.h, &q);
	if (!err) {
		set_state(&app->sub, APP_CLIENT_STARTING);
		app_log(APP_LOG_INFO, "subscribing to %s (%s)", q.uri,
			q.event);
	}
	return err;
}


static int start_call(struct app *app)
{
	const struct app_config *cfg = &app->cfg;
	struct redum_dum_req q;
	int err;

	memset(&q, 0, sizeof(q));
	q.uri = cfg->call_to;
	q.from = app->client_from;
	q.ctype = "application/sdp";
	q.body = app_sdp;
	q.body_len = app_sdp_len;

	err = redum_dum_call(app->dum, &app->call.h, &q);
	if (!err) {
		set_state(&app->call, APP_CLIENT_STARTING);
		app_log(APP_LOG_INFO, "calling %s", q.uri);
	}
	return err;
}


int app_clients_start(struct app *app)
{
	const struct app_config *cfg = &app->cfg;
	int err;

	if (cfg->register_to) {
		err = start_register(app);
		if (err) {
			app_log(APP_LOG_ERROR, "register_to %s: %m",
				cfg->register_to, err);
			return err;
		}
	}
	if (cfg->subscribe_to) {
		err = start_subscribe(app);
		if (err) {
			app_log(APP_LOG_ERROR, "subscribe_to %s: %m",
				cfg->subscribe_to, err);
			return err;
		}
	}
	if (cfg->call_to) {
		err = start_call(app);
		if (err) {
			app_log(APP_LOG_ERROR, "call_to %s: %m",
				cfg->call_to, err);
			return err;
		}
	}
	return 0;
}


void app_clients_on_invite(struct app *app, const struct redum_dum_event *ev)
{
	if (ev->h != app->call.h)
		return;

	switch (ev->type) {

	case REDUM_DUM_EV_PROVISIONAL:
		app_log(APP_LOG_DEBUG, "call to %s: %u", app->cfg.call_to,
			ev->scode);
		break;

	case REDUM_DUM_EV_CONNECTED:
		set_state(&app->call, APP_CLIENT_UP);
		app_log(APP_LOG_INFO, "call to %s connected",
			app->cfg.call_to);
		break;

	case REDUM_DUM_EV_FAILURE:
		set_state(&app->call, APP_CLIENT_FAILED);
		app_log(APP_LOG_WARNING, "call to %s failed: %u %m",
			app->cfg.call_to, ev->scode, ev->err);
		break;

	case REDUM_DUM_EV_TERMINATED:
		if (atomic_load(&app->call.state) != APP_CLIENT_FAILED)
			set_state(&app->call, APP_CLIENT_ENDED);
		app_log(APP_LOG_INFO, "call to %s ended: %s",
			app->cfg.call_to, redum_term_reason_name(ev->reason));
		break;

	default:
		break;
	}
}


void app_clients_on_reg(struct app *app, const struct redum_dum_event *ev)
{
	const char *to = app->cfg.register_to;

	if (ev->h != app->reg.h)
		return;

	switch (ev->type) {

	case REDUM_DUM_EV_REGISTERED:
		set_state(&app->reg, APP_CLIENT_UP);
		app_log(APP_LOG_INFO, "registered at %s for %u s", to,
			ev->reg ? ev->reg->expires : 0);
		break;

	case REDUM_DUM_EV_REG_RETRYING:
		set_state(&app->reg, APP_CLIENT_RETRYING);
		app_log(APP_LOG_WARNING, "registration at %s failed (%u %m), "
			"retry in %u s", to, ev->scode, ev->err,
			ev->reg ? ev->reg->retry_in : 0);
		break;

	case REDUM_DUM_EV_REG_FAILURE:
		set_state(&app->reg, APP_CLIENT_FAILED);
		app_log(APP_LOG_ERROR, "registration at %s failed for good: "
			"%u %m", to, ev->scode, ev->err);
		break;

	case REDUM_DUM_EV_UNREGISTERED:
		set_state(&app->reg, APP_CLIENT_ENDED);
		app_log(APP_LOG_INFO, "unregistered at %s (%u)", to,
			ev->scode);
		break;

	default:
		break;
	}
}


void app_clients_on_sub(struct app *app, const struct redum_dum_event *ev)
{
	const char *to = app->cfg.subscribe_to;

	if (ev->h != app->sub.h)
		return;

	switch (ev->type) {

	case REDUM_DUM_EV_SUB_UPDATE:
		if (atomic_load(&app->sub.state) != APP_CLIENT_UP)
			app_log(APP_LOG_INFO, "subscribed to %s (%s)", to,
				ev->sub ? ev->sub->state : "");
		set_state(&app->sub, APP_CLIENT_UP);
		break;

	case REDUM_DUM_EV_SUB_FAILURE:
		set_state(&app->sub, APP_CLIENT_FAILED);
		app_log(APP_LOG_WARNING, "subscription to %s failed: %u %m",
			to, ev->scode, ev->err);
		break;

	case REDUM_DUM_EV_SUB_TERMINATED:
		set_state(&app->sub, APP_CLIENT_ENDED);
		app_log(APP_LOG_INFO, "subscription to %s ended: %s%s", to,
			ev->sub ? ev->sub->reason : "",
			ev->sub && ev->sub->timed_out ? " (timed out)" : "");
		break;

	default:
		break;
	}
}
