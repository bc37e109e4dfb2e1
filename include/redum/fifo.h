/**
 * @file fifo.h  Message FIFO between threads (lock-free, on ck_ring)
 *
 * Every thread boundary in redum is one of these: a bounded ring of pointers
 * with one consumer thread and one (SPSC) or many (MPSC) producer threads,
 * plus an eventfd doorbell that wakes the consumer's libre loop. SPSC is a
 * ck_ring; MPSC is a ring with a sequence number per slot, so producers
 * never wait for one another (ck_ring's MP enqueue publishes in ticket
 * order: see fifo/fifo.c for why it was not used).
 *
 * Ownership: a message is a pointer; a successful push hands the object it
 * points to over to the consumer. A failed push leaves it with the producer.
 * (libre's mem_ref/mem_deref are not atomic: never share, always hand over.)
 *
 * Wake-ups: the producer rings the doorbell only when the consumer has armed
 * it, i.e. when the consumer found the ring empty and may go to sleep. Wakes
 * coalesce; the consumer always drains until empty or until its per-wake
 * batch bound, and re-arms with a re-check so no wake is ever lost. Before
 * arming, the consumer watches the empty ring for a moment (default 2 us,
 * redum_fifo_set_spin()), so a steady stream costs no system call at all.
 *
 * Close (after Asterisk stasis): redum_fifo_close() makes later pushes fail
 * with EPIPE and makes the consumer receive exactly one final message (the
 * close handler) after every message whose push succeeded. Join waits until
 * that final message has been processed.
 *
 * Progress guarantees: push is lock-free (SPSC: wait-free); a producer
 * preempted inside push delays the delivery of its own message and of those
 * behind it, never another producer. Drain is wait-free per message (it
 * spins up to the spin time before returning to sleep); close is lock-free;
 * join blocks.
 *
 * Messages are opaque pointer values; NULL is a valid message.
 */
#ifndef REDUM_FIFO_H
#define REDUM_FIFO_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct redum_fifo;

/** Producer side: one producer thread, or any number. */
enum redum_fifo_mode {
	REDUM_FIFO_SPSC = 0, /**< exactly one producer thread at a time   */
	REDUM_FIFO_MPSC = 1, /**< any number of producer threads          */
};

/**
 * Handles one message, on the consumer thread. The handler owns @p msg.
 */
typedef void (redum_fifo_msg_h)(void *msg, void *arg);

/**
 * The final message, on the consumer thread, after every message pushed
 * before the close. Called exactly once. The consumer may free everything of
 * its own here; the FIFO itself stays valid until redum_fifo_free().
 */
typedef void (redum_fifo_close_h)(void *arg);

/** Counters; a snapshot, each value read atomically but not all together. */
struct redum_fifo_stats {
	uint64_t enqueued;      /**< successful pushes                         */
	uint64_t dequeued;      /**< messages handed to the message handler    */
	uint64_t rejected_full; /**< pushes refused with ENOSPC                */
	uint64_t rejected_closed; /**< pushes refused with EPIPE               */
	uint64_t doorbells;     /**< eventfd writes by producers (and close)   */
	uint64_t self_rings;    /**< times the batch bound sent the consumer
				     back to its loop with messages left (the
				     doorbell is left readable, or rung)    */
	uint64_t wakes;         /**< consumer passes: doorbell handler runs
				     (attach) or redum_fifo_drain() calls   */
	uint32_t depth;         /**< messages in the ring now                  */
	uint32_t high_water;    /**< most messages ever in the ring            */
	uint32_t capacity;      /**< most messages the ring can hold           */
};

/**
 * Allocates a FIFO that holds up to @p capacity messages.
 *
 * Thread: any. The FIFO is not yet attached to a consumer; pushes succeed
 * and wait in the ring until it is.
 *
 * @param fifop     receives the FIFO
 * @param mode      REDUM_FIFO_SPSC or REDUM_FIFO_MPSC
 * @param capacity  messages it must hold (1 .. 2^30; rounded up: SPSC to
 *                  2^n - 1, MPSC to 2^n >= 2; redum_fifo_stats() gives
 *                  the real capacity)
 * @return 0, EINVAL, ENOMEM, or an errno from eventfd()
 */
int redum_fifo_alloc(struct redum_fifo **fifop, enum redum_fifo_mode mode,
		     uint32_t capacity);

/**
 * Frees a FIFO. Refuses with EBUSY while it is attached and its final
 * message has not been processed (close + join first), or while it holds
 * messages. NULL is allowed (returns 0).
 *
 * Thread: any, once no producer or consumer uses it any more.
 */
