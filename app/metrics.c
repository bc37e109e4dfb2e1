/**
 * @file metrics.c  redumd's status over HTTP: /metrics and /status
 *
 * One thread of its own owns a libre HTTP server (its own libre loop from
 * re_thread_init()). It answers from the "Thread: any" statistics of the
 * stack and the DUM, which are atomics (or snapshots taken under their own
 * short locks), so the metrics thread never touches an object of another
 * thread and a scrape never waits for the stack or DUM threads' loops.
 *
 * Stop is a message, like every other crossing in redum: the starting
 * thread closes the control FIFO; its close handler, the FIFO's final
 * message, runs on the metrics thread and leaves re_main(); the thread then
 * frees the server (and every connection) on its own loop, closes its loop
 * and ends; the starting thread joins it and frees the rest.
 *
 * See docs/METRICS.md for every metric and the /status fields.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/fifo.h>
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/stack.h>
#include <redum/sub.h>
#include <redum/version.h>
#include "metrics.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Prometheus text exposition format 0.0.4 */
#define PROM_CTYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CTYPE "application/json"

struct app_metrics {
	/* fixed before the thread starts */
	struct sa req_laddr;
	struct redum_stack *stack;
	struct redum_dum *dum;
	app_metrics_extra_h *extrah;
	void *arg;
	struct redum_fifo *ctl;     /* control FIFO: its close = stop       */
	pthread_t thread;

	/* start handshake; laddr is written before `started` under mtx and
	 * never again, so any thread may read it after start returned */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool started;
	int start_err;
	struct sa laddr;

	/* metrics thread only */
	struct http_sock *sock;
	uint64_t scrapes[3];        /* /metrics, /status, other (404/405)   */
	uint64_t extra_dropped;     /* extra lines of a core family         */
};

/* Process start, for the uptime: taken when the binary is loaded (before
 * main), so it is the process's uptime, not the metrics server's. */
static struct timespec proc_start_mono, proc_start_real;

__attribute__((constructor))
static void metrics_proc_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &proc_start_mono);
	clock_gettime(CLOCK_REALTIME, &proc_start_real);
}


static uint64_t uptime_ms(void)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - proc_start_mono.tv_sec) * 1000 +
		(now.tv_nsec - proc_start_mono.tv_nsec) / 1000000;

	return ms > 0 ? (uint64_t)ms : 0;
}


static const char *phase_names[] = {
	"running", "requested", "ending", "removing", "finishing", "done",
};

static const char *mode_names[] = {
	"none", "graceful", "if_no_usages", "forced",
};

static const char *resp_class[6] = {"1xx", "2xx", "3xx", "4xx", "5xx",
				    "6xx"};


static const char *phase_name(enum redum_shutdown_phase ph)
{
	return (unsigned)ph < NELEM(phase_names) ?
		phase_names[ph] : "unknown";
}


static const char *mode_name(enum redum_shutdown_mode md)
{
	return (unsigned)md < NELEM(mode_names) ?
		mode_names[md] : "unknown";
}


static bool state_valid(int t, int s)
{
	return strcmp(redum_usage_state_name((enum redum_usage_type)t, s),
		      "?") != 0;
}


/* ---- Prometheus text format -------------------------------------------- */

/* A label value: backslash, double quote and newline escaped (the
 * exposition format's rule). */
static int prom_esc(struct re_printf *pf, const char *s)
{
	int err = 0;

	if (!s)
		return 0;
	if (!strpbrk(s, "\\\"\n"))
		return re_hprintf(pf, "%s", s);   /* the usual case */

	for (; *s && !err; s++) {
		switch (*s) {
		case '\\': err = re_hprintf(pf, "\\\\"); break;
		case '"':  err = re_hprintf(pf, "\\\""); break;
		case '\n': err = re_hprintf(pf, "\\n");  break;
		default:   err = re_hprintf(pf, "%c", *s); break;
		}
	}

	return err;
}


/* The HELP and TYPE lines of a family (each family once, before its
 * samples, as the format requires). */
static int fam(struct re_printf *pf, const char *name, const char *type,
	       const char *help)
{
	return re_hprintf(pf, "# HELP %s %s\n# TYPE %s %s\n",
			  name, help, name, type);
}


static int sample(struct re_printf *pf, const char *name, uint64_t v)
{
	return re_hprintf(pf, "%s %llu\n", name, (unsigned long long)v);
}


static int sample1(struct re_printf *pf, const char *name, const char *label,
		   const char *val, uint64_t v)
{
	return re_hprintf(pf, "%s{%s=\"%H\"} %llu\n", name, label, prom_esc,
			  val, (unsigned long long)v);
}


/* A family with a single unlabelled sample. */
static int one(struct re_printf *pf, const char *name, const char *type,
	       const char *help, uint64_t v)
{
	return fam(pf, name, type, help) | sample(pf, name, v);
}


