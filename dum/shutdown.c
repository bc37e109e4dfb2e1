/**
 * @file shutdown.c  Staged shutdown of a DUM (docs/SHUTDOWN.md)
 *
 * Any thread asks (graceful, if-no-usages, forced): the request is written
 * under `sh->mtx`, published in `dum->stop_req` and the DUM thread is woken
 * by the embedded wake command (or, if the command FIFO is full, by the
 * 50 ms tick). Everything else runs on the DUM thread:
 *
 *   begin -> stage 1 .. n (each: ask every usage of the stage, and of the
 *   stages before it that appeared since, to end; wait until none of them
 *   is alive) -> dum_remove() -> TransactionUserRemoved -> app FIFO close
 *   -> (application thread) report handler, on_dum_can_be_deleted.
 *
 * The give-up timer (dum->tmr_stop) and a forced request both record every
 * usage still alive (type, state, what it waits for) in the report and ask
 * the stack to abandon the TU; dum_removed_handler() then frees them.
 *
 * Field ownership: struct dum_shut below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include <redum/shutdown.h>
#include "dum_int.h"

#define ALL_TYPES (((1u << REDUM_USAGE_COUNT) - 1) & ~1u)

/* Usages being ended at once. Asking 10,000 usages to end in one go
 * sends 10,000 requests in one burst: the peer's (and our own) UDP
 * receive buffer overflows, the kernel drops thousands of them, and each
 * drop costs a retransmission 500 ms, 1 s, 2 s later: a graceful shutdown
 * of 30k usages took 3-5 s, most of it waiting for retransmissions
 * (docs/BENCHMARKS.md "Shutdown timing"). So a stage keeps at most
 * SHUT_WINDOW usages asked and not yet gone, topped up when half of them
 * went. A usage waiting for a silent peer holds its place at most
 * SHUT_STALL_MS: then the window moves on regardless (a dead peer must
 * not serialize the shutdown behind its timeouts). */
enum { SHUT_WINDOW = 1024, SHUT_STALL_MS = 200 };

struct dum_shut {
	pthread_mutex_t mtx;
	/* [mtx] the request, as asked by any thread */
	enum redum_shutdown_mode mode;    /* first asked                 */
	bool force;                       /* forced, directly or later    */
	struct redum_shutdown_conf conf;
	/* [mtx] the snapshot, written by the DUM thread */
	struct redum_shutdown_progress prog;

	/* [dum] */
	bool begun, forced_done, removed;
	uint64_t t0, t_remove;
	uint32_t cur, nst;
	uint32_t masks[REDUM_SHUTDOWN_MAX_STAGES + 1];
	struct tmr tmr_step;
	uint64_t ev0;
	uint32_t nforced_cap;
	uint64_t created_seen;           /* usages created at the last scan */
	bool scan;                       /* a stage began: scan the usages  */
	uint32_t ending;                 /* asked to end, not gone yet      */
	bool more;                       /* usages of the stage not asked
					    yet for want of room            */
	uint64_t t_ask;                  /* last ask_end()                  */
	uint64_t t_refresh;              /* last snapshot (rate bound)      */
	/* [dum] until the app FIFO closes, then [app] */
	struct redum_shutdown_report rep;
	_Atomic uint64_t refused;        /* [dum] writer, read by snapshot */

	/* [app] the final callbacks and a free asked from inside them */
	bool in_final;
	pthread_t final_thread;
	bool free_deferred;
};

static const char *mode_names[] = {
	"none", "graceful", "if-no-usages", "forced",
};

static const char *phase_names[] = {
	"running", "requested", "ending", "removing", "finishing", "done",
};


const char *redum_shutdown_mode_name(enum redum_shutdown_mode m)
{
	return (unsigned)m < 4 ? mode_names[m] : "?";
}


const char *redum_shutdown_phase_name(enum redum_shutdown_phase p)
{
	return (unsigned)p < 6 ? phase_names[p] : "?";
}


uint64_t dum_shut_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


