/**
 * @file test_reg_app.c  Registration test harness (see test_reg_app.h)
 */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "test_reg_app.h"


static void rev_copy(struct dumapp *d, void *rec,
		     const struct redum_dum_event *ev)
{
	struct rev *t = rec;
	uint32_t i;
	(void)d;

	t->type  = ev->type;
	t->h     = ev->h;
	t->err   = ev->err;
	t->scode = ev->scode;
	if (!ev->reg)
		return;

	t->expires        = ev->reg->expires;
	t->refresh_in     = ev->reg->refresh_in;
	t->retry_in       = ev->reg->retry_in;
	t->bindingc       = ev->reg->bindingc;
	t->was_registered = ev->reg->was_registered;
	snprintf(t->reason, sizeof(t->reason), "%s", ev->reg->reason);
	for (i = 0; i < ev->reg->bindingc && i < 4; i++) {
		snprintf(t->contact[i], sizeof(t->contact[i]), "%s",
			 ev->reg->bindings[i].contact);
		t->bexp[i] = ev->reg->bindings[i].expires;
	}
}


static const struct dumapp_kind rapp_kind = {
	.name = "rapp",
	.esz  = sizeof(struct rev),
	.qlen = RAPP_QLEN,
	.copy = rev_copy,
};


int rapp_start(struct rapp *a, uint32_t t1_ms,
	       const struct redum_registrar_conf *rc)
{
	struct dumapp_conf c = {
		.software = "redum-reg-test",
		.t1_ms    = t1_ms,
	};
	struct redum_dum_conf dc;
	struct redum_dum_handlers hd;

	memset(&hd, 0, sizeof(hd));
	dumapp_rec_reg(&hd);
	hd.on_error            = dumapp_rec;

	redum_dum_conf_init(&dc);
	dc.name = "reg-test";
	dc.cmd_capacity = dc.app_capacity = dc.tu_capacity = 1024;
	dc.registrar = rc;
	c.dum = &dc;

	return dumapp_start(&a->core, &rapp_kind, a->q, &hd, &c);
}


const struct rev *rapp_lookup(struct rapp *a, const char *aor)
{
	redum_dum_handle h;
	const struct rev *t;
	int64_t end = tt_now() + 5000;

	if (redum_registrar_lookup(a->dum, &h, aor))
		return NULL;

	while (tt_now() < end) {
		t = rapp_expect(a, REDUM_DUM_EV_REG_BINDINGS,
				(int)(end - tt_now()));
		if (t && t->h == h)
			return t;
	}

	return NULL;
}