struct fifo_row {
	const char *name;
	uint64_t depth, high_water, capacity, rejected_full, rejected_closed;
	uint64_t enqueued;
	bool has_rejects;   /* DUM's inbound FIFO: depth and high water only */
};


static int prom_fifos(struct re_printf *pf, const struct fifo_row *r,
		      size_t n)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
		bool rejects;
	} cols[] = {
		{"redumd_fifo_depth", "gauge",
		 "Messages in the FIFO now",
		 offsetof(struct fifo_row, depth), false},
		{"redumd_fifo_high_water", "gauge",
		 "Most messages ever in the FIFO",
		 offsetof(struct fifo_row, high_water), false},
		{"redumd_fifo_capacity", "gauge",
		 "Most messages the FIFO can hold",
		 offsetof(struct fifo_row, capacity), true},
		{"redumd_fifo_enqueued_total", "counter",
		 "Messages pushed into the FIFO",
		 offsetof(struct fifo_row, enqueued), true},
		{"redumd_fifo_rejected_full_total", "counter",
		 "Pushes refused because the FIFO was full (ENOSPC)",
		 offsetof(struct fifo_row, rejected_full), true},
		{"redumd_fifo_rejected_closed_total", "counter",
		 "Pushes refused because the FIFO was closed (EPIPE)",
		 offsetof(struct fifo_row, rejected_closed), true},
	};
	int err = 0;

	for (size_t c = 0; c < NELEM(cols); c++) {
		err |= fam(pf, cols[c].name, cols[c].type, cols[c].help);
		for (size_t i = 0; i < n; i++) {
			const uint64_t *v;

			if (cols[c].rejects && !r[i].has_rejects)
				continue;
			v = (const uint64_t *)(const void *)
				((const char *)&r[i] + cols[c].off);
			err |= sample1(pf, cols[c].name, "fifo", r[i].name,
				       *v);
		}
	}

	return err;
}


static size_t fifo_rows(const struct app_metrics *m,
			const struct redum_stack_stats *sst,
			const struct redum_dum_stats *dst,
			struct fifo_row rows[3])
{
	size_t n = 0;

	if (m->stack) {
		const struct redum_fifo_stats *f[2] = {&sst->cmd_fifo,
						       &sst->tu_fifos};
		const char *names[2] = {"stack_cmd", "stack_tu"};

		for (int i = 0; i < 2; i++) {
			rows[n].name            = names[i];
			rows[n].depth           = f[i]->depth;
			rows[n].high_water      = f[i]->high_water;
			rows[n].capacity        = f[i]->capacity;
			rows[n].enqueued        = f[i]->enqueued;
			rows[n].rejected_full   = f[i]->rejected_full;
			rows[n].rejected_closed = f[i]->rejected_closed;
			rows[n].has_rejects     = true;
			++n;
		}
	}

	if (m->dum) {
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].name       = "dum_inbound";
		rows[n].depth      = dst->inbound_depth;
		rows[n].high_water = dst->inbound_high_water;
		++n;
	}

	return n;
}


#define STACK_CTR(field, help) \
	{"redumd_stack_" #field "_total", help, \
	 offsetof(struct redum_stack_stats, field)}
/* the retransmission counters share one family name prefix */
#define RETX_CTR(kind, field, help) \
	{"redumd_stack_retransmissions_" #kind "_total", help, \
	 offsetof(struct redum_stack_stats, field)}

static const struct ctr {
	const char *name, *help;
	size_t off;
} stack_ctrs[] = {
	RETX_CTR(2xx, retx_2xx, "INVITE 2xx retransmissions sent"),
	RETX_CTR(ack, ack_retx, "ACKs re-sent on a retransmitted 2xx"),
	RETX_CTR(request, retx_req,
		 "Requests re-sent by client transactions (Timer A/E)"),
	RETX_CTR(final, retx_final,
		 "Non-2xx finals to INVITE re-sent (Timer G)"),
	STACK_CTR(invite_absorbed,
		  "INVITE retransmissions after the 2xx absorbed"),
	STACK_CTR(acks, "ACKs of our 2xx received"),
	STACK_CTR(done_kept,
		  "Completed non-INVITE UDP transactions kept compact for Timer J"),
	STACK_CTR(done_absorbed,
		  "Retransmitted non-INVITE requests answered from a compact record"),
	STACK_CTR(accepted_ended,
		  "INVITE server transactions ended at the ACK (dialog absorbs copies)"),
	STACK_CTR(ack_timeouts, "2xx never ACKed within 64*T1"),
	STACK_CTR(forks, "2xx of other forks reported"),
	STACK_CTR(fork_absorbed,
		  "Fork 2xx retransmissions absorbed before the TU ACKed"),
	STACK_CTR(fork_late, "Fork 2xx after the 64*T1 window (dropped)"),
	STACK_CTR(unclaimed, "Requests no TU took (501/481/ACK)"),
	STACK_CTR(busy_503,
		  "New requests refused with 503 (TU FIFO full, TU leaving, "
		  "stack stopping, overload)"),
	STACK_CTR(shed_503, "Of the 503s, those for overload"),
	STACK_CTR(shed_late,
		  "Of those, for a request that waited over overload_delay_ms"),
	STACK_CTR(overloads, "Times overload control switched on"),
	STACK_CTR(rx_drops,
		  "UDP datagrams the kernel dropped on our sockets"),
	STACK_CTR(rx_wakes, "UDP read wake-ups"),
	STACK_CTR(rx_calls, "recvmmsg() calls that returned data"),
	STACK_CTR(rx_dgrams, "UDP datagrams read"),
	STACK_CTR(tx_calls, "sendmmsg() calls that sent something"),
	STACK_CTR(tx_dgrams, "UDP datagrams sent in batches"),
	STACK_CTR(tx_errors, "batched UDP datagrams the kernel refused (lost)"),
	STACK_CTR(overflowed, "Events parked in a TU overflow list"),
	STACK_CTR(cmd_rejected, "Commands refused (unknown id, state)"),
	STACK_CTR(cmd_failed, "Commands whose libre call failed"),
	STACK_CTR(send_errors, "Sends or requests that failed"),
};

