/**
 * @file loadgen.c  redum-loadgen: an open-loop SIP load generator on redum
 *
 *   redum-loadgen HOST:PORT [-s call|options|message|register|publish|
 *                 subscribe|mix:a=W,..]
 *                 [-r RATE] [-l MAX] [-m TOTAL] [-d HOLD_MS] ...
 *
 * Threads: one stack thread per instance (redum_stack_start), and this
 * (main) thread, whose libre loop drives every instance's DUM
 * (redum_dum_attach; or --dum-thread: each DUM on its own thread) and the
 * application side: the rate scheduler, the per-attempt bookkeeping and the
 * reports. Signals are blocked everywhere and read from a signalfd here.
 *
 * Open loop (as wrk2): attempt k has the intended start time
 * t0 + k / rate; a 1 ms timer starts every attempt whose time has come, and
 * its latency is measured from that intended time, so a slow server (or a
 * slow generator) shows up as latency instead of as a lower rate. An
 * attempt that cannot start is a failure: "max_concurrent" when -l
 * attempts are already outstanding, "local_overload" when DUM's command
 * FIFO refused it (ENOSPC: the generator never blocks) or when our own
 * queues are deep (--self-limit: the generator sheds load rather than
 * collapse and blame the server).
 *
 * Shutdown under load (--shutdown-at) uses the staged shutdown API
 * (redum/shutdown.h), whose final report counts the force-ended usages.
 *
 * See docs/LOADGEN.md for the flags, the output, the exit codes and the
 * measured figures.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/stack.h>
#include <redum/sub.h>
#include <redum/version.h>
#include "lg_hist.h"
#include "malloc_tune.h"


/* Exit codes (SIPp's where they fit; docs/LOADGEN.md). */
enum {
	LG_EXIT_OK        = 0,    /* every attempt succeeded             */
	LG_EXIT_FAILED    = 1,    /* at least one failed                 */
	LG_EXIT_NOCALLS   = 99,   /* nothing was attempted (SIPp's 99)   */
	LG_EXIT_INTERNAL  = 253,  /* the stack or DUM did not stop clean */
	LG_EXIT_SETUP     = 254,  /* could not bind / start (SIPp's -2)  */
	LG_EXIT_USAGE     = 255,  /* bad arguments (SIPp's -1)           */
};

enum scen {
	SC_CALL = 0,
	SC_OPTIONS,
	SC_MESSAGE,
	SC_REGISTER,
	SC_PUBLISH,
	SC_SUBSCRIBE,
	SC_COUNT
};

static const char *const scen_names[SC_COUNT] = {
	"call", "options", "message", "register", "publish", "subscribe"
};

enum { MAX_INST = 16, MAX_REASONS = 48 };

struct conf {
	struct sa target;
	char host[64];               /* numeric, IPv6 in brackets        */
	char scenario[128];          /* as given                         */
	uint32_t weight[SC_COUNT];   /* mix weights (single: 1 for it)   */
	uint32_t wsum;
	enum sip_transp tp;
	double rate;
	uint32_t limit;
	uint64_t total;              /* -m; 0 = unbounded (duration)     */
	uint32_t hold_ms;
	double duration_s;           /* 0 = until -m                     */
	char bind_ip[64];
	uint16_t lport;
	uint32_t instances;
	uint32_t timeout_ms;         /* per attempt: final response      */
	uint32_t drain_ms;           /* wait for outstanding at the end  */
	bool json;
	const char *csv;
	const char *plot;
	double shutdown_at;          /* < 0: none                        */
	bool shutdown_force;
	uint32_t give_up_ms;
	pid_t kill_pid;
	double kill_at;              /* < 0: none                        */
	bool dum_thread;
	bool quiet;                  /* no interval lines                */
	bool stats;                  /* stack + DUM counters to stderr   */
	uint32_t self_limit;         /* our queue depth that sheds load  */
	uint32_t reg_expires;
	uint32_t pool;               /* register: AOR pool size (0: new) */
};

struct inst;

/* One attempt (a call, a request, a registration) until its usage ended. */
struct attempt {
	struct le he;                /* in its instance's hash by handle */
	struct tmr tmr;              /* hold time, then the timeout      */
	struct inst *inst;
	redum_dum_handle h;
	enum scen sc;
	uint64_t t_intended;         /* ns, monotonic                    */
	bool answered;               /* final 2xx got, latency recorded  */
	bool failed;                 /* failure counted already          */
	bool succeeded;
	bool ended_asked;
	bool inflight_at_kill;
	bool after_kill;
};

struct inst {
	uint32_t idx;
	struct redum_stack *stack;
	struct redum_dum *dum;
	struct hash *attempts;
	char from[96];
	char contact_host[80];
	bool deleted;                /* on_dum_can_be_deleted seen       */
	bool stop_asked;
	uint64_t t_deleted;
};

struct reason {
	char name[24];
	uint64_t n;
};

struct counters {
	uint64_t attempted, started, succeeded, failed;
	struct reason reasons[MAX_REASONS];
	uint32_t nreasons;
};

struct row {                         /* one interval, for CSV and plot  */
	double t;
	double rate;                 /* attempts started per second      */
	double ok_rate;
	uint64_t concurrent;
	uint64_t attempted, succeeded, failed;
	uint64_t retx;
	double p50, p90, p99, p999, max;
	double cpu_us;               /* our CPU (all threads) per started */
};

static struct {
	struct conf c;
	struct inst inst[MAX_INST];
	uint32_t ninst;
	struct counters tot, ivl;
	struct lg_hist hist, hist_ivl;
	uint64_t concurrent, peak_concurrent;
	bool behind;                 /* our stack/DUM queues are deep     */
	uint64_t behind_ticks;       /* ticks spent behind                */
	uint64_t judged;             /* started attempts already counted
					succeeded or failed              */
	uint64_t t_start;            /* ns: intended time of attempt 0   */
	uint64_t t_last_start;       /* ns: last attempt started          */
	uint64_t scheduled;          /* attempts whose time came          */
	uint64_t seq;                /* for AORs, Call-IDs, mix           */
	struct tmr tmr_tick, tmr_ivl;
	uint64_t t_drain_end;        /* ns: end of the drain wait       */
	uint64_t t_ivl;              /* ns of the last interval           */
	uint64_t cpu_ivl;            /* our CPU us at the last interval    */
	uint64_t cpu_start;
	bool sending_done;
	bool stopping;               /* DUM stop asked                    */
	bool finished;
	int sigfd;
	unsigned signals;
	bool tty;
	FILE *csv;
	struct row *rows;
	size_t nrows, cap_rows;
	uint64_t retx_base;
	/* shutdown */
	bool shut_done;              /* --shutdown-at fired               */
	uint64_t t_shut;
	uint64_t alive_at_shut[REDUM_USAGE_COUNT];
	uint64_t ended_after_shut[REDUM_USAGE_COUNT];
	uint64_t force_ended;         /* our own count (see forced_end) */
	bool rep_seen;                /* staged shutdown reports read    */
	uint64_t rep_forced, rep_forced_by[REDUM_USAGE_COUNT];
	bool rep_deadline, rep_escalated;
	uint64_t rep_total_ms, rep_at_start;
	/* kill */
	bool kill_done;
	int kill_err;
	uint64_t t_kill;
	uint64_t kill_inflight, kill_inflight_ok, kill_inflight_failed;
	uint64_t kill_started_after, kill_after_ok, kill_after_failed;
	uint64_t t_last_ok_after_kill;
	struct counters kill_fail;
	uint64_t rng;
} g;


/* ---- time, reasons ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


static double secs_since_start(uint64_t t)
{
	return t > g.t_start ? (double)(t - g.t_start) / 1e9 : 0.0;
}


static void reason_add(struct counters *c, const char *name)
{
	uint32_t i;

	for (i = 0; i < c->nreasons; i++) {
		if (!strcmp(c->reasons[i].name, name)) {
			c->reasons[i].n++;
			return;
		}
	}
	if (c->nreasons == MAX_REASONS)
		name = "other";     /* bounded table: the rest lumped */
	for (i = 0; i < c->nreasons; i++) {
		if (!strcmp(c->reasons[i].name, name)) {
			c->reasons[i].n++;
			return;
		}
	}
	if (c->nreasons < MAX_REASONS) {
		snprintf(c->reasons[c->nreasons].name,
			 sizeof(c->reasons[0].name), "%s", name);
		c->reasons[c->nreasons++].n = 1;
	}
	else {
		c->reasons[MAX_REASONS - 1].n++;
	}
}


/* Reason name of an errno from the stack/DUM. */
static const char *err_reason(int err)
{
	switch (err) {
	case ETIMEDOUT:    return "timeout";
	case ECONNREFUSED: return "icmp";       /* port unreachable */
	case EHOSTUNREACH:
	case ENETUNREACH:  return "unreachable";
	case ECONNRESET:   return "conn_reset";
	case ECONNABORTED: return !g.stopping ? "aborted" :  /* by our stop */
			   g.shut_done ? "shutdown" : "unfinished";
	case ESHUTDOWN:
	case EPIPE:        return "shutdown";
	case ENOSPC:       return "local_overload";
	case ENOMEM:       return "nomem";
	default:           return "error";
	}
}


