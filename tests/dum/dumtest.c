/**
 * @file dumtest.c  DUM test harness (see dumtest.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <re.h>
#include "dumtest.h"

#ifndef SCEN_DIR
#define SCEN_DIR "."
#endif

const char tapp_sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=redum\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 0\r\n";

static struct tapp *apps[8];
static unsigned napps;


int64_t tt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


uint16_t tt_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!bind(fd, (struct sockaddr *)&sin, sizeof(sin)) &&
	    !getsockname(fd, (struct sockaddr *)&sin, &len))
		port = ntohs(sin.sin_port);
	close(fd);

	return port;
}


static void copy_str(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s ? s : "");
}


static void rec(struct redum_dum *dum, const struct redum_dum_event *ev,
		void *arg)
{
	struct tapp *a = arg;
	struct tev *t;
	(void)dum;

	if (a->tail - a->head >= TAPP_QLEN) {
		++a->dropped;
		return;
	}

	t = &a->q[a->tail++ % TAPP_QLEN];
	memset(t, 0, sizeof(*t));
	t->type    = ev->type;
	t->usage   = ev->usage;
	t->h       = ev->h;
	t->related = ev->related;
	t->err     = ev->err;
	t->scode   = ev->scode;
	t->reason  = ev->reason;
	t->has_msg = ev->has_msg;
	if (ev->has_msg) {
		copy_str(t->method, sizeof(t->method), ev->msg.method);
		copy_str(t->to, sizeof(t->to), ev->msg.to);
		copy_str(t->ctype, sizeof(t->ctype), ev->msg.ctype);
		if (ev->msg.body_len) {
			t->body_len = ev->msg.body_len;
			if (t->body_len >= sizeof(t->body))
				t->body_len = sizeof(t->body) - 1;
			memcpy(t->body, ev->msg.body, t->body_len);
		}
	}
}


static void can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct tapp *a = arg;
	(void)dum;

	a->deleted = true;
}


int tapp_start(struct tapp *a, uint32_t t1_ms,
	       const struct redum_dum_conf *conf)
{
	struct redum_stack_conf sc;
	struct redum_dum_handlers hd;
	bool options_app = a->options_app, attached = a->attached;
	bool no_start = a->no_start;
	struct sa la;
	int err;

	memset(a, 0, sizeof(*a));
	a->options_app = options_app;
	a->attached = attached;
	a->no_start = no_start;

	redum_stack_conf_init(&sc);
	sc.software = "redum-dum-test";
	sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = 1024;
	sc.tcp_hsize = 64;
	sc.cmd_capacity = 8192;
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
	snprintf(a->uri, sizeof(a->uri), "sip:dum@127.0.0.1:%u", a->port);

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
	hd.request.on_options       = a->options_app ? rec : NULL;
	hd.request.on_request       = rec;
	hd.request.on_response      = rec;
	hd.on_error                 = rec;
	hd.on_dum_can_be_deleted    = can_be_deleted;
	hd.arg                      = a;

	err = redum_dum_alloc(&a->dum, a->stack, conf, &hd);
	if (err)
		return err;

	if (attached) {
		/* the embedding mode: both on this thread's loop */
		err = redum_dum_attach(a->dum);
		if (!err)
			err = redum_dum_app_attach(a->dum, false, 0);
		return err;
	}

	err = redum_dum_app_attach(a->dum, true, 0);
	if (err)
		return err;

	if (!no_start) {
		err = redum_dum_start(a->dum);
		if (err)
			return err;
	}

	if (napps < sizeof(apps) / sizeof(apps[0]))
		apps[napps++] = a;

	return 0;
}


void tapp_pump(int ms)
{
	struct pollfd pfd[8];
	unsigned i;

	for (i = 0; i < napps; i++) {
		pfd[i].fd = redum_dum_app_fd(apps[i]->dum);
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}

	(void)poll(pfd, napps, ms < 0 ? 0 : ms);

	for (i = 0; i < napps; i++)
		(void)redum_dum_app_drain(apps[i]->dum);
}


const struct tev *tapp_next(struct tapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;

	for (;;) {
		if (a->head != a->tail)
			return &a->q[a->head++ % TAPP_QLEN];
		if (tt_now() >= end)
			return NULL;
		tapp_pump((int)(end - tt_now()) > 20 ? 20 :
			  (int)(end - tt_now()));
	}
}


