/**
 * @file dumtest.c  DUM test harness (see dumtest.h)
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <re.h>
#include "dumtest.h"

#ifndef SCEN_DIR
#define SCEN_DIR "."
#endif


static void copy_str(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s ? s : "");
}


static void tev_copy(struct dumapp *d, void *rec,
		     const struct redum_dum_event *ev)
{
	struct tev *t = rec;
	(void)d;

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


static const struct dumapp_kind tapp_kind = {
	.name = "tapp",
	.esz  = sizeof(struct tev),
	.qlen = TAPP_QLEN,
	.copy = tev_copy,
};


int tapp_start(struct tapp *a, uint32_t t1_ms,
	       const struct redum_dum_conf *conf)
{
	struct dumapp_conf c = {
		.software     = "redum-dum-test",
		.t1_ms        = t1_ms,
		.cmd_capacity = 8192,
		.dum          = conf,
		.attached     = a->attached,
		.no_start     = a->no_start,
	};
	struct redum_dum_handlers hd;
	int err;

	memset(&hd, 0, sizeof(hd));
	dumapp_rec_invite(&hd);
	hd.request.on_options       = a->options_app ? dumapp_rec : NULL;
	hd.request.on_request       = dumapp_rec;
	hd.request.on_response      = dumapp_rec;
	hd.on_error                 = dumapp_rec;

	err = dumapp_start(&a->core, &tapp_kind, a->q, &hd, &c);
	/* the invite tests skip events freely: only errors are said */
	a->quiet = true;

	return err;
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


int tapp_call(struct tapp *a, const char *uri, redum_dum_handle *hp)
{
	struct redum_dum_req req;

	tapp_req(a, uri, &req);
	req.ctype = "application/sdp";
	req.body = tapp_sdp;
	req.body_len = strlen(tapp_sdp);

	return redum_dum_call(a->dum, hp, &req);
}


uint16_t tt_free_port(void)
{
	return rtest_free_port(SOCK_DGRAM);
}


int64_t tt_now(void)
{
	return rtest_now();
}


const char *tt_scen(const char *name)
{
	return rtest_path(SCEN_DIR, name);
}


/* SIPp running @p scen once (-sf scen -m 1), SIPp's own timeout 20 s */
static pid_t sipp_vspawn(const char *scen, const char *target,
			 uint16_t lport, const char *extra, va_list ap)
{
	const char *pre[] = {"-sf", scen, "-m", "1", NULL};

	return rtest_sipp_vspawn(target, lport, 20, pre, extra, ap);
}


pid_t tt_sipp_spawn(const char *scen, const char *target, uint16_t lport,
		    const char *extra, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, extra);
	pid = sipp_vspawn(scen, target, lport, extra, ap);
	va_end(ap);

	return pid;
}


pid_t tt_sipp_uac(const char *scen, uint16_t dport, const char *extra, ...)
{
	uint16_t port = tt_free_port();
	char target[32];
	va_list ap;
	pid_t pid;

	if (!port)
		return -1;
	snprintf(target, sizeof(target), "127.0.0.1:%u", dport);

	va_start(ap, extra);
	pid = sipp_vspawn(scen, target, port, extra, ap);
	va_end(ap);

	return pid;
}


pid_t tt_sipp_uas(const char *scen, const char *user, char *uri, size_t sz,
		  const char *extra, ...)
{
	uint16_t port = tt_free_port();
	va_list ap;
	pid_t pid;

	if (!port)
		return -1;
	snprintf(uri, sz, "sip:%s%s127.0.0.1:%u", user ? user : "",
		 user ? "@" : "", port);

	va_start(ap, extra);
	pid = sipp_vspawn(scen, NULL, port, extra, ap);
	va_end(ap);
	if (pid > 0)
		usleep(300000);  /* let it bind */

	return pid;
}


int tt_sipp_wait(pid_t pid, int timeout_ms)
{
	return dumapp_sipp_wait(pid, timeout_ms);
}
