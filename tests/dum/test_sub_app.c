/**
 * @file test_sub_app.c  Subscription test harness (see test_sub_app.h)
 */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "test_sub_app.h"

bool sapp_no_on_message;
const struct redum_dum_cred *sapp_creds;
uint32_t sapp_ncreds;


static void cpy(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s ? s : "");
}


/* the core is the first member of struct sapp */
static void auto_accept(struct dumapp *d, struct redum_dum *dum,
			const struct redum_dum_event *ev)
{
	struct sapp *a = (struct sapp *)d;

	if (ev->type == REDUM_DUM_EV_SUB_NEW && a->auto_accept_body) {
		if (!redum_sub_accept(dum, ev->h, 200, "active",
				      "text/plain", a->auto_accept_body,
				      strlen(a->auto_accept_body)))
			++a->accepted;
	}
}


static void sev_copy(struct dumapp *d, void *rec,
		     const struct redum_dum_event *ev)
{
	struct sev *t = rec;
	(void)d;

	t->type  = ev->type;
	t->usage = ev->usage;
	t->h     = ev->h;
	t->err   = ev->err;
	t->scode = ev->scode;
	if (ev->msg.body && ev->msg.body_len < sizeof(t->body)) {
		memcpy(t->body, ev->msg.body, ev->msg.body_len);
		t->body_len = ev->msg.body_len;
	}
	if (!ev->sub)
		return;
	cpy(t->event, sizeof(t->event), ev->sub->event);
	cpy(t->state, sizeof(t->state), ev->sub->state);
	cpy(t->reason, sizeof(t->reason), ev->sub->reason);
	cpy(t->resource, sizeof(t->resource), ev->sub->resource);
	cpy(t->etag, sizeof(t->etag), ev->sub->etag);
	t->expires     = ev->sub->expires;
	t->retry_after = ev->sub->retry_after;
	t->timed_out   = ev->sub->timed_out;
	t->removed     = ev->sub->removed;
}


static const struct dumapp_kind sapp_kind = {
	.name     = "sapp",
	.esz      = sizeof(struct sev),
	.qlen     = SAPP_QLEN,
	.copy     = sev_copy,
	.on_event = auto_accept,
};


int sapp_start(struct sapp *a, uint32_t t1_ms,
	       const struct redum_sub_conf *sc, bool on_new)
{
	struct dumapp_conf c = {
		.software = "redum-sub-test",
		.t1_ms    = t1_ms,
	};
	struct redum_dum_conf dc;
	struct redum_dum_handlers hd;

	a->auto_accept_body = NULL;
	a->accepted = 0;

	memset(&hd, 0, sizeof(hd));
	dumapp_rec_sub(&hd);
	hd.sub.on_sub_new   = on_new ? dumapp_rec : NULL;
	hd.sub.on_pub_state = dumapp_rec;
	hd.sub.on_message   = sapp_no_on_message ? NULL : dumapp_rec;
	hd.on_error         = dumapp_rec;

	redum_dum_conf_init(&dc);
	dc.name = "sub-test";
	dc.cmd_capacity = dc.app_capacity = dc.tu_capacity = 1024;
	dc.sub = sc;
	dc.creds = sapp_creds;
	dc.ncreds = sapp_ncreds;
	c.dum = &dc;

	return dumapp_start(&a->core, &sapp_kind, a->q, &hd, &c);
}


void sapp_req(const struct sapp *a, const char *uri, const char *event,
	      uint32_t expires, struct redum_sub_req *req)
{
	static __thread char from[96];

	memset(req, 0, sizeof(*req));
	snprintf(from, sizeof(from), "sip:alice@127.0.0.1:%u", a->port);
	req->uri = uri;
	req->from = from;
	req->event = event;
	req->expires = expires;
}