static void attempt_fail(struct attempt *a, const char *why)
{
	if (a->failed || a->succeeded)
		return;
	a->failed = true;
	g.judged++;
	g.tot.failed++;
	g.ivl.failed++;
	reason_add(&g.tot, why);
	reason_add(&g.ivl, why);
	if (a->inflight_at_kill)
		g.kill_inflight_failed++;
	if (a->after_kill) {
		g.kill_after_failed++;
		reason_add(&g.kill_fail, why);
	}
}


static void attempt_fail_status(struct attempt *a, uint16_t scode, int err)
{
	char buf[24];

	if (scode) {
		snprintf(buf, sizeof(buf), "status_%u", scode);
		attempt_fail(a, buf);
	}
	else {
		attempt_fail(a, err_reason(err));
	}
}


/* The final 2xx (or the registration) came: latency from the intended
 * start, so the time an attempt waited to be sent counts too. */
static void attempt_answered(struct attempt *a)
{
	uint64_t lat;

	if (a->answered)
		return;
	a->answered = true;
	lat = (now_ns() - a->t_intended) / 1000;   /* us */
	lg_hist_record(&g.hist, lat);
	lg_hist_record(&g.hist_ivl, lat);
}


static void attempt_succeed(struct attempt *a)
{
	if (a->failed || a->succeeded)
		return;
	a->succeeded = true;
	g.judged++;
	g.tot.succeeded++;
	g.ivl.succeeded++;
	if (a->inflight_at_kill)
		g.kill_inflight_ok++;
	if (a->after_kill) {
		g.kill_after_ok++;
		g.t_last_ok_after_kill = now_ns();
	}
}


static void attempt_destructor(void *arg)
{
	struct attempt *a = arg;

	tmr_cancel(&a->tmr);
	hash_unlink(&a->he);
}


static bool attempt_cmp(struct le *le, void *arg)
{
	struct attempt *a = le->data;

	return a->h == *(redum_dum_handle *)arg;
}


static struct attempt *attempt_find(struct inst *in, redum_dum_handle h)
{
	struct le *le = hash_lookup(in->attempts, (uint32_t)h, attempt_cmp,
				    &h);

	return le ? le->data : NULL;
}


/* The usage ended: the attempt leaves the books. */
static void attempt_done(struct attempt *a, enum redum_usage_type ut,
			 bool forced)
{
	if (!a->succeeded && !a->failed)
		attempt_fail(a, g.stopping ? "shutdown" : "unfinished");

	if (g.shut_done) {
		g.ended_after_shut[ut]++;
		if (forced)
			g.force_ended++;
	}
	g.concurrent--;
	mem_deref(a);
}


static struct inst *inst_of(struct redum_dum *dum)
{
	for (uint32_t i = 0; i < g.ninst; i++)
		if (g.inst[i].dum == dum)
			return &g.inst[i];
	return NULL;
}


/* A usage ended "by force" in a shutdown: after the give-up bound, or cut
 * by the stack's abandon (ECONNABORTED). A guess from the event, for the
 * per-type counts of usages ended after the stop; the total force-ended
 * comes from DUM's shutdown report, which the events do not carry. */
static bool forced_end(int err)
{
	if (!g.shut_done)
		return false;
	if (err == ECONNABORTED)
		return true;
	return now_ns() - g.t_shut >= (uint64_t)g.c.give_up_ms * 1000000ull;
}


/* ---- per-attempt timers ------------------------------------------------- */

static void attempt_end(struct attempt *a)
{
	struct redum_dum *dum = a->inst->dum;
	int err = 0;

	if (a->ended_asked || g.stopping)
		return;
	a->ended_asked = true;

	switch (a->sc) {
	case SC_CALL:     err = redum_invite_end(dum, a->h); break;
	case SC_REGISTER: err = redum_reg_end(dum, a->h);    break;
	case SC_PUBLISH:  err = redum_pub_remove(dum, a->h); break;
	case SC_SUBSCRIBE: err = redum_sub_unsubscribe(dum, a->h); break;
	default: break;   /* requests end by themselves */
	}
	if (err)           /* the usage stays until DUM's stop ends it */
		a->ended_asked = false;
}


static void hold_expired(void *arg)
{
	attempt_end(arg);
}


/* No final response within --timeout: a failure; the usage is ended (a
 * CANCEL, which libre sends once a provisional came) and stays counted as
 * outstanding until DUM reports its end. */
static void attempt_timeout(void *arg)
{
	struct attempt *a = arg;

	if (a->answered)
		return;
	attempt_fail(a, "timeout");
	attempt_end(a);
}


/* ---- DUM event handlers (main thread) ----------------------------------- */

static struct attempt *ev_attempt(struct redum_dum *dum,
				  const struct redum_dum_event *ev)
{
	struct inst *in = inst_of(dum);

	return in ? attempt_find(in, ev->h) : NULL;
}


static void on_connected(struct redum_dum *dum,
			 const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	attempt_answered(a);
	tmr_cancel(&a->tmr);
	if (a->failed) {       /* answered after our timeout: hang up */
		attempt_end(a);
		return;
	}
	if (g.c.hold_ms)
		tmr_start(&a->tmr, g.c.hold_ms, hold_expired, a);
	else
		attempt_end(a);
}


static void on_terminated(struct redum_dum *dum,
			  const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;

	switch (ev->reason) {
	case REDUM_TERM_LOCAL_BYE:
		if (a->answered)
			attempt_succeed(a);
		else
			attempt_fail(a, "local_bye");
		break;
	case REDUM_TERM_REMOTE_BYE:
		attempt_fail(a, "remote_bye");
		break;
	case REDUM_TERM_REJECTED:
		attempt_fail_status(a, ev->scode, ev->err);
		break;
	case REDUM_TERM_CANCELLED:
		/* our own stop CANCELs what is still early */
		attempt_fail(a, !g.stopping ? "cancelled" :
			     g.shut_done ? "shutdown" : "unfinished");
		break;
	case REDUM_TERM_ACK_TIMEOUT:
		attempt_fail(a, "ack_timeout");
		break;
	case REDUM_TERM_DIALOG_GONE:
		attempt_fail(a, "dialog_gone");
		break;
	case REDUM_TERM_SHUTDOWN:
		/* a call that was answered and then ended by our own
		 * --shutdown-at (graceful) did its job until the stop; at the
		 * end of a run, a call not done by the drain bound is not */
		if (a->answered && g.shut_done && !g.c.shutdown_force)
			attempt_succeed(a);
		else
			attempt_fail(a, g.shut_done ? "shutdown" :
				     "unfinished");
		break;
	default:
		attempt_fail_status(a, ev->scode, ev->err ? ev->err : EPROTO);
		break;
	}

	attempt_done(a, ev->usage, forced_end(ev->err));
}


/* OPTIONS (request-client) final response. */
static void on_response(struct redum_dum *dum,
			const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	if (!ev->err && ev->scode >= 200 && ev->scode < 300) {
		attempt_answered(a);
		attempt_succeed(a);
	}
	else {
		attempt_fail_status(a, ev->err ? 0 : ev->scode, ev->err);
	}
	attempt_done(a, ev->usage, forced_end(ev->err));
}


static void on_error(struct redum_dum *dum, const struct redum_dum_event *ev,
		     void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	/* a creating command that failed on the DUM thread (ESHUTDOWN while
	 * stopping, ENOMEM) leaves no usage behind; an error on a live one
	 * (ENOENT after it ended) is no news */
	if (!a || ev->err == ENOENT)
		return;
	if (ev->err == ESHUTDOWN || ev->err == ENOMEM) {
		attempt_fail(a, err_reason(ev->err));
		attempt_done(a, ev->usage, false);
	}
}


static void on_registered(struct redum_dum *dum,
			  const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	attempt_answered(a);
	attempt_succeed(a);
	tmr_cancel(&a->tmr);
	/* the binding stays at the registrar (it expires there); the usage
	 * ends here without a REGISTER Expires: 0 */
	attempt_end(a);
}


static void on_reg_retrying(struct redum_dum *dum,
			    const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	attempt_fail_status(a, ev->scode, ev->err);
	attempt_end(a);                  /* no back-off retries in a load */
}


/* A registration, publication or subscription failed (final status or
 * error). */
static void on_failure_status(struct redum_dum *dum,
			      const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	attempt_fail_status(a, ev->scode, ev->err);
	attempt_done(a, ev->usage, forced_end(ev->err));
}


/* A registration or publication is gone (unregistered, removed). */
static void on_usage_gone(struct redum_dum *dum,
			  const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (a)
		attempt_done(a, ev->usage, forced_end(ev->err));
}


/* A publication succeeded, or a subscription got its first NOTIFY (active
 * or pending): the attempt succeeded; it is held -d, then ended. */
static void on_answer_hold(struct redum_dum *dum,
			   const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a || a->answered)
		return;
	attempt_answered(a);
	attempt_succeed(a);
	tmr_cancel(&a->tmr);
	if (g.c.hold_ms)
		tmr_start(&a->tmr, g.c.hold_ms, hold_expired, a);
	else
		attempt_end(a);
}


