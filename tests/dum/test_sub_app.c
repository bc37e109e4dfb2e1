/**
 * @file test_sub_app.c  Subscription test harness (see test_sub_app.h)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <re.h>
#include "dumtest.h"
#include "test_sub_app.h"

bool sapp_no_on_message;
const struct redum_dum_cred *sapp_creds;
uint32_t sapp_ncreds;

static struct sapp *sapps[8];
static unsigned nsapps;


static void cpy(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s ? s : "");
}


static void rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg)
{
	struct sapp *a = arg;
	struct sev *t;

	if (ev->type == REDUM_DUM_EV_SUB_NEW && a->auto_accept_body) {
		if (!redum_sub_accept(dum, ev->h, 200, "active",
				      "text/plain", a->auto_accept_body,
				      strlen(a->auto_accept_body)))
			++a->accepted;
	}

	if (a->tail - a->head >= SAPP_QLEN)
		return;

	t = &a->q[a->tail++ % SAPP_QLEN];
	memset(t, 0, sizeof(*t));
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


static void can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct sapp *a = arg;
	(void)dum;

	a->deleted = true;
}


int sapp_start(struct sapp *a, uint32_t t1_ms,
	       const struct redum_sub_conf *sc, bool on_new)
{
	struct redum_stack_conf stc;
	struct redum_dum_conf dc;
	struct redum_dum_handlers hd;
	struct sa la;
	int err;

	memset(a, 0, sizeof(*a));

	redum_stack_conf_init(&stc);
	stc.software = "redum-sub-test";
	stc.ctrans_hsize = stc.strans_hsize = stc.obj_hsize = 1024;
	stc.tcp_hsize = 64;
	stc.cmd_capacity = 4096;
	stc.t1_ms = t1_ms;
	if (stc.t2_ms < t1_ms)
		stc.t2_ms = t1_ms;
	stc.graceful_ms = 64 * t1_ms;
	err = redum_stack_conf_listen(&stc, "udp:127.0.0.1:0");
	if (err)
		return err;

	err = redum_stack_start(&a->stack, &stc);
	if (err)
		return err;

	err = redum_stack_laddr(a->stack, 0, NULL, &la);
	if (err)
		return err;
	a->port = sa_port(&la);
	snprintf(a->uri, sizeof(a->uri), "sip:dum@127.0.0.1:%u", a->port);

	memset(&hd, 0, sizeof(hd));
	hd.sub.on_sub_new        = on_new ? rec : NULL;
	hd.sub.on_sub_update     = rec;
	hd.sub.on_sub_terminated = rec;
	hd.sub.on_sub_failure    = rec;
	hd.sub.on_pub_success    = rec;
	hd.sub.on_pub_failure    = rec;
	hd.sub.on_pub_removed    = rec;
	hd.sub.on_pub_state      = rec;
	hd.sub.on_message        = sapp_no_on_message ? NULL : rec;
	hd.sub.on_message_result = rec;
	hd.on_error              = rec;
	hd.on_dum_can_be_deleted = can_be_deleted;
	hd.arg = a;

	redum_dum_conf_init(&dc);
	dc.name = "sub-test";
	dc.cmd_capacity = dc.app_capacity = dc.tu_capacity = 1024;
	dc.sub = sc;
	dc.creds = sapp_creds;
	dc.ncreds = sapp_ncreds;

	err = redum_dum_alloc(&a->dum, a->stack, &dc, &hd);
	if (err)
		return err;

	err = redum_dum_app_attach(a->dum, true, 0);
	if (err)
		return err;

	err = redum_dum_start(a->dum);
	if (err)
		return err;

	if (nsapps < sizeof(sapps) / sizeof(sapps[0]))
		sapps[nsapps++] = a;

	return 0;
}


void sapp_pump(int ms)
{
	struct pollfd pfd[8];
	unsigned i;

	for (i = 0; i < nsapps; i++) {
		pfd[i].fd = redum_dum_app_fd(sapps[i]->dum);
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}

	(void)poll(pfd, nsapps, ms < 0 ? 0 : ms);

	for (i = 0; i < nsapps; i++)
		(void)redum_dum_app_drain(sapps[i]->dum);
}


const struct sev *sapp_next(struct sapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;

	for (;;) {
		int64_t left;

		if (a->head != a->tail)
			return &a->q[a->head++ % SAPP_QLEN];
		left = end - tt_now();
		if (left <= 0)
			return NULL;
		sapp_pump(left > 20 ? 20 : (int)left);
	}
}


const struct sev *sapp_expect(struct sapp *a, enum redum_dum_ev_type type,
			      int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	const struct sev *t;

	for (;;) {
		int64_t left = end - tt_now();

		t = sapp_next(a, left > 0 ? (int)left : 0);
		if (!t) {
			fprintf(stderr, "sapp(%u): no '%s' event in %d ms\n",
				a->port, redum_dum_ev_name(type), timeout_ms);
			return NULL;
		}
		if (t->type == type)
			return t;
		if (!a->quiet)
			fprintf(stderr, "sapp(%u): skipping %s (scode %u err "
				"%d reason '%s') waiting for %s\n", a->port,
				redum_dum_ev_name(t->type), t->scode, t->err,
				t->reason, redum_dum_ev_name(type));
	}
}


bool sapp_stop(struct sapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	bool ok = true;
	unsigned i;

	if (!a->dum)
		return false;

	(void)redum_dum_stop(a->dum);
	while (!a->deleted && tt_now() < end)
		sapp_pump(20);

	if (!a->deleted) {
		fprintf(stderr, "sapp(%u): DUM did not finish\n", a->port);
		return false;
	}

	if (redum_dum_free(a->dum))
		ok = false;
	a->dum = NULL;

	for (i = 0; i < nsapps; i++) {
		if (sapps[i] == a) {
			sapps[i] = sapps[--nsapps];
			break;
		}
	}

	(void)redum_stack_shutdown(a->stack, false);
	if (redum_stack_join(a->stack, NULL))
		ok = false;
	a->stack = NULL;

	return ok;
}


int sapp_sipp_wait(pid_t pid, int timeout_ms)
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
		sapp_pump(10);
	}

	if (!WIFEXITED(status))
		return -1;

	return WEXITSTATUS(status);
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