void redum_shutdown_conf_init(struct redum_shutdown_conf *conf)
{
	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	conf->give_up_ms = 4000;
	conf->log = true;
	conf->stages[0] = REDUM_USAGE_BIT(REDUM_USAGE_INVITE_SERVER) |
		REDUM_USAGE_BIT(REDUM_USAGE_REQUEST_SERVER) |
		REDUM_USAGE_BIT(REDUM_USAGE_PUBLICATION_SERVER) |
		REDUM_USAGE_BIT(REDUM_USAGE_REGISTRAR);
	conf->stages[1] = REDUM_USAGE_BIT(REDUM_USAGE_SUBSCRIPTION_SERVER);
	conf->stages[2] = REDUM_USAGE_BIT(REDUM_USAGE_INVITE_CLIENT);
	conf->stages[3] = REDUM_USAGE_BIT(REDUM_USAGE_SUBSCRIPTION_CLIENT);
	conf->stages[4] = REDUM_USAGE_BIT(REDUM_USAGE_PAGER) |
		REDUM_USAGE_BIT(REDUM_USAGE_REQUEST_CLIENT);
	conf->stages[5] = REDUM_USAGE_BIT(REDUM_USAGE_PUBLICATION_CLIENT);
	conf->stages[6] = REDUM_USAGE_BIT(REDUM_USAGE_REGISTRATION_CLIENT);
	conf->nstages = 7;
}


int dum_shut_alloc(struct redum_dum *dum)
{
	struct dum_shut *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return ENOMEM;

	pthread_mutex_init(&sh->mtx, NULL);
	tmr_init(&sh->tmr_step);
	dum->shut = sh;

	return 0;
}


void dum_shut_free(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;

	if (!sh)
		return;

	free(sh->rep.forced);
	pthread_mutex_destroy(&sh->mtx);
	free(sh);
	dum->shut = NULL;
}


/* DUM thread: timers of the shutdown (the loop is going away). */
void dum_shut_teardown(struct redum_dum *dum)
{
	if (dum->shut)
		tmr_cancel(&dum->shut->tmr_step);
}


/* ---- what a usage waits for ---------------------------------------------- */

static const char *waits_for(const struct dum_usage *u)
{
	switch (u->cls->type) {

	case REDUM_USAGE_INVITE_CLIENT:
	case REDUM_USAGE_INVITE_SERVER:
		switch (u->state) {
		case REDUM_INV_CALLING:
		case REDUM_INV_EARLY:
			return "the final response to our INVITE";
		case REDUM_INV_CANCELLING:
			return "the final response to our CANCELled INVITE";
		case REDUM_INV_OFFERED:
		case REDUM_INV_PROCEEDING:
			return "the application's answer to the INVITE";
		case REDUM_INV_ACCEPTED:
		case REDUM_INV_REINVITE_ACK:
			return "the ACK of our 2xx";
		case REDUM_INV_CONNECTED:
			return "its turn to end (connected)";
		case REDUM_INV_REINVITE_SENT:
			return "the response to our re-INVITE";
		case REDUM_INV_REINVITE_RECEIVED:
			return "the application's answer to a re-INVITE";
		case REDUM_INV_GLARE_WAIT:
			return "the re-INVITE glare retry timer";
		case REDUM_INV_ANSWER_WAIT:
			return "the application's answer to the 2xx offer";
		case REDUM_INV_TERMINATING:
			return "the response to our BYE";
		default:
			return "?";
		}

	case REDUM_USAGE_REGISTRATION_CLIENT:
		return u->ctl.head ? "the response to our REGISTER" :
			"its turn to end (no REGISTER pending)";

	case REDUM_USAGE_SUBSCRIPTION_CLIENT:
		return u->ctl.head ? "the response to our SUBSCRIBE" :
			"the notifier's final NOTIFY";

	case REDUM_USAGE_SUBSCRIPTION_SERVER:
		return u->ctl.head ? "the response to our NOTIFY" :
			u->stl.head ? "the application's answer to SUBSCRIBE" :
			"its turn to end";

	case REDUM_USAGE_PUBLICATION_CLIENT:
		return u->ctl.head ? "the response to our PUBLISH" :
			"its turn to end";

	case REDUM_USAGE_PAGER:
		return "the response to our MESSAGE";

	case REDUM_USAGE_REQUEST_CLIENT:
		return "the response to our request";

	case REDUM_USAGE_REQUEST_SERVER:
		return "the application's answer to a request";

	default:
		return u->ctl.head ? "the response to a request of ours" :
			u->stl.head ? "our answer to a received request" :
			"its turn to end";
	}
}


