/**
 * @file shuttest.c  Shutdown test harness (see shuttest.h)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "shuttest.h"

unsigned sapp_n(const struct sapp *a, enum redum_dum_ev_type t)
{
	return (unsigned)t < REDUM_DUM_EV_COUNT ? a->nev[t] : 0;
}


/* every event: counted, its order kept, answered when asked (the core is
 * the first member of struct sapp) */
static void count(struct dumapp *d, struct redum_dum *dum,
		  const struct redum_dum_event *ev)
{
	struct sapp *a = (struct sapp *)d;

	if ((unsigned)ev->type < REDUM_DUM_EV_COUNT)
		++a->nev[ev->type];
	if (ev->type == REDUM_DUM_EV_ERROR) {
		if (ev->err == ESHUTDOWN || ev->err == EPIPE)
			++a->err_shutdown;
		else
			++a->err_other;
	}
	if (a->nseq < SAPP_MAX_SEQ) {
		struct sseq *s = &a->seq[a->nseq++];

		s->type = ev->type;
		s->usage = ev->usage;
		s->h = ev->h;
		s->reason = ev->reason;
		s->err = ev->err;
		s->scode = ev->scode;
	}

	if (ev->type == REDUM_DUM_EV_REG_BINDINGS && ev->reg)
		a->last_bindingc = ev->reg->bindingc;

	if (ev->type == REDUM_DUM_EV_NEW) {
		a->last_new = ev->h;
		if (a->auto_answer)
			(void)redum_invite_answer(dum, ev->h, 200, NULL,
						  "application/sdp", sapp_sdp,
						  strlen(sapp_sdp));
	}

	if (a->hook)
		a->hook(a, ev);
}


static void final_report(struct dumapp *d, struct redum_dum *dum)
{
	struct sapp *a = (struct sapp *)d;
	const struct redum_shutdown_report *r = redum_dum_shutdown_result(dum);

	if (r) {
		uint32_t n = r->nforced < SAPP_MAX_FORCED ? r->nforced :
			SAPP_MAX_FORCED;

		a->rep = *r;
		a->rep.forced = NULL;
		if (n)
			memcpy(a->forced, r->forced, n * sizeof(*a->forced));
		(void)re_snprintf(a->report_text, sizeof(a->report_text),
				  "%H", redum_shutdown_report_print, r);
		a->got_report = true;
	}

	a->t_deleted = tt_now();

	if (a->free_in_final) {
		/* the app frees everything here: DUM defers the free until
		 * this callback returned */
		a->freed = redum_dum_free(dum) == 0;
	}
}


static const struct dumapp_kind shut_kind = {
	.name       = "sapp",
	.on_event   = count,
	.on_deleted = final_report,
};


int sapp_start(struct sapp *a)
{
	struct dumapp_conf c = {
		.software     = "redum-shutdown-test",
		.t1_ms        = a->t1_ms ? a->t1_ms : 100,
		.hsize        = 4096,
		.cmd_capacity = 16384,
	};
	struct redum_dum_conf dc;
	struct redum_registrar_conf rc;
	struct redum_sub_conf subc;
	struct redum_dum_handlers hd;

	redum_dum_conf_init(&dc);
	dc.name = "shut";
	if (a->registrar) {
		redum_registrar_conf_init(&rc);
		dc.registrar = &rc;
	}
	if (a->notifier) {
		redum_sub_conf_init(&subc);
		subc.events = "presence";
		subc.presence_agent = true;
		subc.pub_store = true;
		subc.pager = true;
		dc.sub = &subc;
	}
	c.dum = &dc;

	memset(&hd, 0, sizeof(hd));
	dumapp_rec_invite(&hd);
	dumapp_rec_reg(&hd);
	dumapp_rec_sub(&hd);
	hd.request.on_response      = dumapp_rec;
	hd.on_error                 = dumapp_rec;

	return dumapp_start(&a->core, &shut_kind, NULL, &hd, &c);
}