int redum_fifo_free(struct redum_fifo *fifo);

/**
 * Makes the calling thread the consumer and registers the doorbell in that
 * thread's libre loop (fd_listen). Messages already in the ring are
 * delivered on the first loop iteration.
 *
 * Thread: the consumer thread, which must have a libre loop
 * (libre_init or re_thread_init). Call once.
 *
 * @param batch  most messages handled per wake (0 = default, 256), so one
 *               busy FIFO cannot starve the loop's other fds and timers
 * @return 0, EALREADY, or an errno from fd_listen
 */
int redum_fifo_attach(struct redum_fifo *fifo, redum_fifo_msg_h *msgh,
		      redum_fifo_close_h *closeh, void *arg, uint32_t batch);

/**
 * Like redum_fifo_attach() but without a libre loop: the consumer waits on
 * redum_fifo_fd() itself (poll/epoll) and calls redum_fifo_drain().
 *
 * Thread: the consumer thread. Call once.
 */
int redum_fifo_attach_manual(struct redum_fifo *fifo, redum_fifo_msg_h *msgh,
			     redum_fifo_close_h *closeh, void *arg,
			     uint32_t batch);

/** The doorbell (an eventfd, readable when there may be messages).
 *  Thread: any. */
int redum_fifo_fd(const struct redum_fifo *fifo);

/**
 * Sets the longest the consumer watches an empty ring before it arms the
 * doorbell and returns to sleep: 0 sleeps at once; the default is 2000 ns.
 * Spinning saves the sleep/wake round (four system calls, two context
 * switches) whenever the next message comes within the spin, which under a
 * steady stream is nearly always. The spin adapts: it halves after a spin
 * that found nothing (down to 1/16) and doubles after one that found a
 * message, so a peer that answers slowly costs little. Set 0 where that CPU
 * time is better given to other threads.
 *
 * Thread: the consumer thread, or any thread before attach. Wait-free.
 */
void redum_fifo_set_spin(struct redum_fifo *fifo, uint32_t spin_ns);

/**
 * Handles up to the batch bound of messages, then the final message if the
 * FIFO is closed and empty. If messages remain after the batch the doorbell
 * is rung again so the next poll returns at once; otherwise (after the spin,
 * see redum_fifo_set_spin()) it is reset and re-armed.
 *
 * Thread: the consumer thread (attached with redum_fifo_attach_manual()).
 * @return number of messages handled (the final message not counted)
 */
uint32_t redum_fifo_drain(struct redum_fifo *fifo);

/**
 * Hands @p msg to the consumer.
 *
 * Thread: SPSC: one producer thread at a time; MPSC: any thread, the
 * consumer's included. Lock-free, never blocks.
 *
 * @return 0 (ownership passed), ENOSPC (full: counted, msg still yours),
 *         EPIPE (closed: counted, msg still yours), EINVAL
 */
int redum_fifo_push(struct redum_fifo *fifo, void *msg);

/**
 * redum_fifo_push() without the doorbell: the consumer may not see @p msg
 * until the producer calls redum_fifo_wake(), which it MUST do (a sleeping
 * consumer is not woken otherwise). For a producer that posts bursts (the
 * stack thread during one batch of datagrams): one doorbell per burst
 * instead of one per message that finds the consumer asleep.
 *
 * Thread: as redum_fifo_push(). Lock-free, never blocks.
 * @return as redum_fifo_push()
 */
int redum_fifo_push_nowake(struct redum_fifo *fifo, void *msg);

/**
 * Rings the doorbell if the consumer sleeps (after redum_fifo_push_nowake;
 * harmless otherwise). Thread: a producer, before it closes the FIFO (the
 * FIFO must not be freed). Lock-free (one system call if it rings).
 */
void redum_fifo_wake(struct redum_fifo *fifo);

/**
 * Closes the FIFO: later pushes fail with EPIPE, and the consumer's close
 * handler runs once after every message already pushed. A second close
 * returns EALREADY.
 *
 * Thread: any producer thread (for SPSC: the producer, or after it stopped).
 */
int redum_fifo_close(struct redum_fifo *fifo);

/**
 * Waits until the close handler has returned.
 *
 * Thread: any thread but the consumer's (EDEADLK there, since it would wait
 * for itself). Blocks; returns 0 or EINVAL.
 */
int redum_fifo_join(struct redum_fifo *fifo);

/** True once the close handler has returned. Thread: any. */
bool redum_fifo_finished(const struct redum_fifo *fifo);

/** Reads the counters. Thread: any. */
void redum_fifo_stats(const struct redum_fifo *fifo,
		      struct redum_fifo_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* REDUM_FIFO_H */
