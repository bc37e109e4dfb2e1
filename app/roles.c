/**
 * @file roles.c  redumd's server roles (see roles.h)
 *
 * The UAS answers each call with 180 and then 200 + SDP, at once or after
 * uas_ring_ms; uas_hangup_s > 0 ends each call that long after its ACK.
 * The timers are libre timers of the application thread, kept in a small
 * per-call object only when one of them is configured (the plain
 * auto-answer keeps no state per call). Reject rules match the user part
 * of the request URI. The registrar, presence agent (publication store +
 * SUBSCRIBE/NOTIFY) and MESSAGE sink are DUM's own (configured here);
 * OPTIONS are answered here so that they are counted.
 */
#include <string.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/sub.h>
#include "app.h"
#include "clients.h"
#include "log.h"
#include "roles.h"

const char app_sdp[] =
	"v=0\r\n"
	"o=redumd 1 1 IN IP4 127.0.0.1\r\n"
	"s=redumd\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 9 RTP/AVP 0\r\n"
	"a=inactive\r\n";
const size_t app_sdp_len = sizeof(app_sdp) - 1;

static const char allow_hdrs[] =
	"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, "
	"SUBSCRIBE, NOTIFY, PUBLISH, REGISTER\r\n"
	"Accept: application/sdp\r\n";

/* A server call with a ring or hang-up timer. */
struct app_call {
	struct le he;
	redum_dum_handle h;
	struct tmr ring;
	struct tmr hangup;
	struct app *app;
};


static void call_destructor(void *arg)
{
	struct app_call *c = arg;

	tmr_cancel(&c->ring);
	tmr_cancel(&c->hangup);
	hash_unlink(&c->he);
}


static bool call_match(struct le *le, void *arg)
{
	const struct app_call *c = le->data;

	return c->h == *(const redum_dum_handle *)arg;
}


static struct app_call *call_find(struct app *app, redum_dum_handle h)
{
	if (!app->calls)
		return NULL;
	return list_ledata(hash_lookup(app->calls, (uint32_t)h, call_match,
				       &h));
}


static struct app_call *call_get(struct app *app, redum_dum_handle h)
{
	struct app_call *c = call_find(app, h);

	if (c || !app->calls)
		return c;

	c = mem_zalloc(sizeof(*c), call_destructor);
	if (!c)
		return NULL;
	c->h = h;
	c->app = app;
	tmr_init(&c->ring);
	tmr_init(&c->hangup);
	hash_append(app->calls, (uint32_t)h, &c->he, c);
	return c;
}


int app_roles_init(struct app *app)
{
	if (!app->cfg.uas_ring_ms && !app->cfg.uas_hangup_s)
		return 0;
	return hash_alloc(&app->calls, 1024);
}


void app_roles_close(struct app *app)
{
	if (app->calls)
		hash_flush(app->calls);
	app->calls = mem_deref(app->calls);
}


static void answer_200(struct app *app, redum_dum_handle h)
{
	if (redum_invite_answer(app->dum, h, 200, NULL, "application/sdp",
				app_sdp, app_sdp_len)) {
		app_log(APP_LOG_WARNING, "cannot answer call %llu (command "
			"FIFO full or DUM stopped)", (unsigned long long)h);
		return;
	}
	atomic_fetch_add(&app->cnt.calls_answered, 1);
}


static void ring_h(void *arg)
{
	struct app_call *c = arg;

	answer_200(c->app, c->h);
}


static void hangup_h(void *arg)
{
	struct app_call *c = arg;

	if (!redum_invite_end(c->app->dum, c->h))
		atomic_fetch_add(&c->app->cnt.calls_hung_up, 1);
}


/* The user part of a request URI ("" if none). */
static void ruri_user(const char *ruri, struct pl *user)
{
	struct uri uri;
	struct pl pl;

	*user = pl_null;
	if (!ruri)
		return;
	pl_set_str(&pl, ruri);
	if (!uri_decode(&uri, &pl))
		*user = uri.user;
}