#define DUM_CTR(field, help) \
	{"redumd_dum_" #field "_total", help, \
	 offsetof(struct redum_dum_stats, field)}

static const struct ctr dum_ctrs[] = {
	DUM_CTR(handles, "Handles issued (usages created)"),
	DUM_CTR(events_posted, "Events pushed to the application FIFO"),
	DUM_CTR(events_overflowed,
		"Of those, events that waited (application FIFO full)"),
	DUM_CTR(commands_posted, "Commands accepted on the command FIFO"),
	DUM_CTR(commands_rejected,
		"Commands refused: FIFO full (ENOSPC) or closed"),
	DUM_CTR(commands_stale, "Commands on a handle of no live usage"),
	DUM_CTR(busy_503, "New requests refused with 503 for congestion"),
	DUM_CTR(forks_ended, "Forked 2xx ACKed and BYEd"),
	DUM_CTR(glare_491, "491 sent (offer pending)"),
	DUM_CTR(stack_errors, "Stack commands refused (ENOSPC...)"),
};

#define SUB_CTR(field, help) \
	{"redumd_sub_" #field "_total", help, \
	 offsetof(struct redum_sub_stats, field)}

static const struct ctr sub_ctrs[] = {
	SUB_CTR(notifies_in, "NOTIFY requests received"),
	SUB_CTR(notifies_out, "NOTIFY requests sent"),
	SUB_CTR(notifies_coalesced, "NOTIFYs merged by the rate limit"),
	SUB_CTR(sub_timeouts, "Client subscription waits that ran out"),
	SUB_CTR(sub_expired, "Server subscriptions ended by their timer"),
	SUB_CTR(publish_in, "PUBLISH requests received"),
	SUB_CTR(pub_412, "PUBLISH answered 412 (unknown entity tag)"),
	SUB_CTR(pub_489, "PUBLISH answered 489 (bad event)"),
	SUB_CTR(pub_expired, "Publications removed by their timer"),
	SUB_CTR(pub_entries, "Publication entries created"),
	SUB_CTR(messages_in, "MESSAGE requests taken by the pager"),
	SUB_CTR(messages_auto200, "Of those, answered 200 by DUM itself"),
	SUB_CTR(presence_fanout, "NOTIFYs caused by a PUBLISH"),
	SUB_CTR(notify_481_retries, "First NOTIFY re-sent after a 481"),
};

#define REG_CTR(field, help) \
	{"redumd_registrar_" #field "_total", help, \
	 offsetof(struct redum_registrar_stats, field)}

static const struct ctr reg_ctrs[] = {
	REG_CTR(registers, "REGISTER requests received by the registrar"),
	REG_CTR(ok, "REGISTERs answered 200"),
	REG_CTR(challenged, "REGISTERs answered 401"),
	REG_CTR(stale, "Of the 401s, those with stale=true"),
	REG_CTR(rejected, "REGISTERs answered 400/403/404/423/500"),
	REG_CTR(expired, "Bindings removed by their timer"),
};


static int prom_ctrs(struct re_printf *pf, const struct ctr *c, size_t n,
		     const void *st)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		const uint64_t *v = (const uint64_t *)(const void *)
			((const char *)st + c[i].off);

		err |= one(pf, c[i].name, "counter", c[i].help, *v);
	}

	return err;
}


