/**
 * @file done.c  Completed non-INVITE server transactions on UDP, compact
 *
 * Everything here runs on the stack thread.
 *
 * RFC 3261 17.2.2: after its final response, a non-INVITE server
 * transaction on an unreliable transport stays "Completed" for Timer J
 * (64*T1, 32 s) and answers each retransmission of the request with that
 * response again. libre's strans does it by keeping the whole request (its
 * buffer, parsed headers and their hash) and the response mbuf: ~4.5 KB a
 * transaction. With one BYE per call that is 1.4 GB of RSS at 9,000
 * calls/s, and ~10% of the stack thread's time goes to faulting in the
 * fresh pages the heap grows by in the first 32 s.
 *
 * A done record keeps only what answering a retransmission needs: the
 * matching key (Via branch, Via sent-by, CSeq method: RFC 3261 17.2.3) and
 * the response bytes, in one allocation (~0.5 KB), filed in a hash by key
 * and in a list by age. Every record lives the same 64*T1, so expiry pops
 * the head of the list (on each new record and on the stack's tick): no
 * timer per record. The reply address is taken from the retransmission
 * itself, as for the first response (RFC 3261 18.2.2).
 */
#include <string.h>
#include <re.h>
#include "stack_int.h"

enum { KEY_MAX = 192 };

struct done {
	struct le he;          /* stack->ht_done, by key hash             */
	struct le le;          /* stack->donel, oldest first              */
	uint64_t expires;      /* tmr_jiffies()                           */
	uint16_t keylen, rsplen;
	char data[];           /* key, then the response                  */
};


static void done_destructor(void *arg)
{
	struct done *d = arg;

	hash_unlink(&d->he);
	list_unlink(&d->le);
}


/* "branch|sent-by|method" of a request, or 0 if it does not fit. */
static size_t key_of(char *key, const struct sip_msg *msg)
{
	int n = re_snprintf(key, KEY_MAX, "%r|%r|%r", &msg->via.branch,
			    &msg->via.sentby, &msg->cseq.met);

	return n > 0 && n < KEY_MAX - 1 ? (size_t)n : 0;
}


struct key {
	const char *p;
	size_t l;
};


static bool done_cmp(struct le *le, void *arg)
{
	const struct done *d = le->data;
	const struct key *k = arg;

	return d->keylen == k->l && !memcmp(d->data, k->p, k->l);
}


/** Frees the records whose Timer J has fired. */
void done_expire(struct redum_stack *stack)
{
	uint64_t now = tmr_jiffies();

	STACK_OWNED(stack);

	while (stack->donel.head) {
		struct done *d = stack->donel.head->data;

		if (d->expires > now)
			break;
		mem_deref(d);
	}
}


/**
 * Takes over the Completed state of @p req's transaction: files its key
 * and response @p rsp for 64*T1. The caller then ends libre's strans.
 *
 * @return 0, or ENOMEM / EOVERFLOW (key or response too long to keep
 *         compact: the caller leaves libre's strans as it is)
 */
int done_add(struct redum_stack *stack, const struct sip_msg *req,
	     const struct mbuf *rsp)
{
	char key[KEY_MAX];
	size_t kl = key_of(key, req);
	struct done *d;

	STACK_OWNED(stack);

	if (!kl || !rsp || rsp->end > UINT16_MAX)
		return EOVERFLOW;

	done_expire(stack);

	d = mem_alloc(sizeof(*d) + kl + rsp->end, done_destructor);
	if (!d)
		return ENOMEM;

	memset(d, 0, sizeof(*d));
	d->expires = tmr_jiffies() + 64 * (uint64_t)stack->conf.t1_ms;
	d->keylen  = (uint16_t)kl;
	d->rsplen  = (uint16_t)rsp->end;
	memcpy(d->data, key, kl);
	memcpy(d->data + kl, rsp->buf, rsp->end);

	hash_append(stack->ht_done, hash_joaat((const uint8_t *)key, kl),
		    &d->he, d);
	list_append(&stack->donel, &d->le, d);
	CNT_INC(stack->c.done_kept);

	return 0;
}


/**
 * A retransmission of a request whose transaction is done: re-sends the
 * final response (counted done_absorbed).
 *
 * @return true if @p msg was one (it is then handled)
 */
bool done_absorb(struct redum_stack *stack, const struct sip_msg *msg)
{
	char key[KEY_MAX];
	struct key k = {key, key_of(key, msg)};
	struct done *d;
	struct mbuf *mb;
	struct sa dst;

	STACK_OWNED(stack);

	if (!k.l || !stack->donel.head)
		return false;

	d = list_ledata(hash_lookup(stack->ht_done,
				    hash_joaat((const uint8_t *)key, k.l),
				    done_cmp, &k));
	if (!d || d->expires <= tmr_jiffies())
		return false;

	CNT_INC(stack->c.done_absorbed);

	mb = mbuf_alloc(d->rsplen);
	if (!mb || mbuf_write_mem(mb, (const uint8_t *)d->data + d->keylen,
				  d->rsplen)) {
		CNT_INC(stack->c.send_errors);
		mem_deref(mb);
		return true;
	}
	mb->pos = 0;

	srv_reply_dst(&dst, msg);
	if (sip_send(stack->sip, msg->sock, msg->tp, &dst, mb))
		CNT_INC(stack->c.send_errors);
	mem_deref(mb);

	return true;
}