static void on_new(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	struct app *app = arg;
	const struct app_config *cfg = &app->cfg;
	struct pl user;

	atomic_fetch_add(&app->cnt.calls_offered, 1);

	ruri_user(ev->has_msg ? ev->msg.ruri : NULL, &user);
	for (uint32_t i = 0; i < cfg->rejectc; i++) {
		const struct app_reject *r = &cfg->reject[i];

		if (strcmp(r->user, "*") && pl_strcmp(&user, r->user))
			continue;
		if (redum_invite_reject(dum, ev->h, r->code, NULL))
			app_log(APP_LOG_WARNING, "cannot reject call %llu",
				(unsigned long long)ev->h);
		else
			atomic_fetch_add(&app->cnt.calls_rejected[i], 1);
		return;
	}

	if (redum_invite_answer(dum, ev->h, 180, NULL, NULL, NULL, 0))
		app_log(APP_LOG_WARNING, "cannot send 180 to call %llu",
			(unsigned long long)ev->h);

	if (!cfg->uas_ring_ms) {
		answer_200(app, ev->h);
		return;
	}

	{
		struct app_call *c = call_get(app, ev->h);

		if (!c) {
			answer_200(app, ev->h);   /* no memory: no delay */
			return;
		}
		tmr_start(&c->ring, cfg->uas_ring_ms, ring_h, c);
	}
}


static void on_connected(struct redum_dum *dum,
			 const struct redum_dum_event *ev, void *arg)
{
	struct app *app = arg;
	struct app_call *c;
	(void)dum;

	if (ev->usage == REDUM_USAGE_INVITE_CLIENT) {
		app_clients_on_invite(app, ev);
		return;
	}

	atomic_fetch_add(&app->cnt.calls_connected, 1);
	if (!app->cfg.uas_hangup_s)
		return;
	c = call_get(app, ev->h);
	if (c)
		tmr_start(&c->hangup, app->cfg.uas_hangup_s * 1000ULL,
			  hangup_h, c);
}


static void on_terminated(struct redum_dum *dum,
			  const struct redum_dum_event *ev, void *arg)
{
	struct app *app = arg;
	(void)dum;

	if (ev->usage == REDUM_USAGE_INVITE_CLIENT) {
		app_clients_on_invite(app, ev);
		return;
	}

	atomic_fetch_add(&app->cnt.calls_ended, 1);
	mem_deref(call_find(app, ev->h));
	app_log(APP_LOG_DEBUG, "call %llu ended: %s (%u)",
		(unsigned long long)ev->h,
		redum_term_reason_name(ev->reason), ev->scode);
}


static void on_client_invite(struct redum_dum *dum,
			     const struct redum_dum_event *ev, void *arg)
{
	(void)dum;
	if (ev->usage == REDUM_USAGE_INVITE_CLIENT)
		app_clients_on_invite(arg, ev);
}


/* A peer's re-INVITE: the same SDP again (no media to change). */
static void on_offer(struct redum_dum *dum, const struct redum_dum_event *ev,
		     void *arg)
{
	(void)arg;
	if (redum_invite_answer(dum, ev->h, 200, NULL, "application/sdp",
				app_sdp, app_sdp_len))
		app_log(APP_LOG_WARNING, "cannot answer re-INVITE of %llu",
			(unsigned long long)ev->h);
}


static void on_options(struct redum_dum *dum,
		       const struct redum_dum_event *ev, void *arg)
{
	struct app *app = arg;
	int err;

	if (app->cfg.options) {
		err = redum_dum_respond(dum, ev->h, 200, NULL, allow_hdrs,
					NULL, NULL, 0);
		if (!err)
			atomic_fetch_add(&app->cnt.options_answered, 1);
	}
	else {
		err = redum_dum_respond(dum, ev->h, 405, NULL, NULL, NULL,
					NULL, 0);
	}
	if (err)
		app_log(APP_LOG_WARNING, "cannot answer OPTIONS: %m", err);
}


static void on_message(struct redum_dum *dum,
		       const struct redum_dum_event *ev, void *arg)
{
	struct app *app = arg;
	(void)dum;
	(void)ev;

	atomic_fetch_add(&app->cnt.messages_received, 1);
}


static void on_reg(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)dum;
	app_clients_on_reg(arg, ev);
}


static void on_sub(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)dum;
	app_clients_on_sub(arg, ev);
}


static void on_error(struct redum_dum *dum, const struct redum_dum_event *ev,
		     void *arg)
{
	struct app *app = arg;
	(void)dum;

	atomic_fetch_add(&app->cnt.command_errors, 1);
	/* ENOENT/ESHUTDOWN are the normal races of a shutdown or of a peer
	 * that hung up before a timer fired */
	app_log(ev->err == ENOENT || ev->err == ESHUTDOWN ? APP_LOG_DEBUG :
		APP_LOG_WARNING, "command on %s %llu failed: %m",
		redum_usage_name(ev->usage), (unsigned long long)ev->h,
		ev->err);
}