static void on_sub_terminated(struct redum_dum *dum,
			      const struct redum_dum_event *ev, void *arg)
{
	struct attempt *a = ev_attempt(dum, ev);
	(void)arg;

	if (!a)
		return;
	if (!a->answered && ev->scode)
		attempt_fail_status(a, ev->scode, 0);
	else if (!a->answered)
		attempt_fail(a, "terminated");
	attempt_done(a, ev->usage, forced_end(ev->err));
}


static void check_finished(void);

static void on_dum_can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct inst *in = inst_of(dum);
	(void)arg;

	if (!in)
		return;
	in->deleted = true;
	in->t_deleted = now_ns();
	{
		const struct redum_shutdown_report *r;

		r = redum_dum_shutdown_result(dum);
		if (r && g.shut_done) {
			g.rep_seen = true;
			g.rep_forced += r->nforced;
			for (uint32_t i = 0; i < r->nforced; i++)
				if (r->forced[i].type < REDUM_USAGE_COUNT)
					g.rep_forced_by[r->forced[i].type]++;
			g.rep_deadline |= r->deadline_hit;
			g.rep_escalated |= r->escalated;
			if (r->total_ms > g.rep_total_ms)
				g.rep_total_ms = r->total_ms;
			g.rep_at_start += r->usages_at_start;
		}
	}
	check_finished();
}


/* ---- starting attempts -------------------------------------------------- */

static const char offer_sdp[] =
	"v=0\r\n"
	"o=redum-loadgen 1 1 IN IP4 127.0.0.1\r\n"
	"s=redum-loadgen\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 9 RTP/AVP 0\r\n"
	"a=sendrecv\r\n";

static const char pidf[] =
	"<?xml version=\"1.0\"?>\r\n"
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
	"entity=\"sip:lg@127.0.0.1\"><tuple id=\"t\"><status><basic>open"
	"</basic></status></tuple></presence>\r\n";


static enum scen pick_scenario(void)
{
	uint32_t r, i;

	if (g.c.wsum <= 1) {
		for (i = 0; i < SC_COUNT; i++)
			if (g.c.weight[i])
				return (enum scen)i;
	}

	/* xorshift: cheap, and the mix is a proportion, not a secret */
	g.rng ^= g.rng << 13;
	g.rng ^= g.rng >> 7;
	g.rng ^= g.rng << 17;
	r = (uint32_t)(g.rng % g.c.wsum);
	for (i = 0; i < SC_COUNT; i++) {
		if (r < g.c.weight[i])
			return (enum scen)i;
		r -= g.c.weight[i];
	}
	return SC_CALL;
}


static void uri_of(char *buf, size_t sz, const char *user)
{
	snprintf(buf, sz, "sip:%s@%s:%u%s", user, g.c.host,
		 sa_port(&g.c.target),
		 g.c.tp == SIP_TRANSP_TCP ? ";transport=tcp" : "");
}


static int send_attempt(struct attempt *a)
{
	struct inst *in = a->inst;
	char uri[160], aor[160], user[48];
	struct redum_dum_req req;
	struct redum_sub_req sreq;
	struct redum_reg_req rreq;

	memset(&req, 0, sizeof(req));
	memset(&sreq, 0, sizeof(sreq));
	memset(&rreq, 0, sizeof(rreq));

	switch (a->sc) {

	case SC_CALL:
		uri_of(uri, sizeof(uri), "service");
		req.uri = uri;
		req.from = in->from;
		req.ctype = "application/sdp";
		req.body = offer_sdp;
		req.body_len = sizeof(offer_sdp) - 1;
		return redum_dum_call(in->dum, &a->h, &req);

	case SC_OPTIONS:
		uri_of(uri, sizeof(uri), "service");
		req.uri = uri;
		req.from = in->from;
		return redum_dum_options(in->dum, &a->h, &req);

	case SC_MESSAGE:
		uri_of(uri, sizeof(uri), "service");
		sreq.uri = uri;
		sreq.from = in->from;
		sreq.ctype = "text/plain";
		sreq.body = "redum-loadgen";
		sreq.body_len = 13;
		return redum_pager_send(in->dum, &a->h, &sreq);

	case SC_REGISTER:
		/* a new AOR per attempt, or one of a pool (refreshes) */
		snprintf(user, sizeof(user), "lg%u-%" PRIu64, in->idx,
			 g.c.pool ? g.seq % g.c.pool : g.seq);
		uri_of(uri, sizeof(uri), "registrar");
		snprintf(aor, sizeof(aor), "sip:%s@%s", user, g.c.host);
		/* registrar URI: sip:HOST:PORT */
		snprintf(uri, sizeof(uri), "sip:%s:%u%s", g.c.host,
			 sa_port(&g.c.target),
			 g.c.tp == SIP_TRANSP_TCP ? ";transport=tcp" : "");
		rreq.registrar = uri;
		rreq.aor = aor;
		rreq.expires = g.c.reg_expires;
		return redum_reg_register(in->dum, &a->h, &rreq);

	case SC_PUBLISH:
		snprintf(user, sizeof(user), "lg%u-%" PRIu64, in->idx, g.seq);
		uri_of(uri, sizeof(uri), user);
		sreq.uri = uri;
		sreq.from = uri;
		sreq.event = "presence";
		sreq.expires = 3600;
		sreq.ctype = "application/pidf+xml";
		sreq.body = pidf;
		sreq.body_len = sizeof(pidf) - 1;
		return redum_pub_publish(in->dum, &a->h, &sreq);

	case SC_SUBSCRIBE:
		uri_of(uri, sizeof(uri), "presentity");
		sreq.uri = uri;
		sreq.from = in->from;
		sreq.event = "presence";
		sreq.expires = 3600;
		return redum_sub_subscribe(in->dum, &a->h, &sreq);

	default:
		return EINVAL;
	}
}


static void start_attempt(uint64_t t_intended)
{
	struct attempt *a;
	struct inst *in;
	int err;

	g.tot.attempted++;
	g.ivl.attempted++;

	if (g.c.limit && g.concurrent >= g.c.limit) {
		/* open loop: the slot is lost, not postponed */
		g.tot.failed++;
		g.ivl.failed++;
		reason_add(&g.tot, "max_concurrent");
		reason_add(&g.ivl, "max_concurrent");
		if (g.kill_done) {
			g.kill_started_after++;
			g.kill_after_failed++;
			reason_add(&g.kill_fail, "max_concurrent");
		}
		return;
	}

	in = &g.inst[g.seq % g.ninst];
	if (g.behind) {
		/* our own stack or DUM is behind (see check_behind): adding
		 * work would make it drop datagrams and collapse; the attempt
		 * fails here, named as ours */
		g.seq++;
		g.tot.failed++;
		g.ivl.failed++;
		reason_add(&g.tot, "local_overload");
		reason_add(&g.ivl, "local_overload");
		if (g.kill_done) {
			g.kill_started_after++;
			g.kill_after_failed++;
			reason_add(&g.kill_fail, "local_overload");
		}
		return;
	}
	a = mem_zalloc(sizeof(*a), attempt_destructor);
	if (!a) {
		g.tot.failed++;
		g.ivl.failed++;
		reason_add(&g.tot, "nomem");
		reason_add(&g.ivl, "nomem");
		return;
	}
	a->inst = in;
	a->sc = pick_scenario();
	a->t_intended = t_intended;
	a->after_kill = g.kill_done;
	tmr_init(&a->tmr);

	err = send_attempt(a);
	g.seq++;
	if (err) {
		/* ENOSPC: DUM's command FIFO is full; never wait for room */
		a->failed = true;
		g.tot.failed++;
		g.ivl.failed++;
		reason_add(&g.tot, err_reason(err));
		reason_add(&g.ivl, err_reason(err));
		if (a->after_kill) {
			g.kill_started_after++;
			g.kill_after_failed++;
			reason_add(&g.kill_fail, err_reason(err));
		}
		mem_deref(a);
		return;
	}

	hash_append(in->attempts, (uint32_t)a->h, &a->he, a);
	g.tot.started++;
	g.ivl.started++;
	if (a->after_kill)
		g.kill_started_after++;
	g.concurrent++;
	if (g.concurrent > g.peak_concurrent)
		g.peak_concurrent = g.concurrent;
	g.t_last_start = now_ns();

	if (g.c.timeout_ms) {
		uint64_t waited = (g.t_last_start - t_intended) / 1000000;
		uint64_t left = waited >= g.c.timeout_ms ? 1 :
			g.c.timeout_ms - waited;
		tmr_start(&a->tmr, left, attempt_timeout, a);
	}
}


/* ---- stopping ----------------------------------------------------------- */

/* Stops one DUM (EALREADY when it already stops: fine). */
static void dum_stop_one(struct inst *in, bool force)
{
	struct redum_shutdown_conf sc;

	if (force) {
		(void)redum_dum_shutdown_force(in->dum);
		return;
	}
	redum_shutdown_conf_init(&sc);
	sc.give_up_ms = g.c.give_up_ms;
	sc.log = false;
	(void)redum_dum_shutdown(in->dum, &sc);
}


static void begin_stop(void)
{
	if (g.stopping)
		return;
	g.stopping = true;
	g.sending_done = true;
	for (uint32_t i = 0; i < g.ninst; i++) {
		g.inst[i].stop_asked = true;
		dum_stop_one(&g.inst[i], g.shut_done && g.c.shutdown_force);
	}
}


