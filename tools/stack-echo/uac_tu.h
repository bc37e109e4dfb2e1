/**
 * @file uac_tu.h  A load-generating UAC transaction user on its own thread:
 *                 places INVITE / ACK / BYE calls through the stack at a
 *                 fixed rate (redum-stack-echo --call-to; the UAC direction
 *                 of tools/bench/sustained --mode uac).
 */
#ifndef REDUM_UAC_TU_H
#define REDUM_UAC_TU_H

#include <stdbool.h>
#include <stdint.h>
#include <redum/stack.h>

struct uac_tu;

/** What the UAC did (read after uac_tu_join()). */
struct uac_tu_stats {
	uint64_t started;      /**< INVITEs posted                            */
	uint64_t ok;           /**< 2xx to INVITE, ACK, BYE answered 2xx      */
	uint64_t failed;       /**< INVITE or BYE without a 2xx, errors       */
	uint64_t cmd_failed;   /**< EV_CMD_FAILED received                    */
	uint64_t push_failed;  /**< commands refused (command FIFO full)     */
	bool removed;
};

/** Registers the TU (a pure UAC: no new requests) and starts its thread,
 *  which places @p count calls to @p uri at @p rate per second.
 *  Thread: any. */
int uac_tu_start(struct uac_tu **utp, struct redum_stack *stack,
		 const char *uri, uint32_t rate, uint64_t count);

/** True once every call has ended (ok, failed or lost to a failed
 *  command). Thread: any. */
bool uac_tu_finished(const struct uac_tu *ut);

/** Waits for TransactionUserRemoved and the thread's end, copies the
 *  figures, frees. Thread: any but the TU's. */
int uac_tu_join(struct uac_tu *ut, struct uac_tu_stats *st);

#endif
