/**
 * @file fifo.c  Message FIFO between threads: bounded ring + eventfd doorbell
 *
 * Rings. SPSC uses ck_ring (ck_ring_enqueue_spsc / ck_ring_dequeue_spsc):
 * wait-free on both sides. MPSC does NOT use ck_ring's MP enqueue: that one
 * reserves a slot with a CAS, writes it, then waits (spinning) until every
 * producer that reserved before it has published, because it publishes by
 * advancing a single p_tail in ticket order. A producer preempted between
 * reserve and publish therefore stalls all the others; with more producer
 * threads than cores (4 producers on the 2-core box) the stress test ran at
 * ~60k messages/s with all producers spinning behind one descheduled thread,
 * yielding in the wait did not help (the waiters hold tickets themselves).
 * MPSC is instead a bounded ring with a sequence number per slot (D. Vyukov's
 * bounded queue, single consumer): a producer CASes the tail, writes its
 * slot and publishes that slot alone, so producers never wait for each
 * other (lock-free); a preempted producer only delays the consumer's view of
 * its own message and those behind it (FIFO order is the order of the CAS).
 * It is written with C11 atomics, which TSan understands without help.
 *
 * Layout: the ring indexes (ck_ring keeps its consumer index and producer
 * indexes on separate cache lines), then one cache line written only by
 * producers (MPSC: with the tail they CAS), one holding the `armed` flag
 * (written by the consumer when it is about to sleep and by the producer
 * that takes it back), and one written only by the consumer. A push touches
 * the consumer's lines only through the ring itself (and, MPSC, a read of
 * the head for the high-water mark).
 *
 * Wake-up protocol (a Dekker handshake on two locations):
 *
 *   consumer, ring found empty:       producer, after a successful enqueue:
 *     spin on the ring a moment          (publish the slot)
 *     read(eventfd): reset the doorbell  full fence
 *     armed = 1                          if armed && xchg(armed, 0) == 1:
 *     full fence                             write(eventfd)
 *     re-check ring (and close state)
 *     empty -> return to the loop
 *
 * With a full fence on each side, either the consumer's re-check sees the new
 * message or the producer sees armed == 1; both may happen (an extra wake that
 * finds nothing), neither cannot (no lost wake-up). Producers ring only while
 * the consumer is armed, and only the one that takes the flag rings, so a
 * busy consumer costs its producers no system call at all. The consumer
 * resets the doorbell only on its way to sleep, never while busy: at the
 * batch bound it returns to its loop with the doorbell still readable, so
 * the loop comes straight back after serving its other fds and timers.
 *
 * Close: `state` holds the CLOSED bit and, for MPSC, the number of producers
 * inside push. A producer that increments it before the close is let in and
 * the consumer will not run the final message until it has left; one that
 * increments it after sees CLOSED and gets EPIPE. The consumer runs the final
 * message when the ring is empty and state == CLOSED exactly. Whoever makes
 * that condition true (close(), the last producer leaving) rings the doorbell
 * if the consumer is armed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <ck_ring.h>
#include <re.h>

#include "redum/fifo.h"

/*
 * TSan (SPSC only; the MPSC ring is plain C11 atomics): ck_pr's loads, stores
 * and CAS are inline assembly on x86_64, so
 * TSan sees neither the ring's synchronisation nor (correctly) any order
 * between the producer's slot write and the consumer's slot read. We hide
 * ck_ring's own memory accesses from it (they are ck's business, proven
 * elsewhere) and state the hand-over it performs instead: the producer
 * releases on the ring before the enqueue, the consumer acquires after a
 * successful dequeue. Everything the producer did to a message before
 * pushing it thus happens-before everything the consumer does with it.
 */
#ifdef REDUM_TSAN
#include <sanitizer/tsan_interface.h>
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define FIFO_TSAN_RELEASE(a) __tsan_release(a)
#define FIFO_TSAN_ACQUIRE(a) __tsan_acquire(a)
#define FIFO_TSAN_IGNORE_BEGIN()                                             \
	do {                                                                 \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__);               \
	} while (0)
#define FIFO_TSAN_IGNORE_END()                                               \
	do {                                                                 \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                 \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                  \
	} while (0)