static void describe(struct redum_shutdown_usage *d,
		     const struct dum_usage *u, uint64_t now)
{
	d->h = u->h;
	d->type = u->cls->type;
	d->state = u->state;
	d->state_name = ((uint32_t)u->state < u->cls->nstates) ?
		u->cls->state_names[u->state] : "?";
	d->waiting_for = waits_for(u);
	d->age_ms = (uint32_t)(now - u->born);
}


static uint32_t mask_of(enum redum_usage_type t)
{
	return REDUM_USAGE_BIT(t);
}


/* Usages alive of the types in @p mask (the counters: O(types x states)). */
static uint64_t alive(struct redum_dum *dum, uint32_t mask)
{
	uint64_t n = 0;
	uint32_t t, s;

	for (t = 1; t < REDUM_USAGE_COUNT; t++) {
		if (!(mask & mask_of(t)))
			continue;
		for (s = 0; s < REDUM_DUM_MAX_STATES; s++)
			n += atomic_load_explicit(&dum->c.usages[t][s],
						  memory_order_relaxed);
	}

	return n;
}


static uint32_t cum_mask(const struct dum_shut *sh)
{
	uint32_t m = 0, i;

	for (i = 0; i <= sh->cur && i < sh->nst; i++)
		m |= sh->masks[i];

	return m;
}


/* ---- the snapshot ---------------------------------------------------------- */

static void refresh(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	struct redum_shutdown_progress p;
	uint64_t now = dum_shut_now();
	uint32_t m = cum_mask(sh);
	const struct dum_usage *oldest = NULL;
	struct le *le;

	memset(&p, 0, sizeof(p));
	p.stage = sh->begun ? sh->cur + 1 : 0;
	p.nstages = sh->nst;
	p.stage_types = sh->begun ? sh->masks[sh->cur] : 0;
	p.elapsed_ms = sh->begun ? now - sh->t0 : 0;

	/* usages are appended at creation (dum.c): the head is the oldest,
	 * and the walk stops at the 8th waiting one instead of visiting all
	 * 30,000 usages every 20 ms (that alone was ~6% of a large
	 * shutdown's CPU) */
	oldest = dum->usagel.head ? dum->usagel.head->data : NULL;
	for (le = dum->usagel.head;
	     le && p.nwaiting < sizeof(p.waiting) / sizeof(p.waiting[0]);
	     le = le->next) {
		const struct dum_usage *u = le->data;

		if (m & mask_of(u->cls->type))
			describe(&p.waiting[p.nwaiting++], u, now);
	}
	if (oldest)
		describe(&p.oldest, oldest, now);

	pthread_mutex_lock(&sh->mtx);
	p.mode = sh->force ? REDUM_SHUTDOWN_FORCED : sh->mode;
	p.give_up_ms = sh->conf.give_up_ms;
	p.phase = sh->prog.phase;
	sh->prog = p;
	pthread_mutex_unlock(&sh->mtx);
}


static void set_phase(struct dum_shut *sh, enum redum_shutdown_phase ph)
{
	pthread_mutex_lock(&sh->mtx);
	sh->prog.phase = ph;
	pthread_mutex_unlock(&sh->mtx);
}


static void log_stage(struct redum_dum *dum, const char *what)
{
	struct dum_shut *sh = dum->shut;
	char types[160] = "";
	uint32_t t, m;
	size_t n = 0;

	if (!sh->conf.log)
		return;

	m = sh->begun && sh->cur < sh->nst ? sh->masks[sh->cur] : 0;
	for (t = 1; t < REDUM_USAGE_COUNT && n < sizeof(types) - 24; t++) {
		if (m & mask_of(t))
			n += (size_t)snprintf(types + n, sizeof(types) - n,
					      "%s%s", n ? "," : "",
					      redum_usage_name(t));
	}

	fprintf(stderr, "redum shutdown %p: %s: stage %u/%u (%s) at %llu ms,"
		" %llu usage(s) alive\n", (void *)dum, what, sh->cur + 1,
		sh->nst, types, (unsigned long long)(dum_shut_now() - sh->t0),
		(unsigned long long)alive(dum, ALL_TYPES));
}


/* ---- the report ------------------------------------------------------------ */

