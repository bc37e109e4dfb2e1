/**
 * @file tmr_wheel.c  libre's timer API on a per-thread hierarchical timing wheel
 *
 * libre 1.1.0 keeps a thread's timers in one sorted list and inserts by
 * walking back from the tail, so a short timer started among many long ones
 * costs O(pending). Its libre.so calls its own tmr_* through the PLT, so the
 * definitions below replace libre's for the whole process (docs/TIMERS.md).
 *
 * The wheel (after Varghese & Lauck, placed by the highest bit in which the
 * expiry differs from the wheel's time, as in tokio's timer):
 *  - cur is the wheel's time in ms: every timer that expired before cur has
 *    fired. A timer expiring at e sits at level L = msb(e ^ cur) / 6, slot
 *    (e >> 6L) & 63. So level 0 holds exactly the timers of cur's 64 ms
 *    block (one slot per ms, one expiry per slot), and level L holds timers
 *    of later 64^L ms blocks inside cur's 64^(L+1) block. Slot indices are
 *    never compared modulo: a pending timer's slot index is above cur's.
 *  - When cur enters a block whose slot at level L >= 1 is occupied, that
 *    slot is emptied into lower levels (a cascade). Every timer stays at the
 *    slot its expiry and the current cur give, so all timers with the same
 *    expiry share one slot list, and appending keeps them in start order.
 *  - An occupancy bitmap per level (one 64-bit word at 64 slots) finds the
 *    next occupied slot with a count-trailing-zeros, so polling skips empty
 *    time in O(levels).
 *  - Expiries more than 2^42 ms away (or across a 2^42 boundary) wait on an
 *    overflow list that is re-placed when cur crosses such a boundary.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "redum/timer.h"
#include "stack/tmr_wheel.h"

enum {
	BITS   = REDUM_TMR_WHEEL_BITS,
	SLOTS  = REDUM_TMR_WHEEL_SLOTS,
	LEVELS = REDUM_TMR_WHEEL_LEVELS,
	SPAN   = BITS * LEVELS,       /* bits of ms the levels cover     */
	WORDS  = (SLOTS + 63) / 64,   /* occupancy words per level       */
	STATUS_MAX = 100,             /* timers listed by tmr_status()   */
};

struct wheel {
	struct list slot[LEVELS][SLOTS];
	struct list overflow;         /* expiry beyond the top level      */
	uint64_t occ[LEVELS][WORDS];  /* bit s: slot[level][s] non-empty  */
	uint64_t cur;                 /* wheel time [ms], see above       */
	redum_tmr_clock_h *clockh;    /* test clock, NULL: monotonic      */
	void *clock_arg;
	struct redum_tmr_stats st;
};

/* initial-exec: one TLS load even when libredum is a shared library, which
 * is fine because libredum is always a DT_NEEDED library, never dlopen()ed
 * late. */
static __thread struct wheel *tls_wheel
	__attribute__((tls_model("initial-exec")));

/* The calling thread's idle hook (redum_loop_set_idle). */
static __thread redum_loop_idle_h *tls_idleh
	__attribute__((tls_model("initial-exec")));
static __thread void *tls_idle_arg
	__attribute__((tls_model("initial-exec")));

/* True while the calling thread runs a timer handler of libre.so's own
 * (redum_tmr_in_libre_handler). */
static __thread bool tls_in_libre
	__attribute__((tls_model("initial-exec")));

static pthread_once_t wheel_once = PTHREAD_ONCE_INIT;
static pthread_key_t wheel_key;  /* only for its destructor at thread exit */
static uintptr_t libre_text_lo;  /* libre.so's executable segment, to count */
static uintptr_t libre_text_hi;  /* timers started by libre's own code      */


/* Whether code address @p a lies in libre.so's executable segment. */
static inline bool in_libre(uintptr_t a)
{
	return a - libre_text_lo < libre_text_hi - libre_text_lo;
}


static uint64_t mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return 0;

	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}


static inline uint64_t wheel_now(const struct wheel *w)
{
	return w->clockh ? w->clockh(w->clock_arg) : mono_ms();
}