#else
#define FIFO_TSAN_RELEASE(a) ((void)(a))
#define FIFO_TSAN_ACQUIRE(a) ((void)(a))
#define FIFO_TSAN_IGNORE_BEGIN() ((void)0)
#define FIFO_TSAN_IGNORE_END() ((void)0)
#endif

enum {
	FIFO_CACHELINE = 64,
	FIFO_DEFAULT_BATCH = 256,
	FIFO_SPIN_NS = 2000,      /* default look before sleeping */
};

/* state: bit 31 = closed, bits 0..30 = producers inside push (MPSC). */
#define FIFO_CLOSED 0x80000000u

/* MPSC slot: seq == pos: free for the producer of position pos;
 * seq == pos + 1: holds that position's message; the consumer frees it for
 * the next lap with seq = pos + size. */
struct mpsc_slot {
	_Atomic uint32_t seq;
	void *msg;
};

struct redum_fifo {
	/* Written at alloc/attach, then only read. */
	struct ck_ring_buffer *buf;   /* SPSC */
	struct mpsc_slot *slots;      /* MPSC */
	uint32_t mask;                /* MPSC: ring size - 1 */
	enum redum_fifo_mode mode;
	uint32_t capacity;            /* what really fits */
	int efd;
	redum_fifo_msg_h *msgh;
	redum_fifo_close_h *closeh;
	void *arg;
	uint32_t batch;
	uint32_t spin_ns;         /* redum_fifo_set_spin() */
	bool on_libre;            /* attach() (fd_listen) vs attach_manual() */
	pthread_t consumer;       /* valid once `attached` is set */
	atomic_bool attaching;    /* claims the consumer role (EALREADY) */
	atomic_bool attached;

	/* SPSC: c_head | p_tail,p_head | size,mask: three lines of their own. */
	alignas(FIFO_CACHELINE) struct ck_ring ring;

	/* Producer side. SPSC: single writer, plain load+store; MPSC: RMW.
	 * MPSC producers CAS `tail` and RMW `state` on every push: one
	 * contended line rather than two. */
	alignas(FIFO_CACHELINE) _Atomic uint32_t state;
	_Atomic uint32_t tail;        /* MPSC: next position to reserve */
	_Atomic uint32_t high_water;
	_Atomic uint64_t enqueued;
	_Atomic uint64_t rejected_full;
	_Atomic uint64_t rejected_closed;
	_Atomic uint64_t doorbells;

	/* 1 while the consumer may be asleep on the doorbell. */
	alignas(FIFO_CACHELINE) _Atomic uint32_t armed;

	/* Consumer side: single writer. */
	alignas(FIFO_CACHELINE) _Atomic uint32_t head; /* MPSC, for others */
	uint32_t chead;           /* MPSC: the consumer's own copy */
	uint32_t spin_cur;        /* adaptive spin budget (fifo_spin) */
	bool done;                /* final message delivered */
	_Atomic uint64_t dequeued;
	_Atomic uint64_t self_rings;
	_Atomic uint64_t wakes;

	/* Joiners; `finished` is set under mtx as the consumer's last act. */
	alignas(FIFO_CACHELINE) atomic_bool finished;
	pthread_mutex_t mtx;
	pthread_cond_t cond;
};


/* Single-writer counter: no RMW needed, readers only want a snapshot. */
static inline void counter_inc1(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
			      + 1, memory_order_relaxed);
}


static inline void counter_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}


/*
 * The StoreLoad fence of the wake-up handshake. GCC 12 warns that TSan does
 * not model standalone fences (-Wtsan); TSan gets its happens-before from the
 * annotations and the atomics instead, so the warning is silenced there.
 */
static inline void fifo_fence(void)
{
#if defined(REDUM_TSAN) && defined(__GNUC__) && !defined(__clang__) && \
	__GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
	atomic_thread_fence(memory_order_seq_cst);
#if defined(REDUM_TSAN) && defined(__GNUC__) && !defined(__clang__) && \
	__GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
}


/* Consumer's view: nothing it could dequeue now. */
static inline bool ring_empty(struct redum_fifo *fifo)
{
	const struct mpsc_slot *slot;

	if (fifo->mode == REDUM_FIFO_SPSC)
		return ck_ring_size(&fifo->ring) == 0;

	slot = &fifo->slots[fifo->chead & fifo->mask];

	return atomic_load_explicit(&slot->seq, memory_order_acquire) !=
		fifo->chead + 1;
}