bool sapp_wait(bool (*cond)(struct sapp *a, void *arg), struct sapp *a,
	       void *arg, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;

	while (!cond(a, arg)) {
		if (tt_now() >= end)
			return false;
		dumapp_pump(5);
	}

	return true;
}


static bool n_at_least(struct sapp *a, void *arg)
{
	const unsigned *want = arg;   /* {type, n} */

	return sapp_n(a, (enum redum_dum_ev_type)want[0]) >= want[1];
}


bool sapp_wait_n(struct sapp *a, enum redum_dum_ev_type t, unsigned n,
		 int timeout_ms)
{
	unsigned want[2] = {t, n};

	return sapp_wait(n_at_least, a, want, timeout_ms);
}


bool sapp_finish(struct sapp *a, int timeout_ms)
{
	bool ok = true;

	if (!a->stack)
		return false;

	/* graceful with the defaults unless a shutdown is already asked */
	if (a->dum && !atomic_load(&a->deleted))
		(void)redum_dum_shutdown(a->dum, NULL);

	if (a->dum && !dumapp_wait_deleted(&a->core, timeout_ms)) {
		fprintf(stderr, "sapp(%u): DUM did not finish in %d ms "
			"(watchdog): forcing\n", a->port, timeout_ms);
		ok = false;
		(void)redum_dum_shutdown_force(a->dum);
		(void)dumapp_wait_deleted(&a->core, 10000);
	}

	/* free_in_final: the app freed DUM in its final callback */
	if (a->dum && a->free_in_final && !a->freed)
		ok = false;
	if (!dumapp_free(&a->core, a->free_in_final))
		ok = false;

	return ok;
}


int sapp_call(struct sapp *a, const char *uri, redum_dum_handle *hp)
{
	struct redum_dum_req req;
	char from[80];

	snprintf(from, sizeof(from), "sip:caller@127.0.0.1:%u", a->port);
	memset(&req, 0, sizeof(req));
	req.uri = uri;
	req.to = uri;
	req.from = from;
	req.ctype = "application/sdp";
	req.body = sapp_sdp;
	req.body_len = strlen(sapp_sdp);

	return redum_dum_call(a->dum, hp, &req);
}


int sapp_register(struct sapp *a, const char *registrar, const char *aor,
		  redum_dum_handle *hp)
{
	struct redum_reg_req rr;

	memset(&rr, 0, sizeof(rr));
	rr.registrar = registrar;
	rr.aor = aor;
	rr.expires = 600;

	return redum_reg_register(a->dum, hp, &rr);
}


static void sub_req(struct sapp *a, const char *uri, struct redum_sub_req *req,
		    char *from, size_t fsz)
{
	snprintf(from, fsz, "sip:watcher@127.0.0.1:%u", a->port);
	memset(req, 0, sizeof(*req));
	req->uri = uri;
	req->from = from;
	req->event = "presence";
	req->expires = 600;
}


int sapp_subscribe(struct sapp *a, const char *uri, redum_dum_handle *hp)
{
	struct redum_sub_req req;
	char from[80];

	sub_req(a, uri, &req, from, sizeof(from));
	return redum_sub_subscribe(a->dum, hp, &req);
}


int sapp_publish(struct sapp *a, const char *uri, redum_dum_handle *hp)
{
	static const char pidf[] = "<presence/>";
	struct redum_sub_req req;
	char from[80];

	sub_req(a, uri, &req, from, sizeof(from));
	req.ctype = "application/pidf+xml";
	req.body = pidf;
	req.body_len = strlen(pidf);
	return redum_pub_publish(a->dum, hp, &req);
}


int sapp_message(struct sapp *a, const char *uri, redum_dum_handle *hp)
{
	struct redum_sub_req req;
	char from[80];

	sub_req(a, uri, &req, from, sizeof(from));
	req.ctype = "text/plain";
	req.body = "hi";
	req.body_len = 2;
	return redum_pager_send(a->dum, hp, &req);
}
