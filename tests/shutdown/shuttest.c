/**
 * @file shuttest.c  Shutdown test harness (see shuttest.h)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "shuttest.h"

const char sapp_sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=redum\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 0\r\n";

static struct sapp *apps[16];
static unsigned napps;


unsigned sapp_n(const struct sapp *a, enum redum_dum_ev_type t)
{
	return (unsigned)t < REDUM_DUM_EV_COUNT ? a->nev[t] : 0;
}


static void rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg)
{
	struct sapp *a = arg;

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


static void can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct sapp *a = arg;
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
	atomic_store(&a->deleted, true);

	if (a->free_in_final) {
		/* the app frees everything here: DUM defers the free until
		 * this callback returned */
		a->freed = redum_dum_free(dum) == 0;
	}
}


int sapp_start(struct sapp *a)
{
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	struct redum_registrar_conf rc;
	struct redum_sub_conf subc;
	struct redum_dum_handlers hd;
	struct sa la;
	int err;

	redum_stack_conf_init(&sc);
	sc.software = "redum-shutdown-test";
	sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = 4096;
	sc.tcp_hsize = 64;
	sc.cmd_capacity = 16384;
	sc.t1_ms = a->t1_ms ? a->t1_ms : 100;
	if (sc.t2_ms < sc.t1_ms)
		sc.t2_ms = sc.t1_ms;
	sc.graceful_ms = 64 * sc.t1_ms;
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
	snprintf(a->uri, sizeof(a->uri), "sip:dum@127.0.0.1:%u", a->port);

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

	memset(&hd, 0, sizeof(hd));
	hd.invite.on_new            = rec;
	hd.invite.on_provisional    = rec;
	hd.invite.on_connected      = rec;
	hd.invite.on_terminated     = rec;
	hd.invite.on_failure        = rec;
	hd.invite.on_offer          = rec;
	hd.invite.on_answer         = rec;
	hd.invite.on_offer_rejected = rec;
	hd.invite.on_info           = rec;
	hd.invite.on_info_response  = rec;
	hd.request.on_response      = rec;
	hd.reg.on_registered        = rec;
	hd.reg.on_retrying          = rec;
	hd.reg.on_failure           = rec;
	hd.reg.on_unregistered      = rec;
	hd.reg.on_bindings          = rec;
	hd.sub.on_sub_update        = rec;
	hd.sub.on_sub_terminated    = rec;
	hd.sub.on_sub_failure       = rec;
	hd.sub.on_pub_success       = rec;
	hd.sub.on_pub_failure       = rec;
	hd.sub.on_pub_removed       = rec;
	hd.sub.on_message_result    = rec;
	hd.on_error                 = rec;
	hd.on_dum_can_be_deleted    = can_be_deleted;
	hd.arg                      = a;

	err = redum_dum_alloc(&a->dum, a->stack, &dc, &hd);
	if (err)
		return err;

	err = redum_dum_app_attach(a->dum, true, 0);
	if (!err)
		err = redum_dum_start(a->dum);
	if (err)
		return err;

	if (napps < sizeof(apps) / sizeof(apps[0]))
		apps[napps++] = a;

	return 0;
}


void sapp_pump(int ms)
{
	struct pollfd pfd[16];
	struct sapp *list[16];
	unsigned i, n = 0;

	for (i = 0; i < napps; i++) {
		if (!apps[i]->dum || apps[i]->freed)
			continue;
		list[n] = apps[i];
		if (atomic_load(&apps[i]->deleted))
			continue;
		pfd[n].fd = redum_dum_app_fd(apps[i]->dum);
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		++n;
	}

	(void)poll(pfd, n, ms < 0 ? 0 : ms);

	for (i = 0; i < n; i++) {
		/* a deleted app's FIFO is finished: nothing more comes */
		if (!atomic_load(&list[i]->deleted))
			(void)redum_dum_app_drain(list[i]->dum);
	}

	/* nothing to poll: still take the time asked for */
	if (!n && ms > 0)
		(void)poll(NULL, 0, ms);
}


bool sapp_wait(bool (*cond)(struct sapp *a, void *arg), struct sapp *a,
	       void *arg, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;

	while (!cond(a, arg)) {
		if (tt_now() >= end)
			return false;
		sapp_pump(5);
	}

	return true;
}


static bool is_deleted(struct sapp *a, void *arg)
{
	(void)arg;
	return atomic_load(&a->deleted);
}


bool sapp_finish(struct sapp *a, int timeout_ms)
{
	bool ok = true;
	unsigned i;

	if (!a->stack)
		return false;

	/* graceful with the defaults unless a shutdown is already asked */
	if (a->dum && !atomic_load(&a->deleted))
		(void)redum_dum_shutdown(a->dum, NULL);

	if (a->dum && !sapp_wait(is_deleted, a, NULL, timeout_ms)) {
		fprintf(stderr, "sapp(%u): DUM did not finish in %d ms "
			"(watchdog): forcing\n", a->port, timeout_ms);
		ok = false;
		(void)redum_dum_shutdown_force(a->dum);
		(void)sapp_wait(is_deleted, a, NULL, 10000);
	}

	for (i = 0; i < napps; i++) {
		if (apps[i] == a) {
			apps[i] = apps[--napps];
			break;
		}
	}

	if (a->dum && !a->free_in_final) {
		if (redum_dum_free(a->dum))
			ok = false;
	}
	else if (a->dum && a->free_in_final && !a->freed) {
		ok = false;
	}
	a->dum = NULL;

	(void)redum_stack_shutdown(a->stack, false);
	if (redum_stack_join(a->stack, NULL))
		ok = false;
	a->stack = NULL;

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
			return -1;
		}
		sapp_pump(10);
	}

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