/* Any thread: messages in the ring (a snapshot; MPSC counts reserved
 * slots whose producer is still writing). */
static uint32_t ring_depth(const struct redum_fifo *fifo)
{
	uint32_t head, tail;

	if (fifo->mode == REDUM_FIFO_SPSC)
		return ck_ring_size(&fifo->ring);

	head = atomic_load_explicit(&fifo->head, memory_order_relaxed);
	tail = atomic_load_explicit(&fifo->tail, memory_order_relaxed);
	if ((int32_t)(tail - head) <= 0)
		return 0;

	return tail - head > fifo->capacity ? fifo->capacity : tail - head;
}


static void efd_write(int efd)
{
	const uint64_t one = 1;

	/* Fails only if the counter would overflow (2^64 - 2 pending
	 * rings): the doorbell is then readable anyway. */
	if (write(efd, &one, sizeof(one)) < 0)
		return;
}


/* Caller has issued a full fence since publishing its change. */
static void ring_if_armed(struct redum_fifo *fifo)
{
	/* Cheap test first: armed is 0 whenever the consumer is busy. */
	if (!atomic_load_explicit(&fifo->armed, memory_order_relaxed))
		return;

	/* Only the one that takes the flag rings: wakes coalesce. */
	if (atomic_exchange_explicit(&fifo->armed, 0, memory_order_acq_rel)) {
		efd_write(fifo->efd);
		counter_add(&fifo->doorbells, 1);
	}
}


static void fifo_destroy(struct redum_fifo *fifo)
{
	if (fifo->efd >= 0)
		(void)close(fifo->efd);
	pthread_cond_destroy(&fifo->cond);
	pthread_mutex_destroy(&fifo->mtx);
	free(fifo->buf);
	free(fifo->slots);
	free(fifo);
}


int redum_fifo_alloc(struct redum_fifo **fifop, enum redum_fifo_mode mode,
		     uint32_t capacity)
{
	struct redum_fifo *fifo;
	void *mem = NULL;
	uint32_t size = 1, i;
	size_t slotsz;
	int err = 0;

	if (!fifop || capacity == 0 || capacity > (1u << 30) ||
	    (mode != REDUM_FIFO_SPSC && mode != REDUM_FIFO_MPSC))
		return EINVAL;

	/* ck_ring of size N holds N - 1 entries; the MPSC ring holds N. */
	while (size < (mode == REDUM_FIFO_SPSC ? capacity + 1 : capacity))
		size <<= 1;
	/* Both need 2 slots: with one, the MPSC ring could not tell "holds
	 * position p" (seq p + 1) from "free for position p + 1". */
	if (size < 2)
		size = 2;

	/* Cache-line alignment is the point of the layout, which
	 * mem_zalloc's header would break: plain aligned allocation. */
	if (posix_memalign(&mem, FIFO_CACHELINE, sizeof(*fifo)))
		return ENOMEM;
	fifo = mem;
	memset(fifo, 0, sizeof(*fifo));
	fifo->efd = -1;

	err = pthread_mutex_init(&fifo->mtx, NULL);
	if (err) {
		free(fifo);
		return err;
	}
	err = pthread_cond_init(&fifo->cond, NULL);
	if (err) {
		pthread_mutex_destroy(&fifo->mtx);
		free(fifo);
		return err;
	}

	slotsz = mode == REDUM_FIFO_SPSC ? sizeof(struct ck_ring_buffer)
		: sizeof(struct mpsc_slot);
	mem = NULL;
	if (posix_memalign(&mem, FIFO_CACHELINE, size * slotsz)) {
		err = ENOMEM;
		goto out;
	}
	memset(mem, 0, size * slotsz);

	if (mode == REDUM_FIFO_SPSC) {
		fifo->buf = mem;
		ck_ring_init(&fifo->ring, size);
		fifo->capacity = size - 1;
	}
	else {
		fifo->slots = mem;
		for (i = 0; i < size; ++i)
			atomic_init(&fifo->slots[i].seq, i);
		fifo->mask = size - 1;
		fifo->capacity = size;
	}

	fifo->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fifo->efd < 0) {
		err = errno;
		goto out;
	}

	fifo->mode = mode;
	fifo->batch = FIFO_DEFAULT_BATCH;
	fifo->spin_ns = FIFO_SPIN_NS;
	fifo->spin_cur = FIFO_SPIN_NS;

 out:
	if (err)
		fifo_destroy(fifo);
	else
		*fifop = fifo;

	return err;
}