static int prom_stack(struct re_printf *pf, const struct redum_stack_stats *st)
{
	int err = 0;

	err |= fam(pf, "redumd_stack_transactions", "gauge",
		   "SIP transactions alive in the stack, by kind");
	err |= sample1(pf, "redumd_stack_transactions", "kind", "server",
		       st->strans_alive);
	err |= sample1(pf, "redumd_stack_transactions", "kind", "client",
		       st->ctrans_alive);
	err |= one(pf, "redumd_stack_dialogs", "gauge",
		   "Dialogs the stack tracks", st->dialogs_alive);
	err |= one(pf, "redumd_stack_tus", "gauge",
		   "Transaction users registered", st->tus);

	err |= fam(pf, "redumd_sip_requests_received_total", "counter",
		   "SIP requests reaching redum, by method "
		   "(retransmissions not counted)");
	for (int i = 0; i < REDUM_STACK_M_COUNT; i++)
		err |= sample1(pf, "redumd_sip_requests_received_total",
			       "method", redum_stack_method_name(i),
			       st->req_in[i]);
	err |= fam(pf, "redumd_sip_requests_sent_total", "counter",
		   "SIP requests sent, by method (retransmissions not "
		   "counted)");
	for (int i = 0; i < REDUM_STACK_M_COUNT; i++)
		err |= sample1(pf, "redumd_sip_requests_sent_total",
			       "method", redum_stack_method_name(i),
			       st->req_out[i]);
	err |= fam(pf, "redumd_sip_responses_received_total", "counter",
		   "SIP responses received, by status class");
	for (int i = 0; i < 6; i++)
		err |= sample1(pf, "redumd_sip_responses_received_total",
			       "class", resp_class[i], st->resp_in[i]);
	err |= fam(pf, "redumd_sip_responses_sent_total", "counter",
		   "SIP responses sent, by status class (retransmissions "
		   "not counted)");
	for (int i = 0; i < 6; i++)
		err |= sample1(pf, "redumd_sip_responses_sent_total",
			       "class", resp_class[i], st->resp_out[i]);

	err |= prom_ctrs(pf, stack_ctrs, NELEM(stack_ctrs), st);

	return err;
}


static int prom_dum(struct re_printf *pf, const struct redum_dum_stats *st)
{
	int err = 0;

	err |= fam(pf, "redumd_usages", "gauge",
		   "DUM usages alive, by type and state");
	for (int t = 1; t < REDUM_USAGE_COUNT; t++) {
		for (int s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			if (!state_valid(t, s) && !st->usages[t][s])
				continue;
			err |= re_hprintf(pf, "redumd_usages{type=\"%H\","
					  "state=\"%H\"} %llu\n",
					  prom_esc, redum_usage_name(t),
					  prom_esc,
					  redum_usage_state_name(t, s),
					  (unsigned long long)
					  st->usages[t][s]);
		}
	}
	err |= one(pf, "redumd_usages_alive", "gauge",
		   "DUM usages alive, all types", st->usages_alive);
	err |= fam(pf, "redumd_usages_created_total", "counter",
		   "DUM usages created, by type");
	for (int t = 1; t < REDUM_USAGE_COUNT; t++)
		err |= sample1(pf, "redumd_usages_created_total", "type",
			       redum_usage_name(t), st->usages_created[t]);
	err |= one(pf, "redumd_dum_dialogs", "gauge",
		   "DUM dialogs alive", st->dialogs);

	err |= prom_ctrs(pf, dum_ctrs, NELEM(dum_ctrs), st);

	return err;
}


static int prom_shutdown(struct re_printf *pf,
			 const struct redum_shutdown_progress *p)
{
	int err = 0;

	err |= fam(pf, "redumd_shutdown_stage", "gauge",
		   "Stage of DUM's staged shutdown being ended (1-based; 0 "
		   "when none), labelled with the phase and mode");
	err |= re_hprintf(pf, "redumd_shutdown_stage{phase=\"%s\","
			  "mode=\"%s\"} %u\n", phase_name(p->phase),
			  mode_name(p->mode), p->stage);
	err |= one(pf, "redumd_shutdown_phase", "gauge",
		   "Shutdown phase number: 0 running, 1 requested, 2 ending, "
		   "3 removing, 4 finishing, 5 done", p->phase);
	err |= one(pf, "redumd_shutdown_stages", "gauge",
		   "Stages of the shutdown under way (0 when none)",
		   p->nstages);
	err |= fam(pf, "redumd_shutdown_elapsed_seconds", "gauge",
		   "Time since the DUM thread began the shutdown");
	err |= re_hprintf(pf, "redumd_shutdown_elapsed_seconds %llu.%03llu\n",
			  (unsigned long long)(p->elapsed_ms / 1000),
			  (unsigned long long)(p->elapsed_ms % 1000));

	return err;
}