static inline void occ_set(struct wheel *w, unsigned lvl, unsigned s)
{
	w->occ[lvl][s / 64] |= UINT64_C(1) << (s % 64);
}


static inline void occ_clear(struct wheel *w, unsigned lvl, unsigned s)
{
	w->occ[lvl][s / 64] &= ~(UINT64_C(1) << (s % 64));
}


static inline bool occ_test(const struct wheel *w, unsigned lvl, unsigned s)
{
	return (w->occ[lvl][s / 64] >> (s % 64)) & 1;
}


/* The first occupied slot >= from at a level, or SLOTS. */
static unsigned occ_next(const struct wheel *w, unsigned lvl, unsigned from)
{
	unsigned i;
	uint64_t m;

	if (from >= SLOTS)
		return SLOTS;

	i = from / 64;
	m = w->occ[lvl][i] & (~UINT64_C(0) << (from % 64));
	for (;;) {
		if (m)
			return i * 64 + (unsigned)__builtin_ctzll(m);
		if (++i == WORDS)
			return SLOTS;
		m = w->occ[lvl][i];
	}
}


static inline struct list *slot_base(struct wheel *w)
{
	return &w->slot[0][0];
}


/* Puts a pending timer into the slot its expiry and cur give. */
static void place(struct wheel *w, struct tmr *tmr)
{
	/* Only a clock that went backwards (a test clock) gives e < cur:
	 * such a timer is due at once. */
	const uint64_t e = tmr->jfs < w->cur ? w->cur : tmr->jfs;
	const uint64_t x = e ^ w->cur;
	unsigned lvl, s;

	if (x >> SPAN) {
		list_append(&w->overflow, &tmr->le, tmr);
		return;
	}

	lvl = x ? (unsigned)(63 - __builtin_clzll(x)) / BITS : 0;
	s = (unsigned)(e >> (lvl * BITS)) & (SLOTS - 1);

	list_append(&w->slot[lvl][s], &tmr->le, tmr);
	occ_set(w, lvl, s);
}


/* Takes a pending timer out of its slot. */
static void unplace(struct wheel *w, struct tmr *tmr)
{
	struct list *l = tmr->le.list;
	const uintptr_t off = (uintptr_t)l - (uintptr_t)slot_base(w);

	list_unlink(&tmr->le);

	if (off < sizeof(w->slot)) {
		const size_t i = off / sizeof(struct list);

		if (list_isempty(l))
			occ_clear(w, (unsigned)(i / SLOTS),
				  (unsigned)(i % SLOTS));
		--w->st.pending;
	}
	else if (l == &w->overflow) {
		--w->st.pending;
	}
	else if (l) {
		/* On another thread's wheel: a contract violation (see
		 * timer.h). The unlink above is what libre would have done;
		 * that wheel's counters are not ours to touch. */
		++w->st.foreign;
	}
}


static void wheel_destroy(void *arg)
{
	struct wheel *w = arg;
	struct le *le;
	unsigned i;

	if (!w)
		return;

	/* Detach what is still pending, so that an owner freeing its timer
	 * later (tmr_cancel on a stopped timer) touches nothing freed. */
	for (i = 0; i <= LEVELS * SLOTS; i++) {
		struct list *l = i < LEVELS * SLOTS ? &slot_base(w)[i]
						    : &w->overflow;

		while ((le = l->head)) {
			struct tmr *tmr = le->data;

			list_unlink(le);
			tmr->th = NULL;
		}
	}

	if (tls_wheel == w)
		tls_wheel = NULL;

	free(w);
}


static int phdr_find(struct dl_phdr_info *info, size_t size, void *arg)
{
	const uintptr_t target = (uintptr_t)arg;
	int i;

	(void)size;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;

		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_memsz;
		if (target >= lo && target < hi) {
			libre_text_lo = lo;
			libre_text_hi = hi;
			return 1;
		}
	}

	return 0;
}