int redum_fifo_free(struct redum_fifo *fifo)
{
	bool finished;

	if (!fifo)
		return 0;

	/* Taking the mutex waits for the consumer to leave fifo_finish(),
	 * whose unlock is its last access to the FIFO. */
	pthread_mutex_lock(&fifo->mtx);
	finished = atomic_load_explicit(&fifo->finished, memory_order_acquire);
	pthread_mutex_unlock(&fifo->mtx);

	if (atomic_load_explicit(&fifo->attached, memory_order_acquire) &&
	    !finished)
		return EBUSY;

	/* Messages still in the ring are owned by nobody we could ask. */
	if (ring_depth(fifo))
		return EBUSY;

	fifo_destroy(fifo);

	return 0;
}


/* The final message, then release the joiners. Consumer thread. */
static void fifo_finish(struct redum_fifo *fifo)
{
	fifo->done = true;
	atomic_store_explicit(&fifo->armed, 0, memory_order_relaxed);

	if (fifo->closeh)
		fifo->closeh(fifo->arg);

	if (fifo->on_libre)
		fd_close(fifo->efd);

	/* Last access: after the unlock, free() may run at any moment. */
	pthread_mutex_lock(&fifo->mtx);
	atomic_store_explicit(&fifo->finished, true, memory_order_release);
	pthread_cond_broadcast(&fifo->cond);
	pthread_mutex_unlock(&fifo->mtx);
}


static inline bool fifo_dequeue(struct redum_fifo *fifo, void **msgp)
{
	struct mpsc_slot *slot;
	uint32_t head;
	bool ok;

	if (fifo->mode == REDUM_FIFO_SPSC) {
		FIFO_TSAN_IGNORE_BEGIN();
		ok = ck_ring_dequeue_spsc(&fifo->ring, fifo->buf, msgp);
		FIFO_TSAN_IGNORE_END();
		if (ok)
			FIFO_TSAN_ACQUIRE(&fifo->ring);

		return ok;
	}

	head = fifo->chead;
	slot = &fifo->slots[head & fifo->mask];
	if (atomic_load_explicit(&slot->seq, memory_order_acquire) != head + 1)
		return false;   /* empty, or its producer is still writing */

	*msgp = slot->msg;
	fifo->chead = head + 1;
	/* head before the slot's release, so a producer that gets the slot
	 * sees a head that bounds its depth by the ring size. */
	atomic_store_explicit(&fifo->head, head + 1, memory_order_relaxed);
	atomic_store_explicit(&slot->seq, head + fifo->mask + 1,
			      memory_order_release);

	return true;
}


static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}


static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


/*
 * The ring just went empty: before paying for a sleep (reset the doorbell,
 * a producer's eventfd write, the loop's epoll_wait and its wake-up: four
 * system calls and two context switches, 10+ us on a paravirtualised VM),
 * watch it for a moment. Under a steady stream the next message is
 * typically there within a few hundred ns; this is what keeps a busy FIFO
 * from costing a doorbell every few dozen messages (docs/BENCHMARKS.md).
 *
 * Adaptive, because a spin that finds nothing is pure loss, and worse than
 * that on an oversubscribed box, where it holds the very core the peer
 * needs to answer (measured: ping-pong twice as slow with a fixed 2 us
 * spin under load). After a spin that found nothing the budget halves
 * (down to spin_ns / 16, so it keeps probing), after one that found a
 * message it doubles (up to spin_ns).
 */
static bool fifo_spin(struct redum_fifo *fifo)
{
	uint64_t deadline;
	unsigned i;

	if (!fifo->spin_ns)
		return false;

	deadline = mono_ns() + fifo->spin_cur;
	for (i = 1;; ++i) {
		if (!ring_empty(fifo)) {
			fifo->spin_cur = fifo->spin_cur * 2 > fifo->spin_ns ?
				fifo->spin_ns : fifo->spin_cur * 2;
			return true;
		}
		cpu_relax();
		if (i % 8 == 0 && mono_ns() >= deadline)
			break;
	}

	fifo->spin_cur /= 2;
	if (fifo->spin_cur < fifo->spin_ns / 16)
		fifo->spin_cur = fifo->spin_ns / 16;

	return false;
}