const struct tev *tapp_expect(struct tapp *a, enum redum_dum_ev_type type,
			      int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	const struct tev *t;

	for (;;) {
		int64_t left = end - tt_now();

		t = tapp_next(a, left > 0 ? (int)left : 0);
		if (!t) {
			fprintf(stderr, "tapp(%u): no '%s' event in %d ms\n",
				a->port, redum_dum_ev_name(type), timeout_ms);
			return NULL;
		}
		if (t->type == type)
			return t;
		if (t->type == REDUM_DUM_EV_ERROR)
			fprintf(stderr, "tapp(%u): skipping %s (err %d, "
				"scode %u, reason %s) waiting for %s\n",
				a->port, redum_dum_ev_name(t->type), t->err,
				t->scode, redum_term_reason_name(t->reason),
				redum_dum_ev_name(type));
	}
}


struct runctx {
	struct tapp *a;
	int64_t end;
	struct tmr tmr;
};


static void run_tick(void *arg)
{
	struct runctx *rc = arg;

	tapp_pump(0);   /* the threaded apps' events */

	if (tt_now() >= rc->end || (rc->a && rc->a->deleted)) {
		re_cancel();
		return;
	}

	tmr_start(&rc->tmr, 5, run_tick, rc);
}


void tapp_run(struct tapp *a, int ms)
{
	struct runctx rc = {.a = a, .end = tt_now() + ms};

	tmr_init(&rc.tmr);
	tmr_start(&rc.tmr, 0, run_tick, &rc);
	(void)re_main(NULL);
	tmr_cancel(&rc.tmr);
}


bool tapp_stop(struct tapp *a, int timeout_ms)
{
	int64_t end = tt_now() + timeout_ms;
	bool ok = true;
	unsigned i;

	if (!a->dum)
		return false;

	(void)redum_dum_stop(a->dum);
	if (a->attached)
		tapp_run(a, timeout_ms);
	while (!a->deleted && tt_now() < end)
		tapp_pump(20);

	if (!a->deleted) {
		fprintf(stderr, "tapp(%u): DUM did not finish\n", a->port);
		return false;
	}

	if (redum_dum_free(a->dum))
		ok = false;
	a->dum = NULL;

	for (i = 0; i < napps; i++) {
		if (apps[i] == a) {
			apps[i] = apps[--napps];
			break;
		}
	}

	(void)redum_stack_shutdown(a->stack, false);
	if (redum_stack_join(a->stack, NULL))
		ok = false;
	a->stack = NULL;

	return ok;
}


void tapp_req(const struct tapp *a, const char *to_uri,
	      struct redum_dum_req *req)
{
	static __thread char from[80];

	memset(req, 0, sizeof(*req));
	snprintf(from, sizeof(from), "sip:caller@127.0.0.1:%u", a->port);
	req->uri  = to_uri;
	req->to   = to_uri;
	req->from = from;
	req->from_name = "Caller";
}


const char *tt_scen(const char *name)
{
	static __thread char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", SCEN_DIR, name);
	return buf;
}


pid_t tt_sipp_spawn(const char *scen, const char *target, uint16_t lport,
		    const char *extra, ...)
{
	const char *argv[64];
	char portbuf[16];
	int argc = 0;
	va_list ap;
	pid_t pid;

	snprintf(portbuf, sizeof(portbuf), "%u", lport);

	argv[argc++] = "sipp";
	if (target)
		argv[argc++] = target;
	argv[argc++] = "-sf";
	argv[argc++] = scen;
	argv[argc++] = "-i";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = portbuf;
	argv[argc++] = "-buff_size";
	argv[argc++] = "4194304";
	argv[argc++] = "-nostdin";
	argv[argc++] = "-timeout";
	argv[argc++] = "20s";
	argv[argc++] = "-timeout_error";
	argv[argc++] = "-m";
	argv[argc++] = "1";
	if (getenv("DUMTEST_TRACE")) { argv[argc++] = "-trace_msg"; argv[argc++] = "-message_file"; argv[argc++] = getenv("DUMTEST_TRACE"); }

	va_start(ap, extra);
	for (const char *x = extra; x && argc < 63;
	     x = va_arg(ap, const char *))
		argv[argc++] = x;
	va_end(ap);
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		return -1;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		sigset_t none;

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (chdir("/tmp")) {}
		execvp("sipp", (char *const *)argv);
		fprintf(stderr, "exec sipp: %s\n", strerror(errno));
		_exit(127);
	}

	return pid;
}


int tt_sipp_wait(pid_t pid, int timeout_ms)
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
		/* keep the apps' events flowing while SIPp runs */
		tapp_pump(10);
	}

	if (!WIFEXITED(status))
		return -1;

	return WEXITSTATUS(status);
}