static int prom_print(struct re_printf *pf, const struct app_metrics *m)
{
	struct redum_stack_stats sst;
	struct redum_dum_stats dst;
	struct fifo_row rows[3];
	uint64_t up = uptime_ms();
	int err = 0;

	memset(&sst, 0, sizeof(sst));
	memset(&dst, 0, sizeof(dst));
	if (m->stack)
		redum_stack_stats(m->stack, &sst);
	if (m->dum)
		redum_dum_stats(m->dum, &dst);

	err |= fam(pf, "redumd_build_info", "gauge",
		   "Always 1; the version in a label");
	err |= sample1(pf, "redumd_build_info", "version", REDUM_VERSION, 1);
	err |= fam(pf, "redumd_uptime_seconds", "gauge",
		   "Seconds since the process started");
	err |= re_hprintf(pf, "redumd_uptime_seconds %llu.%03llu\n",
			  (unsigned long long)(up / 1000),
			  (unsigned long long)(up % 1000));
	err |= one(pf, "process_start_time_seconds", "gauge",
		   "Start time of the process since the Unix epoch in seconds",
		   (uint64_t)proc_start_real.tv_sec);

	if (m->stack)
		err |= prom_stack(pf, &sst);

	if (m->stack || m->dum)
		err |= prom_fifos(pf, rows, fifo_rows(m, &sst, &dst, rows));

	if (m->dum) {
		struct redum_sub_stats sub;
		struct redum_registrar_stats reg;
		struct redum_shutdown_progress prog;

		err |= prom_dum(pf, &dst);

		redum_sub_stats(m->dum, &sub);
		err |= prom_ctrs(pf, sub_ctrs, NELEM(sub_ctrs), &sub);

		redum_registrar_stats(m->dum, &reg);
		err |= one(pf, "redumd_registrar_aors", "gauge",
			   "Registrar AORs with at least one binding",
			   reg.aors);
		err |= one(pf, "redumd_registrar_bindings", "gauge",
			   "Registrar bindings now", reg.bindings);
		err |= prom_ctrs(pf, reg_ctrs, NELEM(reg_ctrs), &reg);

		memset(&prog, 0, sizeof(prog));
		(void)redum_dum_shutdown_progress(m->dum, &prog);
		err |= prom_shutdown(pf, &prog);
	}

	err |= fam(pf, "redumd_metrics_requests_total", "counter",
		   "HTTP requests answered by the metrics server, by path "
		   "(other: 404 and 405)");
	err |= sample1(pf, "redumd_metrics_requests_total", "path",
		       "/metrics", m->scrapes[0]);
	err |= sample1(pf, "redumd_metrics_requests_total", "path",
		       "/status", m->scrapes[1]);
	err |= sample1(pf, "redumd_metrics_requests_total", "path",
		       "other", m->scrapes[2]);

	return err;
}


static int prom_dropped(struct re_printf *pf, const struct app_metrics *m)
{
	return one(pf, "redumd_metrics_extra_dropped_lines_total", "counter",
		   "Lines of the application's extra metrics dropped because "
		   "their family is already exported by the core",
		   m->extra_dropped);
}


/* The metric name a line is about: "# HELP name ..", "# TYPE name ..",
 * or a sample "name{..} v" / "name v"; false for other lines. */
static bool line_name(const char *p, size_t n, struct pl *name)
{
	size_t i = 0;

	if (n > 7 && (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7)))
		i = 7;
	else if (n && p[0] == '#')
		return false;

	name->p = p + i;
	while (i < n && p[i] != ' ' && p[i] != '{')
		++i;
	name->l = (size_t)(p + i - name->p);

	return name->l > 0;
}


/* The families of the core part of the page: the name of every TYPE line
 * (each at the start of a line), found in one pass, as offsets into the
 * page (appending the extra lines may move its buffer). */
struct fam_index {
	const struct mbuf *mb;
	struct { size_t off, len; } *v;
	size_t n;
};


static int fam_index_build(struct fam_index *ix, const struct mbuf *mb)
{
	const char *p = (const char *)mb->buf, *end = p + mb->end;
	size_t cap = 0;

	/* first pass: count, to allocate once */
	for (const char *q = p; q < end;) {
		const char *eol = memchr(q, '\n', (size_t)(end - q));

		if ((size_t)(end - q) > 7 && !strncmp(q, "# TYPE ", 7))
			++cap;
		q = eol ? eol + 1 : end;
	}

	ix->mb = mb;
	ix->n = 0;
	ix->v = mem_zalloc(sizeof(*ix->v) * (cap ? cap : 1), NULL);
	if (!ix->v)
		return ENOMEM;

	for (const char *q = p; q < end && ix->n < cap;) {
		const char *eol = memchr(q, '\n', (size_t)(end - q));
		size_t len = (size_t)((eol ? eol : end) - q);
		struct pl name;

		if (len > 7 && !strncmp(q, "# TYPE ", 7) &&
		    line_name(q, len, &name)) {
			ix->v[ix->n].off = (size_t)(name.p - p);
			ix->v[ix->n].len = name.l;
			++ix->n;
		}
		q = eol ? eol + 1 : end;
	}

	return 0;
}