/*
 * The consumer. @p hot: the doorbell is known to be readable (we were
 * called by the loop for it and have not reset it yet).
 *
 * The doorbell is reset only right before arming, not on entry: while the
 * consumer is busy it stays readable, so returning at the batch bound costs
 * one epoll_wait that returns at once instead of write + epoll_wait + read.
 */
static uint32_t fifo_drain(struct redum_fifo *fifo, bool hot)
{
	const uint32_t batch = fifo->batch;
	uint32_t n = 0;
	uint64_t val;
	void *msg;

	if (fifo->done)
		return 0;

	counter_inc1(&fifo->wakes);

	/* We are awake: producers need not ring (a system call each) until
	 * we arm again. If a producer took the flag first it rings, which
	 * costs one spurious wake later and nothing else. */
	if (atomic_load_explicit(&fifo->armed, memory_order_relaxed))
		atomic_exchange_explicit(&fifo->armed, 0,
					 memory_order_relaxed);

	for (;;) {
		uint32_t st;

		while (n < batch && fifo_dequeue(fifo, &msg)) {
			++n;
			counter_inc1(&fifo->dequeued);
			fifo->msgh(msg, fifo->arg);
		}

		if (n >= batch && !ring_empty(fifo)) {
			/* Batch bound: let the loop serve its other fds and
			 * timers. It comes back here only if the doorbell is
			 * readable: it still is if hot, else ring it. */
			if (!hot)
				efd_write(fifo->efd);
			counter_inc1(&fifo->self_rings);
			return n;
		}

		if (fifo_spin(fifo))
			continue;

		/* Going to sleep. Reset the doorbell first: any ring after
		 * this read is for a message we might not see below, so it
		 * must stay. Then arm, then re-check (file comment). */
		if (read(fifo->efd, &val, sizeof(val)) < 0) {
			/* EAGAIN: it was not rung. */
		}
		hot = false;
		atomic_store_explicit(&fifo->armed, 1, memory_order_relaxed);
		fifo_fence();

		if (!ring_empty(fifo))
			goto rearm;

		st = atomic_load_explicit(&fifo->state, memory_order_acquire);
		if (st != FIFO_CLOSED)
			return n;   /* open, or producers still inside push */

		/* Closed and no producer inside push: the acquire above
		 * orders their enqueues before this last look. */
		if (!ring_empty(fifo))
			goto rearm;

		fifo_finish(fifo);
		return n;

	rearm:
		/* Messages came: take the flag back so nobody rings. */
		atomic_exchange_explicit(&fifo->armed, 0, memory_order_relaxed);
	}
}


static void fifo_fd_handler(int flags, void *arg)
{
	(void)fifo_drain(arg, (flags & FD_READ) != 0);
}


static int fifo_attach(struct redum_fifo *fifo, redum_fifo_msg_h *msgh,
		       redum_fifo_close_h *closeh, void *arg, uint32_t batch,
		       bool on_libre)
{
	bool expected = false;
	int err;

	if (!fifo || !msgh)
		return EINVAL;

	if (!atomic_compare_exchange_strong(&fifo->attaching, &expected,
					    true))
		return EALREADY;

	fifo->msgh = msgh;
	fifo->closeh = closeh;
	fifo->arg = arg;
	fifo->batch = batch ? batch : FIFO_DEFAULT_BATCH;
	fifo->on_libre = on_libre;
	fifo->consumer = pthread_self();

	if (on_libre) {
		err = fd_listen(fifo->efd, FD_READ, fifo_fd_handler, fifo);
		if (err) {
			atomic_store(&fifo->attaching, false);
			return err;
		}
	}

	atomic_store_explicit(&fifo->attached, true, memory_order_release);

	/* Producers that pushed (or closed) before now did not ring, nobody
	 * being armed: ring once so the first poll delivers their messages. */
	efd_write(fifo->efd);

	return 0;
}


int redum_fifo_attach(struct redum_fifo *fifo, redum_fifo_msg_h *msgh,
		      redum_fifo_close_h *closeh, void *arg, uint32_t batch)
{
	return fifo_attach(fifo, msgh, closeh, arg, batch, true);
}