/* Names @p u in the report as force-ended (once). */
static void record_forced(struct redum_dum *dum, struct dum_usage *u,
			  uint64_t now)
{
	struct dum_shut *sh = dum->shut;
	struct redum_shutdown_report *r = &sh->rep;

	if (u->shut_state == 2)
		return;
	u->shut_state = 2;

	if (r->nforced == sh->nforced_cap) {
		uint32_t cap = sh->nforced_cap ? sh->nforced_cap * 2 : 16;
		void *p = realloc(r->forced, cap * sizeof(*r->forced));

		if (!p)
			return;    /* out of memory: the report misses it */
		r->forced = p;
		sh->nforced_cap = cap;
	}

	describe(&r->forced[r->nforced++], u, now);
}


static void record_all_forced(struct redum_dum *dum)
{
	uint64_t now = dum_shut_now();
	struct le *le;

	for (le = dum->usagel.head; le; le = le->next)
		record_forced(dum, le->data, now);
}


static void stage_close(struct dum_shut *sh, uint64_t now)
{
	struct redum_shutdown_stage *st = &sh->rep.stages[sh->cur];

	if (st->reached && !st->duration_ms)
		st->duration_ms = now - sh->t0 - st->start_ms;
}


static void stage_open(struct dum_shut *sh, uint64_t now)
{
	struct redum_shutdown_stage *st = &sh->rep.stages[sh->cur];

	st->reached = true;
	st->start_ms = now - sh->t0;
}


/* ---- the stages -------------------------------------------------------- */

static bool usage_cmp(struct le *le, void *arg)
{
	const struct dum_usage *u = le->data;
	return u->h == *(const uint64_t *)arg;
}


static struct dum_usage *find(struct redum_dum *dum, uint64_t h)
{
	return list_ledata(hash_lookup(dum->ht_usage,
				       (uint32_t)(h ^ (h >> 32)), usage_cmp,
				       &h));
}


/* Asks usages of @p mask not asked yet to end, as many as the window
 * has room for (sh->more: some are left). Ending one may free it (and, in
 * principle, others), so the targets are named by handle first and looked
 * up again one by one. */
static void ask_end(struct redum_dum *dum, uint32_t mask, uint64_t now)
{
	struct dum_shut *sh = dum->shut;
	uint64_t *hv;
	size_t n = 0, cap = 0, room, i;
	struct le *le;

	room = sh->ending < SHUT_WINDOW ? SHUT_WINDOW - sh->ending : 0;
	if (room < SHUT_WINDOW / 2 && now - sh->t_ask >= SHUT_STALL_MS)
		room = SHUT_WINDOW / 2;
	sh->more = false;

	/* counting stops past the room: only "more or not" matters */
	for (le = dum->usagel.head; le && cap <= room; le = le->next) {
		struct dum_usage *u = le->data;

		if (!u->shut_state && (mask & mask_of(u->cls->type)))
			++cap;
	}
	if (cap > room) {
		sh->more = true;
		cap = room;
	}
	if (!cap)
		return;

	hv = malloc(cap * sizeof(*hv));
	if (!hv) {
		sh->scan = true;    /* the next step retries */
		return;
	}
	sh->t_ask = now;

	for (le = dum->usagel.head; le && n < cap; le = le->next) {
		struct dum_usage *u = le->data;

		if (!u->shut_state && (mask & mask_of(u->cls->type)))
			hv[n++] = u->h;
	}

	for (i = 0; i < n && dum->phase == PH_ENDING; i++) {
		struct dum_usage *u = find(dum, hv[i]);

		if (!u || u->dead || u->shut_state)
			continue;

		u->shut_state = 1;
		++sh->ending;
		++sh->rep.stages[sh->cur].ended;
		if (u->cls->end)
			u->cls->end(u);
	}

	free(hv);
}


static uint64_t created(struct redum_dum *dum)
{
	uint64_t n = 0;
	uint32_t t;

	for (t = 1; t < REDUM_USAGE_COUNT; t++)
		n += atomic_load_explicit(&dum->c.usages_created[t],
					  memory_order_relaxed);
	return n;
}


/* One step: end what the current stage (and those before) holds, and go
 * on to the next stage while nothing of them is left. The usage list is
 * only scanned when a stage begins, a usage was created since the last
 * scan, or the window has room again (SHUT_WINDOW), so the step after
 * each usage freed costs O(types x states), and ending n usages
 * O(n * n / SHUT_WINDOW) list steps at worst (the snapshot is refreshed by
 * the tick). */