static void wheel_once_init(void)
{
	/* The next definition after ours in lookup order is libre's. */
	void *libre_start = dlsym(RTLD_NEXT, "tmr_start");

	(void)pthread_key_create(&wheel_key, wheel_destroy);

	if (libre_start)
		(void)dl_iterate_phdr(phdr_find, libre_start);
}


static struct wheel *wheel_get(void)
{
	struct wheel *w = tls_wheel;

	if (w)
		return w;

	(void)pthread_once(&wheel_once, wheel_once_init);

	w = calloc(1, sizeof(*w));
	if (!w) {
		/* libre's timer API cannot report failure; a timer that
		 * silently never fires would be worse than stopping. */
		(void)re_fprintf(stderr, "redum: no memory for timer wheel\n");
		abort();
	}

	w->cur = mono_ms();
	tls_wheel = w;
	(void)pthread_setspecific(wheel_key, w);

	return w;
}


static void cascade(struct wheel *w, unsigned lvl, unsigned s)
{
	struct list *l = &w->slot[lvl][s];
	struct le *le;

	occ_clear(w, lvl, s);

	/* Every timer here expires inside the block cur just entered, so it
	 * lands on a lower level, never back in this list. Detach the chain
	 * at once, so a move touches only the timer moved (not its successor
	 * as list_unlink would), and fetch the next one meanwhile. */
	le = l->head;
	list_init(l);
	while (le) {
		struct le *next = le->next;

		if (next)
			__builtin_prefetch(next, 1);
		le->list = NULL;   /* detached: what list_unlink would leave */
		place(w, le->data);
		++w->st.cascaded;
		le = next;
	}
}


static void overflow_replace(struct wheel *w)
{
	uint32_t n = list_count(&w->overflow);

	/* Bounded by the count: some may go straight back to the tail. */
	while (n--) {
		struct le *le = w->overflow.head;

		list_unlink(le);
		place(w, le->data);
	}
}


/*
 * The earliest time >= cur at which the wheel has work: the expiry of the
 * first occupied level-0 slot (cur's own slot included), else the start of
 * the first occupied block of the lowest non-empty level, else the next
 * overflow boundary. Lower levels always come first: level L's blocks all
 * lie after cur's 64^L block, which holds every lower level's timers.
 * UINT64_MAX if nothing is pending.
 */
static uint64_t next_event(const struct wheel *w)
{
	const uint64_t cur = w->cur;
	unsigned lvl;

	for (lvl = 0; lvl < LEVELS; lvl++) {
		const unsigned sh = lvl * BITS;
		const unsigned i = (unsigned)(cur >> sh) & (SLOTS - 1);
		const unsigned s = occ_next(w, lvl, lvl ? i + 1 : i);

		if (s < SLOTS) {
			const uint64_t blk = ~((UINT64_C(1) << (sh + BITS)) - 1);

			return (cur & blk) | ((uint64_t)s << sh);
		}
	}

	if (!list_isempty(&w->overflow))
		return ((cur >> SPAN) + 1) << SPAN;

	return UINT64_MAX;
}


/* Moves cur forward to t, emptying the slots of the blocks it enters. */
static void advance(struct wheel *w, uint64_t t)
{
	const uint64_t old = w->cur;
	unsigned lvl;

	w->cur = t;

	if ((old >> SPAN) != (t >> SPAN))
		overflow_replace(w);

	for (lvl = LEVELS - 1; lvl >= 1; lvl--) {
		const unsigned sh = lvl * BITS;
		const unsigned s = (unsigned)(t >> sh) & (SLOTS - 1);

		if ((old >> sh) != (t >> sh) && occ_test(w, lvl, s))
			cascade(w, lvl, s);
	}
}


/* Fires level-0 slot s until it is empty: a handler may append to it (a
 * timer with the same expiry), and that timer fires after the others, as
 * in libre. */