int redum_fifo_attach_manual(struct redum_fifo *fifo, redum_fifo_msg_h *msgh,
			     redum_fifo_close_h *closeh, void *arg,
			     uint32_t batch)
{
	return fifo_attach(fifo, msgh, closeh, arg, batch, false);
}


void redum_fifo_set_spin(struct redum_fifo *fifo, uint32_t spin_ns)
{
	if (!fifo)
		return;

	fifo->spin_ns = spin_ns;
	fifo->spin_cur = spin_ns;
}


int redum_fifo_fd(const struct redum_fifo *fifo)
{
	return fifo ? fifo->efd : -1;
}


uint32_t redum_fifo_drain(struct redum_fifo *fifo)
{
	if (!fifo || !atomic_load_explicit(&fifo->attached,
					   memory_order_relaxed))
		return 0;

	/* The caller may call us without a poll: the doorbell's state is
	 * unknown, so the batch bound rings it. */
	return fifo_drain(fifo, false);
}


static int push_spsc(struct redum_fifo *fifo, void *msg, bool wake)
{
	unsigned int size;
	uint32_t depth;
	bool ok;

	/* Close comes from this thread or after it stopped (see the
	 * header), so no producer can be inside push during a close and a
	 * plain load of the flag suffices: no RMW on the fast path. */
	if (atomic_load_explicit(&fifo->state, memory_order_relaxed) &
	    FIFO_CLOSED) {
		counter_add(&fifo->rejected_closed, 1);
		return EPIPE;
	}

	FIFO_TSAN_RELEASE(&fifo->ring);
	FIFO_TSAN_IGNORE_BEGIN();
	ok = ck_ring_enqueue_spsc_size(&fifo->ring, fifo->buf, msg, &size);
	FIFO_TSAN_IGNORE_END();
	if (!ok) {
		counter_add(&fifo->rejected_full, 1);
		return ENOSPC;
	}

	counter_inc1(&fifo->enqueued);
	depth = size + 1;
	if (depth > atomic_load_explicit(&fifo->high_water,
					 memory_order_relaxed))
		atomic_store_explicit(&fifo->high_water, depth,
				      memory_order_relaxed);

	if (wake) {
		fifo_fence();
		ring_if_armed(fifo);
	}

	return 0;
}


/* A producer leaves push; the last one out after a close may be what the
 * consumer waits for before its final message. */
static void mpsc_leave(struct redum_fifo *fifo)
{
	uint32_t old;

	old = atomic_fetch_sub_explicit(&fifo->state, 1,
					memory_order_seq_cst);
	if (old == (FIFO_CLOSED | 1u)) {
		fifo_fence();
		ring_if_armed(fifo);
	}
}


/*
 * MPSC enqueue (bounded ring with per-slot sequence numbers). Lock-free: a
 * failed CAS means another producer succeeded. The acquire on the slot's
 * seq pairs with the consumer's release when it freed the slot, so its read
 * of the previous message happens before our write.
 */
static bool mpsc_enqueue(struct redum_fifo *fifo, void *msg, uint32_t *depthp)
{
	struct mpsc_slot *slot;
	uint32_t pos, seq;
	int32_t dif;

	pos = atomic_load_explicit(&fifo->tail, memory_order_relaxed);
	for (;;) {
		slot = &fifo->slots[pos & fifo->mask];
		seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
		dif = (int32_t)(seq - pos);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &fifo->tail, &pos, pos + 1,
				    memory_order_relaxed,
				    memory_order_relaxed))
				break;
		}
		else if (dif < 0) {
			/* Still holds the message from one lap ago. */
			return false;
		}
		else {
			/* Another producer took this position. */
			pos = atomic_load_explicit(&fifo->tail,
						   memory_order_relaxed);
		}
	}

	slot->msg = msg;
	atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);

	dif = (int32_t)(pos + 1 - atomic_load_explicit(&fifo->head,
						       memory_order_relaxed));
	*depthp = dif > 0 ? (uint32_t)dif : 0;

	return true;
}