static void step(struct redum_dum *dum, bool snapshot)
{
	struct dum_shut *sh = dum->shut;
	bool staged = false;

	if (dum->phase != PH_ENDING)
		return;

	for (;;) {
		uint32_t m = cum_mask(sh);
		uint64_t c = created(dum);
		uint64_t now = dum_shut_now();

		if (sh->scan || c != sh->created_seen ||
		    (sh->more && (sh->ending <= SHUT_WINDOW / 2 ||
				  now - sh->t_ask >= SHUT_STALL_MS))) {
			sh->scan = false;
			sh->created_seen = c;
			ask_end(dum, m, now);
			if (dum->phase != PH_ENDING)
				return;  /* the last usage went: removal */
		}

		if (alive(dum, m) || sh->cur + 1 >= sh->nst)
			break;

		stage_close(sh, dum_shut_now());
		++sh->cur;
		stage_open(sh, dum_shut_now());
		sh->scan = true;
		staged = true;
		log_stage(dum, "next stage");
	}

	if (!dum->usagel.head) {
		dum_remove(dum, true);
	}
	else if (snapshot || staged) {
		/* at most every 20 ms (commands and ticks both step) unless
		 * a stage changed: the snapshot walks every usage */
		uint64_t now = dum_shut_now();

		if (staged || now - sh->t_refresh >= 20) {
			sh->t_refresh = now;
			refresh(dum);
		}
	}
}


static void step_tmr(void *arg)
{
	step(arg, false);
}


static void deadline(void *arg)
{
	struct redum_dum *dum = arg;
	struct dum_shut *sh = dum->shut;

	if (dum->phase != PH_ENDING)
		return;

	sh->rep.deadline_hit = true;
	log_stage(dum, "give-up deadline: force-ending the rest");
	record_all_forced(dum);
	dum_remove(dum, false);
}


static void begin(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	struct redum_shutdown_report *r = &sh->rep;
	uint32_t all = 0, i;

	pthread_mutex_lock(&sh->mtx);
	r->mode = sh->mode;
	r->give_up_ms = sh->conf.give_up_ms;
	for (i = 0; i < sh->conf.nstages; i++) {
		if (!sh->conf.stages[i])
			continue;
		sh->masks[sh->nst++] = sh->conf.stages[i];
		all |= sh->conf.stages[i];
	}
	if (ALL_TYPES & ~all)
		sh->masks[sh->nst++] = ALL_TYPES & ~all;
	if (sh->conf.all_at_once) {
		sh->masks[0] = ALL_TYPES;
		sh->nst = 1;
	}
	sh->prog.phase = REDUM_SHUTDOWN_ENDING;
	pthread_mutex_unlock(&sh->mtx);

	sh->begun = true;
	sh->t0 = dum_shut_now();
	sh->ev0 = atomic_load_explicit(&dum->c.events_posted,
				       memory_order_relaxed);
	r->nstages = sh->nst;
	for (i = 0; i < sh->nst; i++)
		r->stages[i].types = sh->masks[i];
	r->usages_at_start = (uint32_t)alive(dum, ALL_TYPES);

	dum->phase = PH_ENDING;
	if (r->give_up_ms)
		tmr_start(&dum->tmr_stop, r->give_up_ms, deadline, dum);

	stage_open(sh, sh->t0);
	sh->scan = true;
	log_stage(dum, "begin");
	step(dum, true);
}


static void do_force(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;

	sh->forced_done = true;
	if (!sh->begun) {
		sh->begun = true;
		sh->t0 = dum_shut_now();
		sh->ev0 = atomic_load_explicit(&dum->c.events_posted,
					       memory_order_relaxed);
		/* a graceful request the DUM thread had not taken up yet
		 * still counts as escalated */
		pthread_mutex_lock(&sh->mtx);
		sh->rep.mode = sh->mode;
		sh->rep.give_up_ms = sh->conf.give_up_ms;
		pthread_mutex_unlock(&sh->mtx);
		sh->rep.escalated = sh->rep.mode != REDUM_SHUTDOWN_FORCED;
		sh->rep.nstages = 0;
		sh->rep.usages_at_start = (uint32_t)alive(dum, ALL_TYPES);
		sh->nst = 1;
		sh->masks[0] = ALL_TYPES;
	}
	else {
		sh->rep.escalated = true;
	}

	if (dum->phase >= PH_FINISHING)
		return;

	log_stage(dum, "forced");
	record_all_forced(dum);

	if (dum->phase == PH_REMOVING) {
		/* a graceful removal escalates to abandon (the stack's
		 * tu_remove allows it once) */
		(void)dum_ops->tu_remove(dum->tu, false);
		return;
	}

	if (dum->phase == PH_RUNNING)
		dum->phase = PH_ENDING;
	dum_remove(dum, false);
}