static bool fam_index_has(const struct fam_index *ix, const struct pl *name)
{
	for (size_t i = 0; i < ix->n; i++) {
		if (ix->v[i].len == name->l &&
		    !memcmp(ix->mb->buf + ix->v[i].off, name->p, name->l))
			return true;
	}

	return false;
}


/* The application's extra lines, appended to the core page in mb. A line
 * of a family the core already exported is dropped (and counted): two
 * TYPE lines or a sample key twice would make the whole page invalid, and
 * a scraper would then get nothing at all. */
static int prom_extra(struct mbuf *mb, struct app_metrics *m)
{
	struct fam_index ix = {NULL, NULL, 0};
	struct mbuf *xb;
	int err;

	if (!m->extrah)
		goto count;

	xb = mbuf_alloc(4096);
	if (!xb)
		return ENOMEM;

	err = mbuf_printf(xb, "%H", m->extrah, m->arg);
	if (!err)
		err = fam_index_build(&ix, mb);   /* before any extra line */
	for (size_t pos = 0; !err && pos < xb->end;) {
		const char *line = (const char *)xb->buf + pos;
		const char *eol = memchr(line, '\n', xb->end - pos);
		size_t len = eol ? (size_t)(eol - line) : xb->end - pos;
		struct pl name;

		pos += len + 1;
		if (!len)
			continue;      /* blank lines carry nothing */
		if (line_name(line, len, &name) && fam_index_has(&ix, &name)) {
			++m->extra_dropped;
			continue;
		}
		err = mbuf_printf(mb, "%b\n", line, len);
	}

	mem_deref(ix.v);
	mem_deref(xb);
	if (err)
		return err;

 count:
	/* last, so it counts this page's drops too */
	return mbuf_printf(mb, "%H", prom_dropped, m);
}


/* ---- /status JSON ------------------------------------------------------- */

static int json_str(struct re_printf *pf, const char *s)
{
	int err = re_hprintf(pf, "\"");

	for (; s && *s && !err; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			err = re_hprintf(pf, "\\%c", c);
		else if (c < 0x20)
			err = re_hprintf(pf, "\\u%04x", c);
		else
			err = re_hprintf(pf, "%c", c);
	}

	return err | re_hprintf(pf, "\"");
}


static int json_listeners(struct re_printf *pf, const struct app_metrics *m)
{
	int err = re_hprintf(pf, "\"listeners\":[");
	bool first = true;

	for (uint32_t i = 0; m->stack && i < REDUM_STACK_MAX_LISTEN; i++) {
		enum sip_transp tp;
		struct sa la;
		const char *tn;

		if (redum_stack_laddr(m->stack, i, &tp, &la))
			break;
		tn = tp == SIP_TRANSP_TCP ? "tcp" :
			tp == SIP_TRANSP_TLS ? "tls" : "udp";
		err |= re_hprintf(pf, "%s{\"transport\":\"%s\","
				  "\"address\":\"%J\"}",
				  first ? "" : ",", tn, &la);
		first = false;
	}

	return err | re_hprintf(pf, "]");
}


static int json_fifos(struct re_printf *pf, const struct fifo_row *r,
		      size_t n)
{
	int err = re_hprintf(pf, "\"fifos\":{");

	for (size_t i = 0; i < n; i++) {
		err |= re_hprintf(pf, "%s\"%s\":{\"depth\":%llu,"
				  "\"high_water\":%llu",
				  i ? "," : "", r[i].name,
				  (unsigned long long)r[i].depth,
				  (unsigned long long)r[i].high_water);
		if (r[i].has_rejects)
			err |= re_hprintf(pf, ",\"capacity\":%llu,"
					  "\"rejected_full\":%llu,"
					  "\"rejected_closed\":%llu",
					  (unsigned long long)r[i].capacity,
					  (unsigned long long)
					  r[i].rejected_full,
					  (unsigned long long)
					  r[i].rejected_closed);
		err |= re_hprintf(pf, "}");
	}

	return err | re_hprintf(pf, "}");
}


static int json_usages(struct re_printf *pf, const struct redum_dum_stats *st)
{
	int err = re_hprintf(pf, "\"usages\":{\"alive\":%llu,\"by_type\":{",
			     (unsigned long long)st->usages_alive);

	for (int t = 1; t < REDUM_USAGE_COUNT; t++) {
		uint64_t sum = 0;
		bool first = true;

		for (int s = 0; s < REDUM_DUM_MAX_STATES; s++)
			sum += st->usages[t][s];

		err |= re_hprintf(pf, "%s%H:{\"alive\":%llu,\"created\":%llu,"
				  "\"states\":{", t > 1 ? "," : "",
				  json_str, redum_usage_name(t),
				  (unsigned long long)sum,
				  (unsigned long long)st->usages_created[t]);
		for (int s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			if (!st->usages[t][s])
				continue;
			err |= re_hprintf(pf, "%s%H:%llu", first ? "" : ",",
					  json_str,
					  redum_usage_state_name(t, s),
					  (unsigned long long)
					  st->usages[t][s]);
			first = false;
		}
		err |= re_hprintf(pf, "}}");
	}

	return err | re_hprintf(pf, "}}");
}