static int push_mpsc(struct redum_fifo *fifo, void *msg, bool wake)
{
	uint32_t depth, hw, old;
	bool ok;

	old = atomic_fetch_add_explicit(&fifo->state, 1, memory_order_seq_cst);
	/* Count before leaving: once the last producer left, the consumer
	 * may finish and a joiner read final counters. */
	if (old & FIFO_CLOSED) {
		counter_add(&fifo->rejected_closed, 1);
		mpsc_leave(fifo);
		return EPIPE;
	}

	ok = mpsc_enqueue(fifo, msg, &depth);
	if (!ok) {
		counter_add(&fifo->rejected_full, 1);
		mpsc_leave(fifo);
		return ENOSPC;
	}

	counter_add(&fifo->enqueued, 1);
	hw = atomic_load_explicit(&fifo->high_water, memory_order_relaxed);
	while (depth > hw &&
	       !atomic_compare_exchange_weak_explicit(&fifo->high_water, &hw,
						      depth,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;

	/* Leaving after the enqueue keeps the consumer from running the
	 * final message before this one. mpsc_leave() rings if we were the
	 * last one in after a close; the normal doorbell follows. */
	mpsc_leave(fifo);
	if (wake) {
		fifo_fence();
		ring_if_armed(fifo);
	}

	return 0;
}


int redum_fifo_push(struct redum_fifo *fifo, void *msg)
{
	if (!fifo)
		return EINVAL;

	if (fifo->mode == REDUM_FIFO_SPSC)
		return push_spsc(fifo, msg, true);

	return push_mpsc(fifo, msg, true);
}


int redum_fifo_push_nowake(struct redum_fifo *fifo, void *msg)
{
	if (!fifo)
		return EINVAL;

	if (fifo->mode == REDUM_FIFO_SPSC)
		return push_spsc(fifo, msg, false);

	return push_mpsc(fifo, msg, false);
}


/*
 * The deferred half of a push: the Dekker handshake (file comment) only
 * needs the producer's fence and look at `armed` to come after its
 * enqueue, not right after it. A consumer that armed in between either saw
 * the message in its re-check, or is rung here.
 */
void redum_fifo_wake(struct redum_fifo *fifo)
{
	if (!fifo)
		return;

	fifo_fence();
	ring_if_armed(fifo);
}


int redum_fifo_close(struct redum_fifo *fifo)
{
	uint32_t old;

	if (!fifo)
		return EINVAL;

	old = atomic_fetch_or_explicit(&fifo->state, FIFO_CLOSED,
				       memory_order_seq_cst);
	if (old & FIFO_CLOSED)
		return EALREADY;

	fifo_fence();
	ring_if_armed(fifo);

	return 0;
}


int redum_fifo_join(struct redum_fifo *fifo)
{
	if (!fifo)
		return EINVAL;

	if (atomic_load_explicit(&fifo->attached, memory_order_acquire) &&
	    pthread_equal(fifo->consumer, pthread_self()))
		return EDEADLK;

	pthread_mutex_lock(&fifo->mtx);
	while (!atomic_load_explicit(&fifo->finished, memory_order_relaxed))
		pthread_cond_wait(&fifo->cond, &fifo->mtx);
	pthread_mutex_unlock(&fifo->mtx);

	return 0;
}


bool redum_fifo_finished(const struct redum_fifo *fifo)
{
	if (!fifo)
		return false;

	return atomic_load_explicit(&fifo->finished, memory_order_acquire);
}


void redum_fifo_stats(const struct redum_fifo *fifo,
		      struct redum_fifo_stats *st)
{
	if (!fifo || !st)
		return;

	st->enqueued = atomic_load_explicit(&fifo->enqueued,
					    memory_order_relaxed);
	st->dequeued = atomic_load_explicit(&fifo->dequeued,
					    memory_order_relaxed);
	st->rejected_full = atomic_load_explicit(&fifo->rejected_full,
						 memory_order_relaxed);
	st->rejected_closed = atomic_load_explicit(&fifo->rejected_closed,
						   memory_order_relaxed);
	st->doorbells = atomic_load_explicit(&fifo->doorbells,
					     memory_order_relaxed);
	st->self_rings = atomic_load_explicit(&fifo->self_rings,
					      memory_order_relaxed);
	st->wakes = atomic_load_explicit(&fifo->wakes, memory_order_relaxed);
	st->depth = ring_depth(fifo);
	st->high_water = atomic_load_explicit(&fifo->high_water,
					      memory_order_relaxed);
	st->capacity = fifo->capacity;
}