/* DUM thread: after anything that may move the shutdown on (commands,
 * ticks). */
void dum_shut_check(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	int req = atomic_load_explicit(&dum->stop_req, memory_order_acquire);

	if (!req)
		return;

	if (req == REDUM_SHUTDOWN_FORCED && !sh->forced_done) {
		do_force(dum);
		return;
	}

	if (dum->phase == PH_RUNNING && !sh->begun) {
		begin(dum);
		return;
	}

	if (dum->phase == PH_ENDING)
		step(dum, true);
}


/* DUM thread: a usage was freed while ending; step soon (not from inside
 * the usage's own code). */
void dum_shut_usage_gone(struct redum_dum *dum, bool was_asked)
{
	struct dum_shut *sh = dum->shut;

	if (sh && was_asked && sh->ending)
		--sh->ending;
	if (dum->phase == PH_ENDING && sh)
		tmr_start(&sh->tmr_step, 0, step_tmr, dum);
}


/* DUM thread: DUM asked the stack for its removal. */
void dum_shut_removing(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	uint64_t now = dum_shut_now();

	if (!sh->begun) {
		/* removal without a request (setup failure) */
		sh->begun = true;
		sh->t0 = now;
	}
	tmr_cancel(&sh->tmr_step);
	stage_close(sh, now);
	sh->t_remove = now;
	sh->rep.ending_ms = now - sh->t0;
	set_phase(sh, REDUM_SHUTDOWN_REMOVING);
	refresh(dum);
}


/* DUM thread: TransactionUserRemoved, before the usages left are freed. */
void dum_shut_removed(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	uint64_t now = dum_shut_now();

	record_all_forced(dum);
	sh->removed = true;
	sh->rep.removal_ms = sh->t_remove ? now - sh->t_remove : 0;
	set_phase(sh, REDUM_SHUTDOWN_FINISHING);
	if (sh->conf.log && sh->rep.nforced)
		log_stage(dum, "removed; usages force-ended");
}


/* DUM thread: the app FIFO is about to close: the report is complete. */
void dum_shut_finished(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;

	sh->rep.total_ms = dum_shut_now() - sh->t0;
	sh->rep.events_after_begin =
		atomic_load_explicit(&dum->c.events_posted,
				     memory_order_relaxed) - sh->ev0;
	sh->rep.commands_refused = atomic_load_explicit(&sh->refused,
							memory_order_relaxed);
	set_phase(sh, REDUM_SHUTDOWN_DONE);
	refresh(dum);
}


/* DUM thread: an ERROR ESHUTDOWN completion went out. */
void dum_shut_refused(struct redum_dum *dum)
{
	if (dum->shut)
		atomic_fetch_add_explicit(&dum->shut->refused, 1,
					  memory_order_relaxed);
}


void dum_shut_count_discard(struct redum_dum *dum)
{
	if (dum->shut && dum->shut->begun)
		++dum->shut->rep.events_discarded;
}


/* ---- the application's final callbacks ------------------------------------ */

/* Application thread, in the app FIFO's close handler, before
 * on_dum_can_be_deleted. */
void dum_shut_final_begin(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	redum_shutdown_report_h *h;
	void *arg;

	sh->in_final = true;
	sh->final_thread = pthread_self();

	pthread_mutex_lock(&sh->mtx);
	h = sh->conf.reporth;
	arg = sh->conf.arg;
	pthread_mutex_unlock(&sh->mtx);

	if (h)
		h(dum, &sh->rep, arg);
}


static void *reaper(void *arg)
{
	struct redum_dum *dum = arg;

	/* the FIFO's close handler returns, then it is finished */
	(void)redum_fifo_join(dum->appq);
	(void)redum_dum_free(dum);

	return NULL;
}


/* Application thread, after on_dum_can_be_deleted returned: a free asked
 * from inside it happens now, on a helper thread that first waits until
 * the FIFO code has left the close handler (its last access). */
void dum_shut_final_end(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;
	pthread_attr_t attr;
	pthread_t t;

	sh->in_final = false;
	if (!sh->free_deferred)
		return;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, reaper, dum))
		fprintf(stderr, "redum shutdown %p: cannot free the DUM "
			"asked from on_dum_can_be_deleted (no thread)\n",
			(void *)dum);
	pthread_attr_destroy(&attr);
}


