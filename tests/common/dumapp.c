/**
 * @file dumapp.c  The DUM test application core (see dumapp.h)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include <redum/stack.h>
#include "dumapp.h"
#include "testutil.h"

enum { MAX_APPS = 16, PUMP_SLICE_MS = 20 };

/* the started (not attached) apps: dumapp_pump() drains them all, so a
 * test waiting on one app never starves its peer in the same process */
static struct dumapp *apps[MAX_APPS];
static unsigned napps;


void dumapp_rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg)
{
	struct dumapp *d = arg;
	const struct dumapp_kind *k = d->kind;
	unsigned slot;

	if (k->on_event)
		k->on_event(d, dum, ev);

	if (!k->esz)
		return;

	if (d->tail - d->head >= k->qlen) {
		++d->dropped;
		return;
	}

	slot = d->tail % k->qlen;
	memset((char *)d->recs + slot * k->esz, 0, k->esz);
	if (k->copy)
		k->copy(d, (char *)d->recs + slot * k->esz, ev);
	d->evs[slot].type   = ev->type;
	d->evs[slot].reason = ev->reason;
	d->evs[slot].err    = ev->err;
	d->evs[slot].scode  = ev->scode;
	++d->tail;
}


void dumapp_rec_invite(struct redum_dum_handlers *hd)
{
	hd->invite.on_new            = dumapp_rec;
	hd->invite.on_provisional    = dumapp_rec;
	hd->invite.on_connected      = dumapp_rec;
	hd->invite.on_terminated     = dumapp_rec;
	hd->invite.on_failure        = dumapp_rec;
	hd->invite.on_offer          = dumapp_rec;
	hd->invite.on_answer         = dumapp_rec;
	hd->invite.on_offer_rejected = dumapp_rec;
	hd->invite.on_info           = dumapp_rec;
	hd->invite.on_info_response  = dumapp_rec;
}


void dumapp_rec_reg(struct redum_dum_handlers *hd)
{
	hd->reg.on_registered   = dumapp_rec;
	hd->reg.on_retrying     = dumapp_rec;
	hd->reg.on_failure      = dumapp_rec;
	hd->reg.on_unregistered = dumapp_rec;
	hd->reg.on_bindings     = dumapp_rec;
}


void dumapp_rec_sub(struct redum_dum_handlers *hd)
{
	hd->sub.on_sub_update     = dumapp_rec;
	hd->sub.on_sub_terminated = dumapp_rec;
	hd->sub.on_sub_failure    = dumapp_rec;
	hd->sub.on_pub_success    = dumapp_rec;
	hd->sub.on_pub_failure    = dumapp_rec;
	hd->sub.on_pub_removed    = dumapp_rec;
	hd->sub.on_message_result = dumapp_rec;
}


static void can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct dumapp *d = arg;

	if (d->kind->on_deleted)
		d->kind->on_deleted(d, dum);

	atomic_store(&d->deleted, true);
}


int dumapp_start(struct dumapp *d, const struct dumapp_kind *kind, void *q,
		 struct redum_dum_handlers *hd, const struct dumapp_conf *c)
{
	struct redum_stack_conf sc;
	struct sa la;
	int err;

	if (kind->qlen > DUMAPP_QLEN_MAX || (kind->esz && !q))
		return EINVAL;

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->recs = q;
	d->attached = c->attached;

	err = rtest_stack_conf(&sc, c->software, c->t1_ms);
	if (err)
		return err;
	sc.tcp_hsize = 64;
	if (c->hsize)
		sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = c->hsize;
	if (c->cmd_capacity)
		sc.cmd_capacity = c->cmd_capacity;

	err = redum_stack_start(&d->stack, &sc);
	if (err)
		return err;

	err = redum_stack_laddr(d->stack, 0, NULL, &la);
	if (err)
		return err;
	d->port = sa_port(&la);
	snprintf(d->uri, sizeof(d->uri), "sip:dum@127.0.0.1:%u", d->port);

	hd->on_dum_can_be_deleted = can_be_deleted;
	hd->arg = d;

	err = redum_dum_alloc(&d->dum, d->stack, c->dum, hd);
	if (err)
		return err;

	if (c->attached) {
		/* the embedding mode: both on this thread's loop */
		err = redum_dum_attach(d->dum);
		if (!err)
			err = redum_dum_app_attach(d->dum, false, 0);
		return err;
	}

	err = redum_dum_app_attach(d->dum, true, 0);
	if (!err && !c->no_start)
		err = redum_dum_start(d->dum);
	if (err)
		return err;

	if (napps < MAX_APPS)
		apps[napps++] = d;
	else
		fprintf(stderr, "%s(%u): more than %d apps: not pumped\n",
			kind->name, d->port, MAX_APPS);

	return 0;
}