static void fire_slot(struct wheel *w, unsigned s)
{
	struct list *l = &w->slot[0][s];
	struct le *le;

	while ((le = l->head)) {
		struct tmr *tmr = le->data;
		tmr_h *th = tmr->th;
		void *arg = tmr->arg;

		if (le->next)
			__builtin_prefetch(le->next, 1);

		tmr->th = NULL;
		list_unlink(le);
		if (list_isempty(l))
			occ_clear(w, 0, s);
		--w->st.pending;
		++w->st.fired;

		tls_in_libre = in_libre((uintptr_t)th);
		th(arg);
		tls_in_libre = false;
	}

	/* Normally clear already; not if another thread broke the contract
	 * and unlinked a timer of ours (a set bit on an empty slot would
	 * stall the wheel at this slot). */
	occ_clear(w, 0, s);
}


static void start(struct tmr *tmr, uint64_t delay, tmr_h *th, void *arg,
		  uintptr_t caller)
{
	struct wheel *w;
	uint64_t now;

	if (!tmr)
		return;

	/* Cancelling a stopped timer needs no wheel (destructors do this on
	 * threads that never run timers). */
	if (!tmr->th && !th) {
		tmr->arg = arg;
		return;
	}

	w = wheel_get();

	if (tmr->th) {
		unplace(w, tmr);
		++w->st.cancelled;
	}

	tmr->th  = th;
	tmr->arg = arg;

	if (!th)
		return;

	if (delay > REDUM_TMR_MAX_DELAY)
		delay = REDUM_TMR_MAX_DELAY;

	now = wheel_now(w);
	tmr->jfs = now + delay;

	++w->st.started;
	++w->st.pending;
	if (in_libre(caller))
		++w->st.started_by_libre;

	place(w, tmr);
}


/* ---- libre's API (re_tmr.h) ---- */


void tmr_start(struct tmr *tmr, uint64_t delay, tmr_h *th, void *arg)
{
	start(tmr, delay, th, arg, (uintptr_t)__builtin_return_address(0));
}


void tmr_cancel(struct tmr *tmr)
{
	start(tmr, 0, NULL, NULL, 0);
}


void tmr_init(struct tmr *tmr)
{
	if (!tmr)
		return;

	memset(tmr, 0, sizeof(*tmr));
}


uint64_t tmr_jiffies(void)
{
	const struct wheel *w = tls_wheel;

	return w ? wheel_now(w) : mono_ms();
}


uint64_t tmr_get_expire(const struct tmr *tmr)
{
	uint64_t now;

	if (!tmr || !tmr->th)
		return 0;

	now = tmr_jiffies();

	return tmr->jfs > now ? tmr->jfs - now : 0;
}


/* libre passes its own per-thread list; the wheel is the calling thread's. */
void tmr_poll(struct list *tmrl)
{
	struct wheel *w = tls_wheel;
	uint64_t now;

	(void)tmrl;

	if (!w)
		return;

	/* Like libre, fire what is due at entry, including timers that
	 * handlers start during this poll with an expiry up to then. */
	now = wheel_now(w);
	if (now < w->cur)
		return;

	for (;;) {
		uint64_t t;

		fire_slot(w, (unsigned)w->cur & (SLOTS - 1));

		if (w->cur >= now)
			break;

		t = next_event(w);
		if (t > now) {
			/* Nothing to do up to now: no occupied block is
			 * entered, so cur can jump. */
			w->cur = now;
			break;
		}

		if (t <= w->cur)   /* cannot happen: cur's slot is empty */
			break;

		advance(w, t);
	}
}


uint64_t tmr_next_timeout(struct list *tmrl)
{
	const struct wheel *w = tls_wheel;
	uint64_t t, now;

	(void)tmrl;

	/* re_main is about to wait: what the round held back goes now */
	if (tls_idleh)
		tls_idleh(tls_idle_arg);

	if (!w || !w->st.pending)
		return 0;

	t = next_event(w);
	if (t == UINT64_MAX)
		return 0;

	now = wheel_now(w);
	if (t <= now)
		return 1;

	return (t - now) < REDUM_TMR_MAX_WAIT ? t - now : REDUM_TMR_MAX_WAIT;
}