static void check_finished(void)
{
	for (uint32_t i = 0; i < g.ninst; i++)
		if (!g.inst[i].deleted)
			return;
	if (g.finished)
		return;
	g.finished = true;
	tmr_cancel(&g.tmr_tick);
	re_cancel();
}


/* Marks every outstanding attempt as in flight at the kill. */
static bool mark_inflight(struct le *le, void *arg)
{
	struct attempt *a = le->data;
	(void)arg;

	if (!a->succeeded && !a->failed) {
		a->inflight_at_kill = true;
		g.kill_inflight++;
	}
	return false;
}


static void do_kill(void)
{
	g.kill_done = true;
	g.t_kill = now_ns();
	for (uint32_t i = 0; i < g.ninst; i++)
		(void)hash_apply(g.inst[i].attempts, mark_inflight, NULL);
	if (kill(g.c.kill_pid, SIGTERM))
		g.kill_err = errno;
}


static void do_shutdown(void)
{
	struct redum_dum_stats st;

	g.shut_done = true;
	g.t_shut = now_ns();
	for (uint32_t i = 0; i < g.ninst; i++) {
		redum_dum_stats(g.inst[i].dum, &st);
		for (uint32_t t = 0; t < REDUM_USAGE_COUNT; t++)
			for (uint32_t s = 0; s < REDUM_DUM_MAX_STATES; s++)
				g.alive_at_shut[t] += st.usages[t][s];
	}
	begin_stop();
}


static uint64_t planned_total(void)
{
	uint64_t n = g.c.total;

	if (g.c.duration_s > 0) {
		uint64_t d = (uint64_t)ceil(g.c.duration_s * g.c.rate);
		if (!n || d < n)
			n = d;
	}
	return n;     /* 0: until a signal */
}


/* Once per tick: is our own side behind? The stack's command FIFO (DUM ->
 * stack) or DUM's inbound FIFO (stack -> DUM) holding more than
 * --self-limit messages means a thread of ours has more work queued than
 * it can do soon; the UDP receive queue behind it then overflows and the
 * server's retransmissions multiply the load. New attempts then fail
 * "local_overload" until the queues are under half of the limit. */
static void check_behind(void)
{
	uint32_t deepest = 0;

	if (!g.c.self_limit)
		return;
	for (uint32_t i = 0; i < g.ninst; i++) {
		struct redum_stack_stats sst;
		struct redum_dum_stats dst;

		redum_stack_stats(g.inst[i].stack, &sst);
		redum_dum_stats(g.inst[i].dum, &dst);
		if (sst.cmd_fifo.depth > deepest)
			deepest = sst.cmd_fifo.depth;
		if (dst.inbound_depth > deepest)
			deepest = dst.inbound_depth;
	}
	if (deepest >= g.c.self_limit)
		g.behind = true;
	else if (deepest < g.c.self_limit / 2)
		g.behind = false;
	if (g.behind)
		g.behind_ticks++;
}


static void tick(void *arg)
{
	uint64_t now = now_ns(), due, planned = planned_total();
	double el = secs_since_start(now);
	(void)arg;

	if (!g.sending_done) {
		check_behind();
		due = (uint64_t)(el * g.c.rate) + 1;
		if (planned && due > planned)
			due = planned;
		while (g.scheduled < due && !g.sending_done) {
			uint64_t t = g.t_start + (uint64_t)((double)g.scheduled
							  * 1e9 / g.c.rate);
			g.scheduled++;
			start_attempt(t);
		}
		if (planned && g.scheduled >= planned) {
			g.sending_done = true;
			/* wait for what is outstanding, bounded */
			g.t_drain_end = now_ns() +
				(uint64_t)g.c.drain_ms * 1000000ull;
		}
	}

	if (g.c.kill_at >= 0 && !g.kill_done && el >= g.c.kill_at)
		do_kill();
	if (g.c.shutdown_at >= 0 && !g.shut_done && el >= g.c.shutdown_at)
		do_shutdown();

	if (g.sending_done && !g.stopping &&
	    (g.concurrent == 0 || g.judged == g.tot.started ||
	     now >= g.t_drain_end))
		begin_stop();

	if (!g.finished)
		tmr_start(&g.tmr_tick, 1, tick, NULL);
}


/* ---- reports ------------------------------------------------------------ */

/* Retransmissions on the wire in one instance's traffic: requests we
 * re-sent (retx_req: no answer in time, Timer A/E), finals we re-sent
 * (retx_final, retx_2xx: a UAS role, none here) and 2xx the server re-sent
 * (ack_retx: our ACK was lost or late; each is re-ACKed). */
static uint64_t stack_retx(const struct redum_stack_stats *st)
{
	return st->retx_req + st->retx_final + st->retx_2xx + st->ack_retx;
}


static uint64_t retransmissions(void)
{
	struct redum_stack_stats st;
	uint64_t n = 0;

	for (uint32_t i = 0; i < g.ninst; i++) {
		redum_stack_stats(g.inst[i].stack, &st);
		n += stack_retx(&st);
	}
	return n;
}


static void reasons_print(FILE *f, const struct counters *c, const char *sep)
{
	for (uint32_t i = 0; i < c->nreasons; i++)
		fprintf(f, "%s%s=%" PRIu64, i ? sep : "", c->reasons[i].name,
			c->reasons[i].n);
}


static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}


/* CPU time of the whole process (every thread: stacks, DUMs, this). */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
		(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}


static void interval(void *arg)
{
	uint64_t now = now_ns();
	double dt = (double)(now - g.t_ivl) / 1e9, t = secs_since_start(now);
	struct row r;
	(void)arg;

	if (dt <= 0)
		dt = 1;
	memset(&r, 0, sizeof(r));
	r.t = t;
	r.rate = (double)g.ivl.started / dt;
	r.ok_rate = (double)g.ivl.succeeded / dt;
	r.concurrent = g.concurrent;
	r.attempted = g.tot.attempted;
	r.succeeded = g.tot.succeeded;
	r.failed = g.tot.failed;
	r.retx = retransmissions() - g.retx_base;
	r.p50 = ms(lg_hist_percentile(&g.hist_ivl, 50));
	r.p90 = ms(lg_hist_percentile(&g.hist_ivl, 90));
	r.p99 = ms(lg_hist_percentile(&g.hist_ivl, 99));
	r.p999 = ms(lg_hist_percentile(&g.hist_ivl, 99.9));
	r.max = ms(g.hist_ivl.max);
	{
		uint64_t c = cpu_us();

		r.cpu_us = g.ivl.started ?
			(double)(c - g.cpu_ivl) / (double)g.ivl.started : 0;
		g.cpu_ivl = c;
	}

	if (g.tty && !g.c.quiet) {
		/* a SIPp-like screen, redrawn in place */
		printf("\033[H\033[2J");
		printf("------ redum-loadgen %s: %s -> %s:%u (%s) ------\n",
		       REDUM_VERSION, g.c.scenario, g.c.host,
		       sa_port(&g.c.target),
		       g.c.tp == SIP_TRANSP_TCP ? "tcp" : "udp");
		printf("  time %.1f s   target rate %.1f/s   instances %u\n",
		       t, g.c.rate, g.ninst);
		printf("  this second: started %.1f/s  succeeded %.1f/s\n",
		       r.rate, r.ok_rate);
		printf("  concurrent %" PRIu64 " (peak %" PRIu64 ", limit %u)\n",
		       g.concurrent, g.peak_concurrent, g.c.limit);
		printf("\n  %-16s %12s\n", "", "total");
		printf("  %-16s %12" PRIu64 "\n", "attempted", g.tot.attempted);
		printf("  %-16s %12" PRIu64 "\n", "succeeded", g.tot.succeeded);
		printf("  %-16s %12" PRIu64 "\n", "failed", g.tot.failed);
		for (uint32_t i = 0; i < g.tot.nreasons; i++)
			printf("    %-14s %12" PRIu64 "\n",
			       g.tot.reasons[i].name, g.tot.reasons[i].n);
		printf("  %-16s %12" PRIu64 "\n", "retransmissions", r.retx);
		printf("\n  latency this second (ms): p50 %.2f  p90 %.2f  "
		       "p99 %.2f  p99.9 %.2f  max %.2f\n",
		       r.p50, r.p90, r.p99, r.p999, r.max);
		printf("  latency overall (ms):     p50 %.2f  p90 %.2f  "
		       "p99 %.2f  p99.9 %.2f  max %.2f\n",
		       ms(lg_hist_percentile(&g.hist, 50)),
		       ms(lg_hist_percentile(&g.hist, 90)),
		       ms(lg_hist_percentile(&g.hist, 99)),
		       ms(lg_hist_percentile(&g.hist, 99.9)), ms(g.hist.max));
		printf("%s\n", g.stopping ? "  -- stopping --" :
		       g.sending_done ? "  -- draining --" :
		       "  Ctrl-C: stop sending and drain (twice: stop now)");
		fflush(stdout);
	}
	else if (!g.c.quiet) {
		printf("t=%.1f rate=%.1f/s ok_rate=%.1f/s concurrent=%" PRIu64
		       " attempted=%" PRIu64 " succeeded=%" PRIu64
		       " failed=%" PRIu64,
		       t, r.rate, r.ok_rate, g.concurrent, g.tot.attempted,
		       g.tot.succeeded, g.tot.failed);
		if (g.ivl.nreasons) {
			printf(" fail_ivl[");
			reasons_print(stdout, &g.ivl, ",");
			printf("]");
		}
		printf(" retx=%" PRIu64 " p50=%.2f p90=%.2f p99=%.2f p999=%.2f"
		       " max=%.2f ms cpu=%.1fus/attempt\n", r.retx, r.p50,
		       r.p90, r.p99, r.p999, r.max, r.cpu_us);
		fflush(stdout);
	}

	if (g.csv) {
		fprintf(g.csv, "%.3f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f,%.3f,%.3f,%.1f\n",
			r.t, r.rate, r.ok_rate, r.concurrent, r.attempted,
			r.succeeded, r.failed, r.retx, r.p50, r.p90, r.p99,
			r.p999, r.max, r.cpu_us);
		fflush(g.csv);
	}

	if (g.c.plot) {
		if (g.nrows == g.cap_rows) {
			size_t n = g.cap_rows ? 2 * g.cap_rows : 256;
			struct row *nr = realloc(g.rows, n * sizeof(*nr));
			if (nr) {
				g.rows = nr;
				g.cap_rows = n;
			}
		}
		if (g.nrows < g.cap_rows)
			g.rows[g.nrows++] = r;
	}

	memset(&g.ivl, 0, sizeof(g.ivl));
	lg_hist_reset(&g.hist_ivl);
	g.t_ivl = now;
	if (!g.finished)
		tmr_start(&g.tmr_ivl, 1000, interval, NULL);
}