void app_roles_dum_conf(struct app *app, struct redum_dum_conf *dc,
			struct redum_registrar_conf *rc,
			struct redum_sub_conf *sc)
{
	const struct app_config *cfg = &app->cfg;

	redum_dum_conf_init(dc);
	dc->name = "redumd";

	if (cfg->registrar) {
		redum_registrar_conf_init(rc);
		if (cfg->registrar_realm)
			rc->realm = cfg->registrar_realm;
		rc->domains = cfg->registrar_domains;
		rc->users = cfg->registrar_users;
		rc->min_expires = cfg->registrar_min_expires;
		rc->max_expires = cfg->registrar_max_expires;
		if (rc->default_expires > rc->max_expires)
			rc->default_expires = rc->max_expires;
		if (rc->default_expires < rc->min_expires)
			rc->default_expires = rc->min_expires;
		dc->registrar = rc;
	}

	/* the pager takes MESSAGE itself (200 at once, counted here) */
	dc->methods = 0;
	redum_sub_conf_init(sc);
	sc->events = "presence";
	sc->pub_store = cfg->presence;
	sc->presence_agent = cfg->presence;
	sc->pager = cfg->message;
	dc->sub = sc;

	if (cfg->register_user) {
		/* the same credential answers challenges to our other
		 * requests (SUBSCRIBE, INVITE); copied by redum_dum_alloc() */
		app->cred.realm = NULL;
		app->cred.user = cfg->register_user;
		app->cred.password = cfg->register_password;
		dc->creds = &app->cred;
		dc->ncreds = 1;
	}
}


void app_roles_handlers(struct app *app, struct redum_dum_handlers *hd)
{
	memset(hd, 0, sizeof(*hd));

	/* invite: the UAS's on_new only when the role is on (else the
	 * stack 501s new INVITEs); the rest also serves --call-to */
	if (app->cfg.uas)
		hd->invite.on_new = on_new;
	hd->invite.on_connected = on_connected;
	hd->invite.on_terminated = on_terminated;
	hd->invite.on_failure = on_client_invite;
	hd->invite.on_provisional = on_client_invite;
	hd->invite.on_offer = on_offer;

	hd->request.on_options = on_options;

	hd->reg.on_registered = on_reg;
	hd->reg.on_retrying = on_reg;
	hd->reg.on_failure = on_reg;
	hd->reg.on_unregistered = on_reg;

	hd->sub.on_sub_update = on_sub;
	hd->sub.on_sub_terminated = on_sub;
	hd->sub.on_sub_failure = on_sub;
	if (app->cfg.message)
		hd->sub.on_message = on_message;

	hd->on_error = on_error;
	hd->arg = app;
}


/* ---- counters: report and /metrics (thread any, atomics only) -------- */

static uint64_t ld(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}


/* The sum of the reject counters of every rule with code @p code. */
static uint64_t rejected_by_code(const struct app *app, uint16_t code)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < app->cfg.rejectc; i++) {
		if (app->cfg.reject[i].code == code)
			n += ld(&app->cnt.calls_rejected[i]);
	}
	return n;
}


static bool first_of_code(const struct app *app, uint32_t i)
{
	for (uint32_t j = 0; j < i; j++) {
		if (app->cfg.reject[j].code == app->cfg.reject[i].code)
			return false;
	}
	return true;
}


static int client_gauge(struct re_printf *pf, const char *name,
			const char *help, const struct app_client *c)
{
	return re_hprintf(pf, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n",
			  name, help, name, name,
			  atomic_load(&c->state) == APP_CLIENT_UP);
}


