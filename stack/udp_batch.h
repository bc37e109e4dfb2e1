/**
 * @file udp_batch.h  Batched UDP receive for the stack's SIP transports
 *                    (stack/ internal; see udp_batch.c and docs/STACK.md)
 */
#ifndef REDUM_UDP_BATCH_H
#define REDUM_UDP_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct udp_sock;

/** Counters (one writer: the owning thread). */
struct udp_batch_stats {
	uint64_t socks;       /**< sockets taken over                      */
	uint64_t wakes;       /**< read wake-ups                           */
	uint64_t calls;       /**< recvmmsg() calls that returned data     */
	uint64_t dgrams;      /**< datagrams read                          */
	uint64_t released;    /**< sockets given back to libre (helpers)   */
	uint64_t tx_calls;    /**< sendmmsg() calls that sent something    */
	uint64_t tx_dgrams;   /**< datagrams sent from the queues          */
	uint64_t tx_errors;   /**< queued datagrams the kernel refused     */
	uint64_t retx_req;    /**< requests libre re-sent (Timer A/E)      */
	uint64_t retx_final;  /**< finals libre re-sent (Timer G)          */
};

struct udp_batch;

/** Called before the first and after the last datagram of each read
 *  wake-up (@p begin true, then false), around the receive handlers. */
typedef void (udp_batch_h)(bool begin, void *arg);

/**
 * Allocates the calling thread's batch receiver (mem_deref frees it, on
 * the same thread, after every captured socket is gone). One per thread.
 * @p bh (optional) brackets each wake-up's batch.
 * Thread: the stack thread (its libre loop). EALREADY if one exists.
 */
int  udp_batch_alloc(struct udp_batch **ubp, udp_batch_h *bh, void *arg);

/**
 * Arms (on) or disarms the capture: while armed, every udp_listen() on
 * this thread is taken over. Thread: the owner.
 */
void udp_batch_capture(struct udp_batch *ub, bool on);

/** The last socket captured (NULL: none). Thread: the owner. */
struct udp_sock *udp_batch_last(const struct udp_batch *ub);

/**
 * How long the datagram now being handed to a receive handler on the
 * calling thread waited in its socket's receive queue, in ms (kernel
 * timestamp to our read). Thread: the owner, inside a receive handler.
 * Wait-free.
 * @return the delay, or -1 outside a delivery or without a timestamp
 */
int64_t udp_batch_rx_age(void);

/** Copies the counters. Thread: the owner. */
void udp_batch_stats(const struct udp_batch *ub, struct udp_batch_stats *st);

#endif