static void json_reasons(const struct counters *c)
{
	printf("{");
	for (uint32_t i = 0; i < c->nreasons; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", c->reasons[i].name,
		       c->reasons[i].n);
	printf("}");
}


static uint64_t t_all_deleted(void)
{
	uint64_t t = 0;

	for (uint32_t i = 0; i < g.ninst; i++)
		if (g.inst[i].t_deleted > t)
			t = g.inst[i].t_deleted;
	return t;
}


static double rate_achieved(void)
{
	double span;

	/* attempts started per second over the sending window: from the
	 * first intended start to the last start (plus one period) */
	if (!g.tot.started)
		return 0;
	span = (double)(g.t_last_start - g.t_start) / 1e9 + 1.0 / g.c.rate;
	return (double)g.tot.started / span;
}


static double cpu_per_attempt(void)
{
	return g.tot.started ? (double)(cpu_us() - g.cpu_start) /
		(double)g.tot.started : 0;
}


static void summary(uint64_t retx, double elapsed)
{
	const struct lg_hist *h = &g.hist;
	double achieved = rate_achieved();

	printf("==== redum-loadgen summary: %s -> %s:%u (%s), %u instance%s\n",
	       g.c.scenario, g.c.host, sa_port(&g.c.target),
	       g.c.tp == SIP_TRANSP_TCP ? "tcp" : "udp", g.ninst,
	       g.ninst > 1 ? "s" : "");
	printf("elapsed %.2f s, target rate %.1f/s, achieved %.1f/s, "
	       "peak concurrent %" PRIu64 "\n", elapsed, g.c.rate, achieved,
	       g.peak_concurrent);
	printf("attempted %" PRIu64 ", started %" PRIu64 ", succeeded %" PRIu64
	       ", failed %" PRIu64, g.tot.attempted, g.tot.started,
	       g.tot.succeeded, g.tot.failed);
	if (g.tot.nreasons) {
		printf(" (");
		reasons_print(stdout, &g.tot, ", ");
		printf(")");
	}
	printf("\nretransmissions %" PRIu64 "; generator behind (shedding) "
	       "%.1f s; generator CPU %.1f us per started attempt\n", retx,
	       (double)g.behind_ticks / 1000.0, cpu_per_attempt());
	printf("latency ms (from the intended start): p50 %.3f p90 %.3f "
	       "p99 %.3f p99.9 %.3f max %.3f (%" PRIu64 " samples)\n",
	       ms(lg_hist_percentile(h, 50)), ms(lg_hist_percentile(h, 90)),
	       ms(lg_hist_percentile(h, 99)), ms(lg_hist_percentile(h, 99.9)),
	       ms(h->max), h->count);
	if (g.shut_done) {
		uint64_t alive = 0, ended = 0;
		for (uint32_t t = 0; t < REDUM_USAGE_COUNT; t++) {
			alive += g.alive_at_shut[t];
			ended += g.ended_after_shut[t];
		}
		printf("shutdown (%s, give-up %u ms) at %.2f s: %" PRIu64
		       " usages alive, %" PRIu64 " ended (%" PRIu64
		       " force-ended), DUM can be deleted after %.1f ms\n",
		       g.c.shutdown_force ? "force" : "graceful",
		       g.c.shutdown_force ? 0 : g.c.give_up_ms,
		       secs_since_start(g.t_shut), alive, ended,
		       g.rep_seen ? g.rep_forced : g.force_ended,
		       (double)(t_all_deleted() - g.t_shut) / 1e6);
	}
	if (g.c.kill_at >= 0) {
		if (!g.kill_done)
			printf("kill: the run ended before --kill-at\n");
		else
			printf("kill: SIGTERM to %d at %.2f s%s%s: in flight %"
			       PRIu64 " (completed %" PRIu64 ", failed %"
			       PRIu64 "); started after %" PRIu64
			       " (completed %" PRIu64 ", failed %" PRIu64
			       ")\n", (int)g.c.kill_pid,
			       secs_since_start(g.t_kill),
			       g.kill_err ? ", kill failed: " : "",
			       g.kill_err ? strerror(g.kill_err) : "",
			       g.kill_inflight, g.kill_inflight_ok,
			       g.kill_inflight_failed, g.kill_started_after,
			       g.kill_after_ok, g.kill_after_failed);
	}

	if (!g.c.json)
		return;

	printf("{\"tool\":\"redum-loadgen\",\"version\":\"%s\","
	       "\"scenario\":\"%s\",\"target\":\"%s:%u\",\"transport\":\"%s\","
	       "\"instances\":%u,\"rate_target\":%.3f,\"rate_achieved\":%.3f,"
	       "\"elapsed_s\":%.3f,\"attempted\":%" PRIu64 ",\"started\":%"
	       PRIu64 ",\"succeeded\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"failed_by_reason\":", REDUM_VERSION, g.c.scenario,
	       g.c.host, sa_port(&g.c.target),
	       g.c.tp == SIP_TRANSP_TCP ? "tcp" : "udp", g.ninst, g.c.rate,
	       achieved, elapsed, g.tot.attempted, g.tot.started,
	       g.tot.succeeded, g.tot.failed);
	json_reasons(&g.tot);
	printf(",\"generator_behind_s\":%.3f,\"cpu_us_per_attempt\":%.1f",
	       (double)g.behind_ticks / 1000.0, cpu_per_attempt());
	printf(",\"retransmissions\":%" PRIu64 ",\"peak_concurrent\":%" PRIu64
	       ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	       "\"p999\":%.3f,\"max\":%.3f,\"samples\":%" PRIu64 "}",
	       retx, g.peak_concurrent,
	       ms(lg_hist_percentile(h, 50)), ms(lg_hist_percentile(h, 90)),
	       ms(lg_hist_percentile(h, 99)), ms(lg_hist_percentile(h, 99.9)),
	       ms(h->max), h->count);
	if (g.shut_done) {
		bool first = true;
		printf(",\"shutdown\":{\"mode\":\"%s\",\"api\":\"%s\""
		       ",\"give_up_ms\":%u,\"at_s\":%.3f,"
		       "\"to_can_be_deleted_ms\":%.3f,\"alive_at_stop\":{",
		       g.c.shutdown_force ? "force" : "graceful",
		       g.rep_seen ? (g.c.shutdown_force ?
				     "redum_dum_shutdown_force" :
				     "redum_dum_shutdown") : "redum_dum_stop",
		       g.c.shutdown_force ? 0 : g.c.give_up_ms,
		       secs_since_start(g.t_shut),
		       (double)(t_all_deleted() - g.t_shut) / 1e6);
		for (uint32_t t = 1; t < REDUM_USAGE_COUNT; t++) {
			if (!g.alive_at_shut[t])
				continue;
			printf("%s\"%s\":%" PRIu64, first ? "" : ",",
			       redum_usage_name((enum redum_usage_type)t),
			       g.alive_at_shut[t]);
			first = false;
		}
		printf("},\"ended\":{");
		first = true;
		for (uint32_t t = 1; t < REDUM_USAGE_COUNT; t++) {
			if (!g.ended_after_shut[t])
				continue;
			printf("%s\"%s\":%" PRIu64, first ? "" : ",",
			       redum_usage_name((enum redum_usage_type)t),
			       g.ended_after_shut[t]);
			first = false;
		}
		printf("},\"force_ended\":%" PRIu64,
		       g.rep_seen ? g.rep_forced : g.force_ended);
		if (g.rep_seen) {
			printf(",\"force_ended_by_type\":{");
			first = true;
			for (uint32_t t = 1; t < REDUM_USAGE_COUNT; t++) {
				if (!g.rep_forced_by[t])
					continue;
				printf("%s\"%s\":%" PRIu64, first ? "" : ",",
				       redum_usage_name((enum redum_usage_type)t),
				       g.rep_forced_by[t]);
				first = false;
			}
			printf("},\"deadline_hit\":%s,\"escalated\":%s,"
			       "\"dum_report_total_ms\":%" PRIu64
			       ",\"usages_at_start\":%" PRIu64,
			       g.rep_deadline ? "true" : "false",
			       g.rep_escalated ? "true" : "false",
			       g.rep_total_ms, g.rep_at_start);
		}
		printf("}");
	}
	if (g.c.kill_at >= 0) {
		printf(",\"kill\":{\"pid\":%d,\"sent\":%s,\"error\":\"%s\","
		       "\"at_s\":%.3f,\"in_flight\":%" PRIu64
		       ",\"in_flight_completed\":%" PRIu64
		       ",\"in_flight_failed\":%" PRIu64
		       ",\"started_after\":%" PRIu64
		       ",\"completed_after\":%" PRIu64
		       ",\"failed_after\":%" PRIu64
		       ",\"last_success_after_ms\":%.3f,\"failed_after_by_reason\":",
		       (int)g.c.kill_pid, g.kill_done && !g.kill_err ?
		       "true" : "false",
		       g.kill_err ? strerror(g.kill_err) : "",
		       g.kill_done ? secs_since_start(g.t_kill) : 0.0,
		       g.kill_inflight, g.kill_inflight_ok,
		       g.kill_inflight_failed, g.kill_started_after,
		       g.kill_after_ok, g.kill_after_failed,
		       g.t_last_ok_after_kill > g.t_kill ?
		       (double)(g.t_last_ok_after_kill - g.t_kill) / 1e6 : 0.0);
		json_reasons(&g.kill_fail);
		printf("}");
	}
	printf("}\n");
	fflush(stdout);
}