/* redum_dum_free(): true if called from inside the final callbacks (the
 * free is deferred to dum_shut_final_end()). */
bool dum_shut_defer_free(struct redum_dum *dum)
{
	struct dum_shut *sh = dum->shut;

	if (!sh || !sh->in_final ||
	    !pthread_equal(sh->final_thread, pthread_self()))
		return false;

	sh->free_deferred = true;
	return true;
}


/* ---- the public API ------------------------------------------------------- */

static int request(struct redum_dum *dum, enum redum_shutdown_mode mode,
		   const struct redum_shutdown_conf *conf)
{
	struct dum_shut *sh;
	int err = 0;

	if (!dum || !dum->shut)
		return EINVAL;
	sh = dum->shut;

	pthread_mutex_lock(&sh->mtx);

	if (mode == REDUM_SHUTDOWN_FORCED) {
		if (sh->force) {
			err = EALREADY;
			goto out;
		}
		sh->force = true;
		if (sh->mode == REDUM_SHUTDOWN_NONE) {
			sh->mode = REDUM_SHUTDOWN_FORCED;
			redum_shutdown_conf_init(&sh->conf);
			sh->conf.give_up_ms = 0;
		}
		sh->prog.mode = REDUM_SHUTDOWN_FORCED;
	}
	else {
		if (sh->mode != REDUM_SHUTDOWN_NONE) {
			err = EALREADY;
			goto out;
		}
		if (mode == REDUM_SHUTDOWN_IF_NO_USAGES &&
		    alive(dum, ALL_TYPES)) {
			err = EBUSY;
			goto out;
		}
		sh->mode = mode;
		sh->conf = *conf;
		sh->prog.mode = mode;
	}
	if (sh->prog.phase == REDUM_SHUTDOWN_RUNNING)
		sh->prog.phase = REDUM_SHUTDOWN_REQUESTED;

	atomic_store_explicit(&dum->stop_req, (int)(sh->force ?
			      REDUM_SHUTDOWN_FORCED : mode),
			      memory_order_release);

 out:
	pthread_mutex_unlock(&sh->mtx);

	if (!err) {
		/* a wake-up: if the FIFO is full the tick sees the flag */
		(void)redum_fifo_push(dum->cmdq, &dum->wake_cmd);
	}

	return err;
}


int redum_dum_shutdown(struct redum_dum *dum,
		       const struct redum_shutdown_conf *conf)
{
	struct redum_shutdown_conf def;

	if (!dum)
		return EINVAL;

	if (!conf) {
		redum_shutdown_conf_init(&def);
		def.give_up_ms = dum->conf.stop_ms;
		conf = &def;
	}
	else if (conf->nstages > REDUM_SHUTDOWN_MAX_STAGES) {
		return EINVAL;
	}

	return request(dum, REDUM_SHUTDOWN_GRACEFUL, conf);
}


int redum_dum_shutdown_if_no_usages(struct redum_dum *dum,
				    uint32_t give_up_ms)
{
	struct redum_shutdown_conf conf;

	redum_shutdown_conf_init(&conf);
	conf.give_up_ms = give_up_ms;

	return request(dum, REDUM_SHUTDOWN_IF_NO_USAGES, &conf);
}


int redum_dum_shutdown_force(struct redum_dum *dum)
{
	return request(dum, REDUM_SHUTDOWN_FORCED, NULL);
}


int redum_dum_shutdown_progress(const struct redum_dum *dum,
				struct redum_shutdown_progress *p)
{
	struct redum_dum *d = (struct redum_dum *)dum;
	struct dum_shut *sh;
	uint32_t t, s;

	if (!dum || !p || !dum->shut)
		return EINVAL;
	sh = d->shut;

	pthread_mutex_lock(&sh->mtx);
	*p = sh->prog;
	pthread_mutex_unlock(&sh->mtx);

	p->usages_alive = 0;
	for (t = 0; t < REDUM_USAGE_COUNT; t++) {
		for (s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			p->usages[t][s] = atomic_load_explicit(
				&d->c.usages[t][s], memory_order_relaxed);
			p->usages_alive += p->usages[t][s];
		}
	}

	return 0;
}