static int json_shutdown(struct re_printf *pf,
			 const struct redum_shutdown_progress *p)
{
	int err = re_hprintf(pf, "\"shutdown\":{\"mode\":\"%s\","
			     "\"phase\":\"%s\",\"phase_number\":%u,"
			     "\"stage\":%u,\"nstages\":%u,"
			     "\"stage_types\":[",
			     mode_name(p->mode), phase_name(p->phase),
			     (unsigned)p->phase, p->stage, p->nstages);
	bool first = true;

	for (int t = 1; t < REDUM_USAGE_COUNT; t++) {
		if (!(p->stage_types & REDUM_USAGE_BIT(t)))
			continue;
		err |= re_hprintf(pf, "%s%H", first ? "" : ",", json_str,
				  redum_usage_name(t));
		first = false;
	}

	return err | re_hprintf(pf, "],\"elapsed_ms\":%llu,"
				"\"give_up_ms\":%u,\"waiting\":%u}",
				(unsigned long long)p->elapsed_ms,
				p->give_up_ms, p->nwaiting);
}


static int status_print(struct re_printf *pf, const struct app_metrics *m)
{
	struct redum_stack_stats sst;
	struct redum_dum_stats dst;
	struct redum_shutdown_progress prog;
	struct fifo_row rows[3];
	uint64_t up = uptime_ms();
	int err;

	memset(&sst, 0, sizeof(sst));
	memset(&dst, 0, sizeof(dst));
	memset(&prog, 0, sizeof(prog));
	if (m->stack)
		redum_stack_stats(m->stack, &sst);
	if (m->dum) {
		redum_dum_stats(m->dum, &dst);
		(void)redum_dum_shutdown_progress(m->dum, &prog);
	}

	err  = re_hprintf(pf, "{\"version\":\"%s\",\"uptime_seconds\":"
			  "%llu.%03llu,", REDUM_VERSION,
			  (unsigned long long)(up / 1000),
			  (unsigned long long)(up % 1000));
	err |= json_listeners(pf, m);
	err |= re_hprintf(pf, ",\"transactions\":{\"server\":%llu,"
			  "\"client\":%llu},\"stack_dialogs\":%llu,"
			  "\"dum_dialogs\":%llu,",
			  (unsigned long long)sst.strans_alive,
			  (unsigned long long)sst.ctrans_alive,
			  (unsigned long long)sst.dialogs_alive,
			  (unsigned long long)dst.dialogs);
	err |= json_usages(pf, &dst);
	err |= re_hprintf(pf, ",");
	err |= json_fifos(pf, rows, fifo_rows(m, &sst, &dst, rows));
	err |= re_hprintf(pf, ",");
	err |= json_shutdown(pf, &prog);
	err |= re_hprintf(pf, "}\n");

	return err;
}


/* ---- HTTP -------------------------------------------------------------- */

static void reply(struct http_conn *conn, uint16_t scode, const char *reason,
		  const char *ctype, const char *extra_hdrs,
		  const struct mbuf *body)
{
	int err;

	err = http_reply(conn, scode, reason,
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "%s"
			 "\r\n"
			 "%b",
			 ctype, body ? body->end : (size_t)0,
			 extra_hdrs ? extra_hdrs : "",
			 body ? body->buf : NULL, body ? body->end : (size_t)0);
	if (err)
		http_conn_close(conn);   /* a half-sent reply must not linger */
}


static void error_reply(struct http_conn *conn, uint16_t scode,
			const char *reason, const char *extra_hdrs)
{
	struct mbuf *mb = mbuf_alloc(64);

	if (!mb || mbuf_printf(mb, "%u %s\n", scode, reason)) {
		http_conn_close(conn);
	}
	else {
		reply(conn, scode, reason, "text/plain; charset=utf-8",
		      extra_hdrs, mb);
	}
	mem_deref(mb);
}


static void http_req_handler(struct http_conn *conn,
			     const struct http_msg *msg, void *arg)
{
	struct app_metrics *m = arg;
	bool is_metrics = !pl_strcmp(&msg->path, "/metrics");
	bool is_status  = !pl_strcmp(&msg->path, "/status");
	struct mbuf *mb;
	int err;

	/* the resource first: a path that does not exist has no methods */
	if (!is_metrics && !is_status) {
		++m->scrapes[2];
		error_reply(conn, 404, "Not Found", NULL);
		return;
	}

	if (pl_strcmp(&msg->met, "GET")) {
		++m->scrapes[2];
		error_reply(conn, 405, "Method Not Allowed", "Allow: GET\r\n");
		return;
	}

	/* counted before printing, so a scrape sees itself */
	++m->scrapes[is_metrics ? 0 : 1];

	mb = mbuf_alloc(16384);
	if (!mb) {
		http_conn_close(conn);
		return;
	}

	if (is_metrics) {
		err = mbuf_printf(mb, "%H", prom_print, m);
		if (!err)
			err = prom_extra(mb, m);
	}
	else
		err = mbuf_printf(mb, "%H", status_print, m);

	if (err)
		error_reply(conn, 500, "Internal Server Error", NULL);
	else
		reply(conn, 200, "OK", is_metrics ? PROM_CTYPE : JSON_CTYPE,
		      NULL, mb);

	mem_deref(mb);
}