int tmr_status(struct re_printf *pf, void *unused)
{
	struct wheel *w = tls_wheel;
	uint32_t n, shown = 0;
	unsigned i;
	int err;

	(void)unused;

	n = w ? w->st.pending : 0;
	if (!n)
		return 0;

	err = re_hprintf(pf, "Timers (%u):\n", n);

	/* Roughly in expiry order: level by level, slots from cur on. */
	for (i = 0; i <= LEVELS * SLOTS && shown < STATUS_MAX; i++) {
		const struct list *l;
		struct le *le;

		if (i < LEVELS * SLOTS) {
			const unsigned lvl = i / SLOTS;
			const unsigned c = (unsigned)(w->cur >> (lvl * BITS));

			l = &w->slot[lvl][(c + i) % SLOTS];
		}
		else {
			l = &w->overflow;
		}

		for (le = l->head; le && shown < STATUS_MAX; le = le->next) {
			const struct tmr *tmr = le->data;

			err |= re_hprintf(pf, "  %p: th=%p expire=%llums\n",
					  tmr, tmr->th,
					  (unsigned long long)
					  tmr_get_expire(tmr));
			++shown;
		}
	}

	if (n > shown)
		err |= re_hprintf(pf, "    (Dumped Timers: %u of %u)\n",
				  shown, n);

	return err;
}


void tmr_debug(void)
{
	const struct wheel *w = tls_wheel;

	if (w && w->st.pending)
		(void)re_fprintf(stderr, "%H", tmr_status, NULL);
}


/* ---- redum's own API ---- */


/* Local aliases of our definitions: they bind inside this object, so
 * comparing them with what dlsym(RTLD_DEFAULT) finds tells whether ours
 * are the process-wide ones. */
#define SELF(name) \
	extern __typeof__(name) redum_self_##name \
		__attribute__((alias(#name), visibility("hidden")))

SELF(tmr_start);
SELF(tmr_cancel);
SELF(tmr_init);
SELF(tmr_jiffies);
SELF(tmr_get_expire);
SELF(tmr_poll);
SELF(tmr_next_timeout);
SELF(tmr_status);
SELF(tmr_debug);


bool redum_tmr_wheel_active(void)
{
	static const struct {
		const char *name;
		void *self;
	} syms[] = {
		{"tmr_start",        (void *)redum_self_tmr_start},
		{"tmr_cancel",       (void *)redum_self_tmr_cancel},
		{"tmr_init",         (void *)redum_self_tmr_init},
		{"tmr_jiffies",      (void *)redum_self_tmr_jiffies},
		{"tmr_get_expire",   (void *)redum_self_tmr_get_expire},
		{"tmr_poll",         (void *)redum_self_tmr_poll},
		{"tmr_next_timeout", (void *)redum_self_tmr_next_timeout},
		{"tmr_status",       (void *)redum_self_tmr_status},
		{"tmr_debug",        (void *)redum_self_tmr_debug},
	};
	static int active = -1;   /* resolved once; benign if raced */
	size_t i;
	int a;

	a = __atomic_load_n(&active, __ATOMIC_RELAXED);
	if (a >= 0)
		return a;

	a = 1;
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if (dlsym(RTLD_DEFAULT, syms[i].name) != syms[i].self)
			a = 0;
	}

	__atomic_store_n(&active, a, __ATOMIC_RELAXED);

	return a;
}


void redum_tmr_wheel_stats(struct redum_tmr_stats *st)
{
	const struct wheel *w = tls_wheel;

	if (!st)
		return;

	if (w)
		*st = w->st;
	else
		memset(st, 0, sizeof(*st));
}


void redum_loop_set_idle(redum_loop_idle_h *h, void *arg)
{
	tls_idleh    = h;
	tls_idle_arg = arg;
}


int redum_tmr_wheel_set_clock(redum_tmr_clock_h *clockh, void *arg)
{
	struct wheel *w = wheel_get();

	if (w->st.pending)
		return EBUSY;

	memset(w->occ, 0, sizeof(w->occ));
	w->clockh = clockh;
	w->clock_arg = arg;
	w->cur = wheel_now(w);

	return 0;
}


bool redum_tmr_in_libre_handler(void)
{
	return tls_in_libre;
}
