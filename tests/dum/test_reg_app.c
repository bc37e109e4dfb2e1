/**
 * @file test_reg_app.c  Registration test harness (see test_reg_app.h)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <re.h>
#include "dumtest.h"
#include "test_reg_app.h"

static struct rapp *rapps[4];
static unsigned nrapps;


static void rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg)
{
	struct rapp *a = arg;
	struct rev *t;
	uint32_t i;
	(void)dum;

	if (a->tail - a->head >= RAPP_QLEN)
		return;

	t = &a->q[a->tail++ % RAPP_QLEN];
	memset(t, 0, sizeof(*t));
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


static void can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct rapp *a = arg;
	(void)dum;

	a->deleted = true;
}


int rapp_start(struct rapp *a, uint32_t t1_ms,
	       const struct redum_registrar_conf *rc)
{
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	struct redum_dum_handlers hd;
	struct sa la;
	int err;

	memset(a, 0, sizeof(*a));

	redum_stack_conf_init(&sc);
	sc.software = "redum-reg-test";
	sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = 1024;
	sc.tcp_hsize = 64;
	sc.cmd_capacity = 4096;
	sc.t1_ms = t1_ms;
	if (sc.t2_ms < t1_ms)
		sc.t2_ms = t1_ms;
	sc.graceful_ms = 64 * t1_ms;
	err = redum_stack_conf_listen(&sc, "udp:127.0.0.1:0");
	if (err)
		return err;

	err = redum_stack_start(&a->stack, &sc);
	if (err)
		return err;

	err = redum_stack_laddr(a->stack, 0, NULL, &la);
	if (err)
		return err;
	a->port = sa_port(&la);

	memset(&hd, 0, sizeof(hd));
	hd.reg.on_registered   = rec;
	hd.reg.on_retrying     = rec;
	hd.reg.on_failure      = rec;
	hd.reg.on_unregistered = rec;
	hd.reg.on_bindings     = rec;
	hd.on_error            = rec;
	hd.on_dum_can_be_deleted = can_be_deleted;
	hd.arg = a;

	redum_dum_conf_init(&dc);
	dc.name = "reg-test";
	dc.cmd_capacity = dc.app_capacity = dc.tu_capacity = 1024;
	dc.registrar = rc;

	err = redum_dum_alloc(&a->dum, a->stack, &dc, &hd);
	if (err)
		return err;

	err = redum_dum_app_attach(a->dum, true, 0);
	if (err)
		return err;

	err = redum_dum_start(a->dum);
	if (err)
		return err;

	if (nrapps < sizeof(rapps) / sizeof(rapps[0]))
		rapps[nrapps++] = a;

	return 0;
}


void rapp_pump(int ms)
{
	struct pollfd pfd[4];
	unsigned i;

	for (i = 0; i < nrapps; i++) {
		pfd[i].fd = redum_dum_app_fd(rapps[i]->dum);
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}

	(void)poll(pfd, nrapps, ms < 0 ? 0 : ms);

	for (i = 0; i < nrapps; i++)
		(void)redum_dum_app_drain(rapps[i]->dum);
}


const struct rev *rapp_next(struct rapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;

	for (;;) {
		int64_t left;

		if (a->head != a->tail)
			return &a->q[a->head++ % RAPP_QLEN];
		left = end - tt_now();
		if (left <= 0)
			return NULL;
		rapp_pump(left > 20 ? 20 : (int)left);
	}
}


const struct rev *rapp_expect(struct rapp *a, enum redum_dum_ev_type type,
			      int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	const struct rev *t;

	for (;;) {
		int64_t left = end - tt_now();

		t = rapp_next(a, left > 0 ? (int)left : 0);
		if (!t) {
			fprintf(stderr, "rapp(%u): no '%s' event in %d ms\n",
				a->port, redum_dum_ev_name(type), timeout_ms);
			return NULL;
		}
		if (t->type == type)
			return t;
		fprintf(stderr, "rapp(%u): skipping %s (scode %u err %d "
			"reason '%s') waiting for %s\n", a->port,
			redum_dum_ev_name(t->type), t->scode, t->err,
			t->reason, redum_dum_ev_name(type));
	}
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


bool rapp_stop(struct rapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	bool ok = true;
	unsigned i;

	if (!a->dum)
		return false;

	(void)redum_dum_stop(a->dum);
	while (!a->deleted && tt_now() < end)
		rapp_pump(20);

	if (!a->deleted) {
		fprintf(stderr, "rapp(%u): DUM did not finish\n", a->port);
		return false;
	}

	if (redum_dum_free(a->dum))
		ok = false;
	a->dum = NULL;

	for (i = 0; i < nrapps; i++) {
		if (rapps[i] == a) {
			rapps[i] = rapps[--nrapps];
			break;
		}
	}

	(void)redum_stack_shutdown(a->stack, false);
	if (redum_stack_join(a->stack, NULL))
		ok = false;
	a->stack = NULL;

	return ok;
}


int rapp_sipp_wait(pid_t pid, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	int status;

	if (pid <= 0)
		return -1;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (tt_now() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "sipp %d killed after %d ms\n",
				(int)pid, timeout_ms);
			return -1;
		}
		rapp_pump(10);
	}

	if (!WIFEXITED(status))
		return -1;

	return WEXITSTATUS(status);
}