/* ---- plot --------------------------------------------------------------- */

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[512];

	while (path && *path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		path = e ? e + 1 : NULL;
	}
	return false;
}


static int plot(void)
{
	char data[] = "/tmp/redum-loadgen-XXXXXX";
	char script[] = "/tmp/redum-loadgen-gp-XXXXXX";
	FILE *f = NULL;
	int fd, status = 0, err = 0;
	pid_t pid;

	fd = mkstemp(data);
	if (fd < 0)
		return errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		unlink(data);
		return err;
	}
	for (size_t i = 0; i < g.nrows; i++) {
		const struct row *r = &g.rows[i];
		fprintf(f, "%.3f %.1f %.1f %" PRIu64 " %.3f %.3f %.3f %.3f "
			"%.3f\n", r->t, r->rate, r->ok_rate, r->concurrent,
			r->p50, r->p90, r->p99, r->p999, r->max);
	}
	fclose(f);

	fd = mkstemp(script);
	if (fd < 0) {
		err = errno;
		unlink(data);
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		goto out;
	}
	fprintf(f,
		"set terminal png size 1000,750\n"
		"set output '%s'\n"
		"set multiplot layout 2,1 title 'redum-loadgen %s -> %s:%u, "
		"target %.0f/s, %u instance(s)'\n"
		"set grid\n"
		"set key outside right\n"
		"set xlabel 'time (s)'\n"
		"set ylabel 'per second'\n"
		"set y2label 'concurrent'\n"
		"set ytics nomirror\nset y2tics\n"
		"set xrange [0:*]\nset yrange [0:*]\nset y2range [0:*]\n"
		"plot '%s' using 1:2 with lines lw 2 title 'started/s', "
		"'' using 1:3 with lines title 'succeeded/s', "
		"'' using 1:4 axes x1y2 with lines title 'concurrent'\n"
		"unset y2label\nunset y2tics\nset ytics mirror\n"
		"set ylabel 'latency (ms)'\n"
		"set yrange [*:*]\nset logscale y\n"
		"plot '%s' using 1:($5>0?$5:1/0) with lines title 'p50', "
		"'' using 1:($6>0?$6:1/0) with lines title 'p90', "
		"'' using 1:($7>0?$7:1/0) with lines title 'p99', "
		"'' using 1:($8>0?$8:1/0) with lines title 'p99.9', "
		"'' using 1:($9>0?$9:1/0) with lines title 'max'\n"
		"unset multiplot\n",
		g.c.plot, g.c.scenario, g.c.host, sa_port(&g.c.target),
		g.c.rate, g.ninst, data, data);
	fclose(f);

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* gnuplot's chatter goes to stderr; stdout stays ours */
		if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		err = errno;
		goto out;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		err = EIO;

 out:
	unlink(script);
	unlink(data);
	return err;
}


/* ---- signals ------------------------------------------------------------ */

static void signal_handler(int flags, void *arg)
{
	struct signalfd_siginfo si;
	(void)flags;
	(void)arg;

	while (read(g.sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (++g.signals == 1) {
			/* like SIPp's 'q': no new attempts, drain */
			fprintf(stderr, "redum-loadgen: signal %u: no new "
				"attempts, draining (again: stop now)\n",
				si.ssi_signo);
			if (!g.sending_done) {
				g.sending_done = true;
				g.t_drain_end = now_ns() +
				(uint64_t)g.c.drain_ms * 1000000ull;
			}
		}
		else {
			begin_stop();
		}
	}
}


static int signals_open(void)
{
	sigset_t all, handled;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);   /* threads inherit it */

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	return signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
}