/* ---- the thread -------------------------------------------------------- */

/* Never called: nothing is pushed, the FIFO is only closed. */
static void ctl_msg_handler(void *msg, void *arg)
{
	(void)msg;
	(void)arg;
}


/* The final message of the control FIFO: stop, on the metrics thread. */
static void ctl_close_handler(void *arg)
{
	(void)arg;
	re_cancel();
}


static void start_done(struct app_metrics *m, int err)
{
	pthread_mutex_lock(&m->mtx);
	m->start_err = err;
	m->started = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->mtx);
}


static void *metrics_thread(void *arg)
{
	struct app_metrics *m = arg;
	struct sa la;
	sigset_t all;
	int err;

	/* Signals belong to the application's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)pthread_setname_np(pthread_self(), "redumd-metrics");

	err = re_thread_init();
	if (err) {
		start_done(m, err);
		return NULL;
	}

	err = http_listen(&m->sock, &m->req_laddr, http_req_handler, m);
	if (!err)
		err = tcp_sock_local_get(http_sock_tcp(m->sock), &la);
	if (!err)
		err = redum_fifo_attach(m->ctl, ctl_msg_handler,
					ctl_close_handler, m, 0);
	if (err) {
		m->sock = mem_deref(m->sock);
		re_thread_close();
		start_done(m, err);
		return NULL;
	}

	pthread_mutex_lock(&m->mtx);
	m->laddr = la;
	pthread_mutex_unlock(&m->mtx);
	start_done(m, 0);

	(void)re_main(NULL);

	/* every connection and the listening socket, on their own loop */
	m->sock = mem_deref(m->sock);
	re_thread_close();

	return NULL;
}


static void metrics_free(struct app_metrics *m)
{
	(void)redum_fifo_free(m->ctl);
	pthread_mutex_destroy(&m->mtx);
	pthread_cond_destroy(&m->cond);
	free(m);
}


static bool remote_allowed(void)
{
	const char *v = getenv("REDUMD_METRICS_ALLOW_REMOTE");

	return v && !strcmp(v, "1");
}


int app_metrics_start(struct app_metrics **mp, const struct sa *laddr,
		      struct redum_stack *stack, struct redum_dum *dum,
		      app_metrics_extra_h *extrah, void *arg)
{
	struct app_metrics *m;
	sigset_t all, old;
	int err;

	if (!mp || !laddr ||
	    (sa_af(laddr) != AF_INET && sa_af(laddr) != AF_INET6))
		return EINVAL;

	/* The endpoints have no authentication: loopback unless the
	 * operator said otherwise (docs/METRICS.md). */
	if (!sa_is_loopback(laddr) && !remote_allowed())
		return EADDRNOTAVAIL;

	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;

	m->req_laddr = *laddr;
	m->stack     = stack;
	m->dum       = dum;
	m->extrah    = extrah;
	m->arg       = arg;
	pthread_mutex_init(&m->mtx, NULL);
	pthread_cond_init(&m->cond, NULL);

	err = redum_fifo_alloc(&m->ctl, REDUM_FIFO_MPSC, 2);
	if (err)
		goto out;
	/* the metrics thread has nothing to spin for */
	redum_fifo_set_spin(m->ctl, 0);

	/* The thread starts with every signal blocked, so none can land in
	 * it before it blocks them itself. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&m->thread, NULL, metrics_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto out;

	pthread_mutex_lock(&m->mtx);
	while (!m->started)
		pthread_cond_wait(&m->cond, &m->mtx);
	err = m->start_err;
	pthread_mutex_unlock(&m->mtx);

	if (err)
		pthread_join(m->thread, NULL);

 out:
	if (err)
		metrics_free(m);
	else
		*mp = m;

	return err;
}


int app_metrics_laddr(const struct app_metrics *m, struct sa *laddr)
{
	if (!m || !laddr)
		return EINVAL;

	/* written once, before app_metrics_start() returned (published by
	 * its mutex/cond handshake and thread creation order) */
	*laddr = m->laddr;

	return 0;
}


void app_metrics_stop(struct app_metrics *m)
{
	if (!m)
		return;

	/* the close handler (on the metrics thread) leaves its loop */
	(void)redum_fifo_close(m->ctl);
	pthread_join(m->thread, NULL);
	metrics_free(m);
}