void dumapp_pump(int ms)
{
	struct pollfd pfd[MAX_APPS];
	struct dumapp *list[MAX_APPS];
	unsigned i, n = 0;

	for (i = 0; i < napps; i++) {
		/* a deleted app's FIFO is finished: nothing more comes */
		if (!apps[i]->dum || atomic_load(&apps[i]->deleted))
			continue;
		list[n] = apps[i];
		pfd[n].fd = redum_dum_app_fd(apps[i]->dum);
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		++n;
	}

	/* nothing to poll: still take the time asked for */
	(void)poll(n ? pfd : NULL, n, ms < 0 ? 0 : ms);

	for (i = 0; i < n; i++) {
		if (!atomic_load(&list[i]->deleted))
			(void)redum_dum_app_drain(list[i]->dum);
	}
}


const void *dumapp_pop(struct dumapp *d)
{
	const struct dumapp_kind *k = d->kind;

	if (d->head == d->tail)
		return NULL;

	return (const char *)d->recs + (d->head++ % k->qlen) * k->esz;
}


const void *dumapp_next(struct dumapp *d, int timeout_ms)
{
	int64_t end = rtest_now() + timeout_ms;

	for (;;) {
		const void *rec = dumapp_pop(d);
		int64_t left;

		if (rec)
			return rec;
		left = end - rtest_now();
		if (left <= 0)
			return NULL;
		dumapp_pump(left > PUMP_SLICE_MS ? PUMP_SLICE_MS : (int)left);
	}
}


const void *dumapp_expect(struct dumapp *d, enum redum_dum_ev_type type,
			  int timeout_ms)
{
	int64_t end = rtest_now() + timeout_ms;

	for (;;) {
		int64_t left = end - rtest_now();
		const struct dumapp_ev *e;
		const void *rec;

		rec = dumapp_next(d, left > 0 ? (int)left : 0);
		if (!rec) {
			fprintf(stderr, "%s(%u): no '%s' event in %d ms\n",
				d->kind->name, d->port,
				redum_dum_ev_name(type), timeout_ms);
			return NULL;
		}
		e = &d->evs[(d->head - 1) % d->kind->qlen];
		if (e->type == type)
			return rec;
		if (!d->quiet || e->type == REDUM_DUM_EV_ERROR)
			fprintf(stderr, "%s(%u): skipping %s (scode %u err %d "
				"reason %s) waiting for %s\n", d->kind->name,
				d->port, redum_dum_ev_name(e->type), e->scode,
				e->err, redum_term_reason_name(e->reason),
				redum_dum_ev_name(type));
	}
}


struct runctx {
	struct dumapp *d;
	int64_t end;
	struct tmr tmr;
};


static void run_tick(void *arg)
{
	struct runctx *rc = arg;

	dumapp_pump(0);   /* the threaded apps' events */

	if (rtest_now() >= rc->end ||
	    (rc->d && atomic_load(&rc->d->deleted))) {
		re_cancel();
		return;
	}

	tmr_start(&rc->tmr, 5, run_tick, rc);
}


void dumapp_run(struct dumapp *d, int ms)
{
	struct runctx rc = {.d = d, .end = rtest_now() + ms};

	tmr_init(&rc.tmr);
	tmr_start(&rc.tmr, 0, run_tick, &rc);
	(void)re_main(NULL);
	tmr_cancel(&rc.tmr);
}


bool dumapp_wait_deleted(struct dumapp *d, int timeout_ms)
{
	int64_t end = rtest_now() + timeout_ms;

	if (d->attached)
		dumapp_run(d, timeout_ms);
	while (!atomic_load(&d->deleted) && rtest_now() < end)
		dumapp_pump(PUMP_SLICE_MS);

	return atomic_load(&d->deleted);
}


bool dumapp_free(struct dumapp *d, bool dum_freed)
{
	bool ok = true;
	unsigned i;

	for (i = 0; i < napps; i++) {
		if (apps[i] == d) {
			apps[i] = apps[--napps];
			break;
		}
	}

	if (d->dum && !dum_freed && redum_dum_free(d->dum))
		ok = false;
	d->dum = NULL;

	if (d->stack) {
		(void)redum_stack_shutdown(d->stack, false);
		if (redum_stack_join(d->stack, NULL))
			ok = false;
		d->stack = NULL;
	}

	return ok;
}


bool dumapp_stop(struct dumapp *d, int timeout_ms)
{
	if (!d->dum)
		return false;

	(void)redum_dum_stop(d->dum);
	if (!dumapp_wait_deleted(d, timeout_ms)) {
		fprintf(stderr, "%s(%u): DUM did not finish\n", d->kind->name,
			d->port);
		return false;
	}

	return dumapp_free(d, false);
}


int dumapp_sipp_wait(pid_t pid, int timeout_ms)
{
	return rtest_sipp_wait(pid, timeout_ms, dumapp_pump);
}