/* ---- arguments ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: redum-loadgen HOST:PORT [options]      (numeric address; IPv6 as [::1]:5060)\n"
"  -s SCENARIO        call (default), options, message, register, publish,\n"
"                     subscribe,\n"
"                     or mix:call=70,options=30 (weights)\n"
"  -t u1|un|t1|tn     transport as SIPp (udp or tcp; one socket per instance)\n"
"  --transport udp|tcp\n"
"  -r RATE            attempts per second, open loop (default 10)\n"
"  -l MAX             most outstanding attempts; beyond: failed max_concurrent\n"
"                     (default 0: no limit)\n"
"  -m TOTAL           attempts in all (default: rate x --duration, or until ^C)\n"
"  -d MS              call hold time (and publish hold) in ms (default 0)\n"
"  --duration SEC     seconds of sending\n"
"  -i ADDR            local address (default 127.0.0.1 / ::1 for loopback)\n"
"  -p PORT            local port of instance 0 (instance n: PORT+n); 0 = any\n"
"  -j N, --instances N  stack+DUM pairs, each its own stack thread and port\n"
"  --dum-thread       each DUM on its own thread (default: this thread's loop)\n"
"  --timeout-ms MS    an attempt without final response by then fails\n"
"                     'timeout' (default 32000, SIP's Timer B)\n"
"  --drain-ms MS      at the end, wait at most this for outstanding ones\n"
"                     (default: timeout + hold + 2000)\n"
"  --expires S        register: Expires asked (default 3600)\n"
"  --pool N           register: refresh a pool of N AORs instead of new ones\n"
"  --csv FILE         a row per interval (1 s)\n"
"  --json             the final summary as one JSON object on the last line\n"
"  --plot FILE.png    rate, concurrency and latency over time (gnuplot)\n"
"  -q, --quiet        no interval lines\n"
"  --stats            the stack's and DUM's counters to stderr at the end\n"
"  --self-limit N     our own queue depth (stack command FIFO or DUM inbound)\n"
"                     above which new attempts fail local_overload (4096;\n"
"                     0 = off)\n"
"  --shutdown-at SEC  stop our own DUM then, under load\n"
"  --shutdown-mode graceful|force   (default graceful)\n"
"  --give-up-ms MS    graceful stop: bound before usages are force-ended (4000)\n"
"  --kill-target PID --kill-at SEC  SIGTERM to PID then; report its drain\n"
"  -h, --help / -V, --version\n"
"exit: 0 all succeeded, 1 some failed, 99 nothing attempted, 253 internal\n"
"      (a clean stop failed), 254 setup (bind/start), 255 bad arguments\n");
}


static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *e;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-')
		return EINVAL;
	v = strtoull(s, &e, 10);
	if (errno || *e || v > max)
		return EINVAL;
	*out = v;
	return 0;
}


static int parse_double(const char *s, double *out)
{
	char *e;
	double v;

	errno = 0;
	if (!s || !*s)
		return EINVAL;
	v = strtod(s, &e);
	if (errno || *e || !isfinite(v) || v < 0)
		return EINVAL;
	*out = v;
	return 0;
}


static int scen_of(const char *s, size_t n)
{
	for (int i = 0; i < SC_COUNT; i++)
		if (strlen(scen_names[i]) == n && !strncmp(s, scen_names[i], n))
			return i;
	return -1;
}


static int parse_scenario(struct conf *c, const char *s)
{
	const char *p;

	snprintf(c->scenario, sizeof(c->scenario), "%s", s);
	memset(c->weight, 0, sizeof(c->weight));
	c->wsum = 0;

	if (strncmp(s, "mix:", 4)) {
		int i = scen_of(s, strlen(s));
		if (i < 0)
			return EINVAL;
		c->weight[i] = 1;
		c->wsum = 1;
		return 0;
	}

	p = s + 4;
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		char num[16];
		uint64_t w;
		int i;

		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end)
			return EINVAL;
		i = scen_of(p, (size_t)(eq - p));
		if (i < 0 || (size_t)(end - eq - 1) >= sizeof(num))
			return EINVAL;
		snprintf(num, sizeof(num), "%.*s", (int)(end - eq - 1), eq + 1);
		if (parse_uint(num, 1000000, &w))
			return EINVAL;
		c->weight[i] += (uint32_t)w;
		c->wsum += (uint32_t)w;
		p = *end ? end + 1 : end;
	}
	return c->wsum ? 0 : EINVAL;
}


static int bad(const char *what, const char *val)
{
	fprintf(stderr, "redum-loadgen: bad %s '%s'\n", what, val ? val : "");
	fprintf(stderr, "(redum-loadgen --help for the options)\n");
	return LG_EXIT_USAGE;
}


static int parse_args(int argc, char *argv[], struct conf *c)
{
	enum {
		O_TRANSPORT = 1000, O_DURATION, O_CSV, O_JSON, O_PLOT,
		O_SHUT_AT, O_SHUT_MODE, O_GIVE_UP, O_KILL_PID, O_KILL_AT,
		O_DUM_THREAD, O_TIMEOUT, O_DRAIN, O_EXPIRES, O_POOL, O_STATS, O_SELF_LIMIT,
	};
	static const struct option opts[] = {
		{"transport",     required_argument, NULL, O_TRANSPORT},
		{"duration",      required_argument, NULL, O_DURATION},
		{"csv",           required_argument, NULL, O_CSV},
		{"json",          no_argument,       NULL, O_JSON},
		{"plot",          required_argument, NULL, O_PLOT},
		{"shutdown-at",   required_argument, NULL, O_SHUT_AT},
		{"shutdown-mode", required_argument, NULL, O_SHUT_MODE},
		{"give-up-ms",    required_argument, NULL, O_GIVE_UP},
		{"kill-target",   required_argument, NULL, O_KILL_PID},
		{"kill-at",       required_argument, NULL, O_KILL_AT},
		{"dum-thread",    no_argument,       NULL, O_DUM_THREAD},
		{"timeout-ms",    required_argument, NULL, O_TIMEOUT},
		{"drain-ms",      required_argument, NULL, O_DRAIN},
		{"expires",       required_argument, NULL, O_EXPIRES},
		{"pool",          required_argument, NULL, O_POOL},
		{"stats",         no_argument,       NULL, O_STATS},
		{"self-limit",    required_argument, NULL, O_SELF_LIMIT},
		{"instances",     required_argument, NULL, 'j'},
		{"quiet",         no_argument,       NULL, 'q'},
		{"help",          no_argument,       NULL, 'h'},
		{"version",       no_argument,       NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	bool drain_set = false, kill_pid_set = false;
	const char *target = NULL;
	uint64_t v;
	int opt;

	memset(c, 0, sizeof(*c));
	(void)parse_scenario(c, "call");
	c->tp = SIP_TRANSP_UDP;
	c->rate = 10;
	c->instances = 1;
	c->timeout_ms = 32000;
	c->shutdown_at = -1;
	c->kill_at = -1;
	c->give_up_ms = 4000;
	c->reg_expires = 3600;
	c->self_limit = 4096;

	while ((opt = getopt_long(argc, argv, "s:t:r:l:m:d:i:p:j:qhV", opts,
				  NULL)) != -1) {
		switch (opt) {

		case 's':
			if (parse_scenario(c, optarg))
				return bad("scenario (-s)", optarg);
			break;

		case 't':
		case O_TRANSPORT:
			if (!strcmp(optarg, "u1") || !strcmp(optarg, "un") ||
			    !strcmp(optarg, "udp"))
				c->tp = SIP_TRANSP_UDP;
			else if (!strcmp(optarg, "t1") ||
				 !strcmp(optarg, "tn") ||
				 !strcmp(optarg, "tcp"))
				c->tp = SIP_TRANSP_TCP;
			else
				return bad("transport", optarg);
			break;

		case 'r':
			if (parse_double(optarg, &c->rate) || c->rate <= 0 ||
			    c->rate > 1e7)
				return bad("rate (-r)", optarg);
			break;

		case 'l':
			if (parse_uint(optarg, UINT32_MAX, &v))
				return bad("limit (-l)", optarg);
			c->limit = (uint32_t)v;
			break;

		case 'm':
			if (parse_uint(optarg, UINT64_MAX / 2, &v) || !v)
				return bad("total (-m)", optarg);
			c->total = v;
			break;

		case 'd':
			if (parse_uint(optarg, 86400000, &v))
				return bad("hold time (-d, ms)", optarg);
			c->hold_ms = (uint32_t)v;
			break;

		case O_DURATION:
			if (parse_double(optarg, &c->duration_s) ||
			    c->duration_s <= 0)
				return bad("--duration", optarg);
			break;

		case 'i':
			snprintf(c->bind_ip, sizeof(c->bind_ip), "%s", optarg);
			break;

		case 'p':
			if (parse_uint(optarg, 65535, &v))
				return bad("local port (-p)", optarg);
			c->lport = (uint16_t)v;
			break;

		case 'j':
			if (parse_uint(optarg, MAX_INST, &v) || !v)
				return bad("instances (-j, 1..16)", optarg);
			c->instances = (uint32_t)v;
			break;

		case O_DUM_THREAD:
			c->dum_thread = true;
			break;

		case O_TIMEOUT:
			if (parse_uint(optarg, 86400000, &v) || !v)
				return bad("--timeout-ms", optarg);
			c->timeout_ms = (uint32_t)v;
			break;

		case O_DRAIN:
			if (parse_uint(optarg, 86400000, &v))
				return bad("--drain-ms", optarg);
			c->drain_ms = (uint32_t)v;
			drain_set = true;
			break;

		case O_EXPIRES:
			if (parse_uint(optarg, 86400, &v) || !v)
				return bad("--expires", optarg);
			c->reg_expires = (uint32_t)v;
			break;

		case O_POOL:
			if (parse_uint(optarg, 100000000, &v))
				return bad("--pool", optarg);
			c->pool = (uint32_t)v;
			break;

		case O_CSV:
			c->csv = optarg;
			break;

		case O_JSON:
			c->json = true;
			break;

		case O_PLOT:
			c->plot = optarg;
			break;

		case 'q':
			c->quiet = true;
			break;

		case O_STATS:
			c->stats = true;
			break;

		case O_SELF_LIMIT:
			if (parse_uint(optarg, 1u << 20, &v))
				return bad("--self-limit", optarg);
			c->self_limit = (uint32_t)v;
			break;

		case O_SHUT_AT:
			if (parse_double(optarg, &c->shutdown_at))
				return bad("--shutdown-at", optarg);
			break;

		case O_SHUT_MODE:
			if (!strcmp(optarg, "graceful"))
				c->shutdown_force = false;
			else if (!strcmp(optarg, "force"))
				c->shutdown_force = true;
			else
				return bad("--shutdown-mode (graceful|force)",
					   optarg);
			break;

		case O_GIVE_UP:
			if (parse_uint(optarg, 3600000, &v))
				return bad("--give-up-ms", optarg);
			c->give_up_ms = (uint32_t)v;
			break;

		case O_KILL_PID:
			if (parse_uint(optarg, INT32_MAX, &v) || v < 2)
				return bad("--kill-target (a pid > 1)", optarg);
			c->kill_pid = (pid_t)v;
			kill_pid_set = true;
			break;

		case O_KILL_AT:
			if (parse_double(optarg, &c->kill_at))
				return bad("--kill-at", optarg);
			break;

		case 'h':
			usage(stdout);
			exit(0);

		case 'V':
			printf("redum-loadgen %s\n", REDUM_VERSION);
			exit(0);

		default:
			usage(stderr);
			return LG_EXIT_USAGE;
		}
	}

	for (int i = optind; i < argc; i++) {
		if (target)
			return bad("extra argument", argv[i]);
		target = argv[i];
	}
	if (!target)
		return bad("target (HOST:PORT is required)", "");
	if (sa_decode(&c->target, target, strlen(target)) ||
	    !sa_port(&c->target))
		return bad("target (numeric HOST:PORT)", target);
	if (sa_af(&c->target) == AF_INET6)
		re_snprintf(c->host, sizeof(c->host), "[%j]", &c->target);
	else
		re_snprintf(c->host, sizeof(c->host), "%j", &c->target);

	if (!c->bind_ip[0]) {
		if (!sa_is_loopback(&c->target))
			return bad("local address: give -i ADDR for a "
				   "target that is not loopback", target);
		snprintf(c->bind_ip, sizeof(c->bind_ip), "%s",
			 sa_af(&c->target) == AF_INET6 ? "::1" : "127.0.0.1");
	}
	if ((kill_pid_set) != (c->kill_at >= 0))
		return bad("--kill-target / --kill-at (give both)", "");
	if (c->plot && !in_path("gnuplot")) {
		fprintf(stderr, "redum-loadgen: --plot needs gnuplot, which "
			"is not installed (Debian: apt-get install "
			"gnuplot-nox)\n");
		return LG_EXIT_USAGE;
	}
	if (c->lport && (uint32_t)c->lport + c->instances - 1 > 65535)
		return bad("local port (-p + instances > 65535)", "");
	if (!drain_set)
		c->drain_ms = c->timeout_ms + c->hold_ms + 2000;
	return 0;
}


/* ---- setup and main ----------------------------------------------------- */