int app_roles_metrics(struct re_printf *pf, void *arg)
{
	const struct app *app = arg;
	int err = 0;

#define COUNTER(name, help, v)						\
	err |= re_hprintf(pf, "# HELP " name " " help "\n# TYPE " name	\
			  " counter\n" name " %llu\n",			\
			  (unsigned long long)(v))

	COUNTER("redumd_calls_offered_total", "INVITEs the UAS took",
		ld(&app->cnt.calls_offered));
	COUNTER("redumd_calls_answered_total", "calls answered 200",
		ld(&app->cnt.calls_answered));
	COUNTER("redumd_calls_connected_total", "answered calls ACKed",
		ld(&app->cnt.calls_connected));
	COUNTER("redumd_calls_hung_up_total",
		"calls ended by the uas_hangup_s timer",
		ld(&app->cnt.calls_hung_up));

	err |= re_hprintf(pf, "# HELP redumd_calls_rejected_total calls "
			  "rejected by a uas_reject rule\n"
			  "# TYPE redumd_calls_rejected_total counter\n");
	for (uint32_t i = 0; i < app->cfg.rejectc; i++) {
		uint16_t code = app->cfg.reject[i].code;

		if (first_of_code(app, i))
			err |= re_hprintf(pf, "redumd_calls_rejected_total"
					  "{code=\"%u\"} %llu\n", code,
					  (unsigned long long)
					  rejected_by_code(app, code));
	}

	COUNTER("redumd_messages_received_total", "MESSAGEs received (200)",
		ld(&app->cnt.messages_received));
	COUNTER("redumd_options_answered_total", "OPTIONS answered 200",
		ld(&app->cnt.options_answered));

	/* the registrar, presence and pager counters are DUM's: the
	 * metrics module exports them (redumd_registrar_*, redumd_sub_*) */
#undef COUNTER

	err |= client_gauge(pf, "redumd_client_registered",
			    "1 while --register-to is registered", &app->reg);
	err |= client_gauge(pf, "redumd_client_subscribed",
			    "1 while --subscribe-to is active", &app->sub);
	err |= client_gauge(pf, "redumd_client_call_up",
			    "1 while --call-to is connected", &app->call);
	return err;
}


const char *app_client_state_name(enum app_client_state s)
{
	switch (s) {
	case APP_CLIENT_OFF:      return "off";
	case APP_CLIENT_STARTING: return "starting";
	case APP_CLIENT_UP:       return "up";
	case APP_CLIENT_RETRYING: return "retrying";
	case APP_CLIENT_FAILED:   return "failed";
	case APP_CLIENT_ENDED:    return "ended";
	default:                  return "?";
	}
}


int app_roles_report(struct re_printf *pf, const struct app *app)
{
	const struct app_config *cfg = &app->cfg;
	int err = 0;

	err |= re_hprintf(pf, "roles: uas %s, registrar %s, presence %s, "
			  "message %s, options %s\n",
			  cfg->uas ? "on" : "off",
			  cfg->registrar ? "on" : "off",
			  cfg->presence ? "on" : "off",
			  cfg->message ? "on" : "off",
			  cfg->options ? "on" : "off");
	err |= re_hprintf(pf, "calls_offered %llu\ncalls_answered %llu\n"
			  "calls_connected %llu\ncalls_ended %llu\n"
			  "calls_hung_up %llu\n",
			  (unsigned long long)ld(&app->cnt.calls_offered),
			  (unsigned long long)ld(&app->cnt.calls_answered),
			  (unsigned long long)ld(&app->cnt.calls_connected),
			  (unsigned long long)ld(&app->cnt.calls_ended),
			  (unsigned long long)ld(&app->cnt.calls_hung_up));
	for (uint32_t i = 0; i < cfg->rejectc; i++) {
		if (first_of_code(app, i))
			err |= re_hprintf(pf, "calls_rejected.%u %llu\n",
					  cfg->reject[i].code,
					  (unsigned long long)
					  rejected_by_code(app,
						cfg->reject[i].code));
	}
	err |= re_hprintf(pf, "messages_received %llu\n"
			  "options_answered %llu\ncommand_errors %llu\n",
			  (unsigned long long)ld(&app->cnt.messages_received),
			  (unsigned long long)ld(&app->cnt.options_answered),
			  (unsigned long long)ld(&app->cnt.command_errors));
	if (app->dum) {
		struct redum_registrar_stats rs;

		redum_registrar_stats(app->dum, &rs);
		err |= re_hprintf(pf, "registrar.registers %llu\n"
				  "registrar.ok %llu\n"
				  "registrar.challenged %llu\n"
				  "registrar.bindings %llu\n",
				  (unsigned long long)rs.registers,
				  (unsigned long long)rs.ok,
				  (unsigned long long)rs.challenged,
				  (unsigned long long)rs.bindings);
	}
	if (cfg->register_to)
		err |= re_hprintf(pf, "client.register %s (%s, up %llu "
				  "times)\n", cfg->register_to,
				  app_client_state_name(atomic_load(
							&app->reg.state)),
				  (unsigned long long)ld(&app->reg.ups));
	if (cfg->subscribe_to)
		err |= re_hprintf(pf, "client.subscribe %s (%s)\n",
				  cfg->subscribe_to,
				  app_client_state_name(atomic_load(
							&app->sub.state)));
	if (cfg->call_to)
		err |= re_hprintf(pf, "client.call %s (%s)\n", cfg->call_to,
				  app_client_state_name(atomic_load(
							&app->call.state)));
	return err;
}