const struct redum_shutdown_report *
redum_dum_shutdown_result(const struct redum_dum *dum)
{
	if (!dum || !dum->shut ||
	    atomic_load_explicit(&dum->stop_req, memory_order_acquire) == 0)
		return NULL;

	/* complete once the app FIFO closed (read on the app thread, after
	 * the close: the FIFO's close orders the DUM thread's writes) */
	return redum_fifo_finished(dum->appq) || dum->shut->in_final ?
		&dum->shut->rep : NULL;
}


static int pr_types(struct re_printf *pf, uint32_t m)
{
	uint32_t t;
	int err = 0;
	bool first = true;

	for (t = 1; t < REDUM_USAGE_COUNT; t++) {
		if (!(m & mask_of(t)))
			continue;
		err |= re_hprintf(pf, "%s%s", first ? "" : ",",
				  redum_usage_name(t));
		first = false;
	}

	return err;
}


static int pr_usage(struct re_printf *pf, const char *tag,
		    const struct redum_shutdown_usage *u)
{
	return re_hprintf(pf, "%s %llu %s %s age=%ums waiting-for=\"%s\"\n",
			  tag, (unsigned long long)u->h,
			  redum_usage_name(u->type),
			  u->state_name ? u->state_name : "?", u->age_ms,
			  u->waiting_for ? u->waiting_for : "?");
}


int redum_shutdown_progress_print(struct re_printf *pf,
				  const struct redum_shutdown_progress *p)
{
	uint32_t t, s, i;
	int err = 0;

	if (!p)
		return EINVAL;

	err |= re_hprintf(pf, "mode %s phase %s stage %u/%u (",
			  redum_shutdown_mode_name(p->mode),
			  redum_shutdown_phase_name(p->phase), p->stage,
			  p->nstages);
	err |= pr_types(pf, p->stage_types);
	err |= re_hprintf(pf, ") elapsed %llums give-up %ums alive %llu\n",
			  (unsigned long long)p->elapsed_ms, p->give_up_ms,
			  (unsigned long long)p->usages_alive);

	for (t = 1; t < REDUM_USAGE_COUNT; t++) {
		for (s = 0; s < REDUM_DUM_MAX_STATES; s++) {
			if (p->usages[t][s])
				err |= re_hprintf(pf, "alive %s %s %llu\n",
					redum_usage_name(t),
					redum_usage_state_name(t, (int)s),
					(unsigned long long)p->usages[t][s]);
		}
	}

	if (p->oldest.h)
		err |= pr_usage(pf, "oldest", &p->oldest);
	for (i = 0; i < p->nwaiting; i++)
		err |= pr_usage(pf, "waiting", &p->waiting[i]);

	return err;
}


int redum_shutdown_report_print(struct re_printf *pf,
				const struct redum_shutdown_report *r)
{
	uint32_t i;
	int err = 0;

	if (!r)
		return EINVAL;

	err |= re_hprintf(pf, "shutdown %s%s%s give-up %ums total %llums "
			  "(ending %llums, removal %llums) usages-at-start %u"
			  " forced %u\n", redum_shutdown_mode_name(r->mode),
			  r->escalated ? " escalated-to-forced" : "",
			  r->deadline_hit ? " deadline-hit" : "",
			  r->give_up_ms, (unsigned long long)r->total_ms,
			  (unsigned long long)r->ending_ms,
			  (unsigned long long)r->removal_ms,
			  r->usages_at_start, r->nforced);

	for (i = 0; i < r->nstages; i++) {
		const struct redum_shutdown_stage *st = &r->stages[i];

		err |= re_hprintf(pf, "stage %u (", i + 1);
		err |= pr_types(pf, st->types);
		if (st->reached)
			err |= re_hprintf(pf, ") start %llums duration %llums"
					  " ended %u\n",
					  (unsigned long long)st->start_ms,
					  (unsigned long long)st->duration_ms,
					  st->ended);
		else
			err |= re_hprintf(pf, ") not reached\n");
	}

	for (i = 0; i < r->nforced; i++)
		err |= pr_usage(pf, "forced", &r->forced[i]);

	err |= re_hprintf(pf, "events-after-begin %llu discarded %llu "
			  "commands-refused %llu\n",
			  (unsigned long long)r->events_after_begin,
			  (unsigned long long)r->events_discarded,
			  (unsigned long long)r->commands_refused);

	return err;
}