static int inst_start(struct inst *in, uint32_t idx)
{
	struct redum_dum_handlers hd = {
		.invite = {.on_connected = on_connected,
			   .on_terminated = on_terminated},
		.request = {.on_response = on_response},
		.reg = {.on_registered = on_registered,
			.on_retrying = on_reg_retrying,
			.on_failure = on_failure_status,
			.on_unregistered = on_usage_gone},
		.sub = {.on_sub_update = on_answer_hold,
			.on_sub_terminated = on_sub_terminated,
			.on_sub_failure = on_failure_status,
			.on_message_result = on_response,
			.on_pub_success = on_answer_hold,
			.on_pub_failure = on_failure_status,
			.on_pub_removed = on_usage_gone},
		.on_error = on_error,
		.on_dum_can_be_deleted = on_dum_can_be_deleted,
	};
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	char spec[128];
	struct sa laddr;
	bool v6 = strchr(g.c.bind_ip, ':') != NULL;
	int err;

	in->idx = idx;
	err = hash_alloc(&in->attempts, 65536);
	if (err)
		return err;

	redum_stack_conf_init(&sc);
	sc.software = "redum-loadgen " REDUM_VERSION;
	/* a UAC keeps fewer server transactions than a server: smaller
	 * tables than the 2^19 default, still ~1 per bucket at 20k/s x 32 s
	 * across instances */
	sc.ctrans_hsize = 1u << 18;
	sc.strans_hsize = 1u << 12;
	sc.obj_hsize = 1u << 18;
	snprintf(spec, sizeof(spec), "%s:%s%s%s:%u",
		 g.c.tp == SIP_TRANSP_TCP ? "tcp" : "udp", v6 ? "[" : "",
		 g.c.bind_ip, v6 ? "]" : "",
		 g.c.lport ? g.c.lport + idx : 0);
	err = redum_stack_conf_listen(&sc, spec);
	if (err) {
		fprintf(stderr, "redum-loadgen: bad local address '%s'\n",
			g.c.bind_ip);
		return err;
	}
	err = redum_stack_start(&in->stack, &sc);
	if (err) {
		fprintf(stderr, "redum-loadgen: cannot start stack on %s: %s\n",
			spec, strerror(err));
		return err;
	}
	(void)redum_stack_laddr(in->stack, 0, NULL, &laddr);
	re_snprintf(in->from, sizeof(in->from), "sip:redum-loadgen@%J",
		    &laddr);

	redum_dum_conf_init(&dc);
	dc.name = "redum-loadgen";
	dc.stop_ms = g.c.shutdown_force ? 0 : g.c.give_up_ms;
	dc.methods = 0;         /* a pure client: takes no MESSAGE */
	err = redum_dum_alloc(&in->dum, in->stack, &dc, &hd);
	if (!err)
		err = redum_dum_app_attach(in->dum, false, 0);
	if (!err)
		err = g.c.dum_thread ? redum_dum_start(in->dum) :
			redum_dum_attach(in->dum);
	if (err) {
		fprintf(stderr, "redum-loadgen: cannot start DUM: %s\n",
			strerror(err));
		return err;
	}
	return 0;
}


static bool any_attempt(struct le *le, void *arg)
{
	(void)le;
	(void)arg;
	return true;
}


static int inst_close(struct inst *in, bool force, uint64_t *retx)
{
	struct redum_stack_stats st;
	int rc = 0;

	if (in->dum && g.c.stats) {
		struct redum_dum_stats dst;

		redum_dum_stats(in->dum, &dst);
		re_fprintf(stderr, "redum-loadgen: instance %u DUM counters\n%H",
			   in->idx, redum_dum_stats_print, &dst);
	}
	if (in->dum && redum_dum_free(in->dum)) {
		fprintf(stderr, "redum-loadgen: DUM %u did not finish\n",
			in->idx);
		rc = EBUSY;
		force = true;
	}
	if (in->stack) {
		(void)redum_stack_shutdown(in->stack, force);
		if (redum_stack_join(in->stack, &st)) {
			rc = EIO;
		}
		else {
			*retx += stack_retx(&st);
			if (g.c.stats)
				re_fprintf(stderr, "redum-loadgen: instance %u "
					   "stack counters\n%H", in->idx,
					   redum_stack_stats_print, &st);
		}
	}
	in->attempts = mem_deref(in->attempts);
	return rc;
}


int main(int argc, char *argv[])
{
	uint64_t retx = 0, t_end;
	bool setup_failed = false;
	int rc, err;

	rc = parse_args(argc, argv, &g.c);
	if (rc)
		return rc;

	/* malloc for a heap that grows fast (tools/common/malloc_tune.h):
	 * after the arguments are known good, before any thread exists */
	redum_tool_malloc_tune(argv);

	g.sigfd = signals_open();
	if (g.sigfd < 0) {
		perror("redum-loadgen: signalfd");
		return LG_EXIT_SETUP;
	}
	g.tty = isatty(STDOUT_FILENO);
	g.rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();

	if (g.c.csv) {
		g.csv = fopen(g.c.csv, "w");
		if (!g.csv) {
			fprintf(stderr, "redum-loadgen: --csv %s: %s\n",
				g.c.csv, strerror(errno));
			close(g.sigfd);
			return LG_EXIT_SETUP;
		}
		fprintf(g.csv, "time_s,rate,succeeded_rate,concurrent,"
			"attempted,succeeded,failed,retransmissions,p50_ms,"
			"p90_ms,p99_ms,p999_ms,max_ms,cpu_us_per_attempt\n");
	}

	err = libre_init();
	if (err) {
		fprintf(stderr, "redum-loadgen: libre_init: %s\n",
			strerror(err));
		return LG_EXIT_SETUP;
	}

	for (uint32_t i = 0; i < g.c.instances; i++) {
		err = inst_start(&g.inst[i], i);
		if (g.inst[i].stack)
			g.ninst = i + 1;
		if (err) {
			setup_failed = true;
			break;
		}
	}

	if (setup_failed) {
		/* the DUMs that exist stop; the loop below waits for them */
		for (uint32_t i = 0; i < g.ninst; i++) {
			if (g.inst[i].dum)
				(void)redum_dum_stop(g.inst[i].dum);
			else
				g.inst[i].deleted = true;
		}
		g.stopping = true;
		g.sending_done = true;
	}

	err = fd_listen(g.sigfd, FD_READ, signal_handler, NULL);
	if (err)
		fprintf(stderr, "redum-loadgen: signals: %s\n", strerror(err));

	if (!setup_failed && !g.c.quiet && !g.tty && !g.c.json)
		printf("redum-loadgen: %s -> %s:%u at %.1f/s, %u instance(s)\n",
		       g.c.scenario, g.c.host, sa_port(&g.c.target), g.c.rate,
		       g.ninst);

	g.t_start = g.t_ivl = now_ns();
	g.cpu_start = g.cpu_ivl = cpu_us();
	if (!setup_failed) {
		tick(NULL);
		tmr_start(&g.tmr_ivl, 1000, interval, NULL);
	}
	check_finished();
	if (!g.finished)
		(void)re_main(NULL);
	t_end = now_ns();

	tmr_cancel(&g.tmr_tick);
	tmr_cancel(&g.tmr_ivl);
	fd_close(g.sigfd);

	/* the last partial interval */
	if (!setup_failed && (g.ivl.attempted || g.ivl.succeeded ||
			      g.ivl.failed))
		interval(NULL);

	for (uint32_t i = 0; i < g.ninst; i++) {
		/* attempts left in the books: DUM is gone, so they were
		 * never told; counted "unfinished" */
		struct inst *in = &g.inst[i];
		struct le *le;

		while (in->attempts &&
		       (le = hash_apply(in->attempts, any_attempt, NULL)))
			attempt_done(le->data, REDUM_USAGE_NONE, false);
		if (inst_close(in, setup_failed, &retx))
			rc = LG_EXIT_INTERNAL;
	}

	if (!setup_failed)
		summary(retx, (double)(t_end - g.t_start) / 1e9);

	if (g.csv)
		fclose(g.csv);
	if (g.c.plot && !setup_failed) {
		err = plot();
		if (err) {
			fprintf(stderr, "redum-loadgen: plot %s failed: %s\n",
				g.c.plot, strerror(err));
			if (!rc)
				rc = LG_EXIT_INTERNAL;
		}
		else if (!g.c.json) {
			printf("plot written to %s\n", g.c.plot);
		}
	}
	free(g.rows);
	close(g.sigfd);
	libre_close();

	if (setup_failed)
		return LG_EXIT_SETUP;
	if (rc)
		return rc;
	if (!g.tot.attempted)
		return LG_EXIT_NOCALLS;
	return g.tot.failed ? LG_EXIT_FAILED : LG_EXIT_OK;
}
