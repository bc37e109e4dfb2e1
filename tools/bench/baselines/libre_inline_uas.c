/**
 * @file libre_inline_uas.c  Baseline for tools/bench/run: the smallest
 *                           correct libre UAS, single-threaded
 *
 * Written for the comparison in docs/BENCHMARKS.md ("Side by side"): what
 * redumd does to a call (180, then 200 with an SDP answer and a To-tag,
 * the 2xx retransmitted until its ACK, BYE answered 200), done inline in
 * libre's own loop with nothing but libre's transaction API: sip_listen,
 * sip_strans_alloc, sip_treplyf/sip_treply. No threads, no FIFOs, no
 * dialog state (a BYE is answered 200 whatever its dialog).
 *
 * It links libre only, never libredum: libredum interposes libre's
 * tmr_*, udp and rand functions, and this binary must run on libre's own
 * (its sorted timer list included: every transaction leaves a 32 s timer
 * on it, and each 500 ms 2xx retransmission timer is inserted past them;
 * that cost is part of what is measured).
 *
 * 2xx reliability: libre does not retransmit a 2xx to INVITE (its strans
 * only absorbs INVITE retransmissions while ACCEPTED), so this program
 * does, as redumd does (RFC 3261 13.3.1.4: T1 doubling to T2, give up
 * after 64*T1), keyed by Call-ID/CSeq/From-tag until the ACK comes.
 * --no-2xx-retx turns that off (then no short timer is ever started: the
 * variant that does not meet the timer list's insert cost).
 *
 * usage: redum-baseline-libre-inline --listen ADDR:PORT [--no-2xx-retx]
 * Prints "listening udp:ADDR:PORT" once ready (port 0: the kernel's);
 * SIGTERM/SIGINT: counters to stderr, clean exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "baseline_common.h"

enum {
	T1_MS = 500,
	T2_MS = 4000,
	HSIZE = 1u << 16,   /* libre's transaction hashes and ours */
};

struct uas {
	struct sip *sip;
	struct sip_lsnr *lsnr;
	struct hash *ht_acc;   /* 2xx awaiting their ACK, by Call-ID */
	struct sa laddr;
	bool retx;
	uint64_t invites, acks, byes, options, other, retx_2xx,
		 ack_timeouts, acks_unmatched, errors;
};

/* A 2xx sent, retransmitted until its ACK (or 64*T1). */
struct acc {
	struct le he;
	struct uas *uas;
	struct sip_msg *msg;   /* the INVITE (Call-ID, CSeq, From-tag, socket) */
	struct mbuf *mb;       /* the 2xx */
	struct sa dst;
	struct tmr tmr, tmr_to;
	uint32_t ival;
};


static void acc_destructor(void *arg)
{
	struct acc *acc = arg;

	hash_unlink(&acc->he);
	tmr_cancel(&acc->tmr);
	tmr_cancel(&acc->tmr_to);
	mem_deref(acc->msg);
	mem_deref(acc->mb);
}


static void retx_handler(void *arg)
{
	struct acc *acc = arg;

	acc->mb->pos = 0;
	if (sip_send(acc->uas->sip, acc->msg->sock, acc->msg->tp, &acc->dst,
		     acc->mb))
		++acc->uas->errors;
	else
		++acc->uas->retx_2xx;

	acc->ival = MIN(acc->ival * 2, (uint32_t)T2_MS);
	tmr_start(&acc->tmr, acc->ival, retx_handler, acc);
}


static void acc_timeout(void *arg)
{
	struct acc *acc = arg;

	++acc->uas->ack_timeouts;
	mem_deref(acc);
}


static bool acc_cmp(struct le *le, void *arg)
{
	const struct acc *acc = le->data;
	const struct sip_msg *msg = arg;

	return acc->msg->cseq.num == msg->cseq.num &&
		!pl_cmp(&acc->msg->callid, &msg->callid) &&
		!pl_cmp(&acc->msg->from.tag, &msg->from.tag);
}


static void cancel_handler(void *arg)
{
	/* the answer goes out in the same loop turn as the INVITE arrives:
	 * a CANCEL always finds the transaction answered (libre then only
	 * replies 200 to the CANCEL itself) */
	(void)arg;
}


static void invite_handle(struct uas *uas, const struct sip_msg *msg)
{
	struct sip_strans *st = NULL;
	struct mbuf *mb = NULL;
	struct acc *acc;
	int err;

	++uas->invites;

	err = sip_strans_alloc(&st, uas->sip, msg, cancel_handler, uas);
	if (err)
		goto out;

	/* libre adds the same To-tag (msg->tag) to both responses */
	err = sip_treplyf(&st, NULL, uas->sip, msg, true, 180, "Ringing",
			  "Contact: <sip:uas@%J>\r\n"
			  "Content-Length: 0\r\n"
			  "\r\n", &uas->laddr);
	if (err)
		goto out;

	err = sip_treplyf(&st, &mb, uas->sip, msg, true, 200, "OK",
			  "Contact: <sip:uas@%J>\r\n"
			  "Content-Type: application/sdp\r\n"
			  "Content-Length: %zu\r\n"
			  "\r\n"
			  "%s", &uas->laddr, strlen(baseline_answer_sdp),
			  baseline_answer_sdp);
	if (err || !uas->retx)
		goto out;

	acc = mem_zalloc(sizeof(*acc), acc_destructor);
	if (!acc) {
		err = ENOMEM;
		goto out;
	}
	acc->uas = uas;
	acc->msg = mem_ref((void *)msg);
	acc->mb = mem_ref(mb);
	sip_reply_addr(&acc->dst, msg, true);
	acc->ival = T1_MS;
	tmr_start(&acc->tmr, acc->ival, retx_handler, acc);
	tmr_start(&acc->tmr_to, 64 * T1_MS, acc_timeout, acc);
	hash_append(uas->ht_acc, hash_joaat_pl(&msg->callid), &acc->he, acc);

 out:
	/* after the final response libre's strans owns itself (st is NULL);
	 * if a reply failed before it, free the transaction here */
	mem_deref(st);
	mem_deref(mb);
	if (err)
		++uas->errors;
}


static void ack_handle(struct uas *uas, const struct sip_msg *msg)
{
	struct acc *acc;

	acc = list_ledata(hash_lookup(uas->ht_acc,
				      hash_joaat_pl(&msg->callid), acc_cmp,
				      (void *)msg));
	if (acc) {
		++uas->acks;
		mem_deref(acc);
	}
	else {
		++uas->acks_unmatched;
	}
}


/* Every request libre's transaction layer did not absorb (retransmissions
 * and ACKs of non-2xx finals stop there). */
static bool request_handler(const struct sip_msg *msg, void *arg)
{
	struct uas *uas = arg;
	int err = 0;

	if (!pl_strcmp(&msg->met, "INVITE")) {
		invite_handle(uas, msg);
	}
	else if (!pl_strcmp(&msg->met, "ACK")) {
		if (uas->retx)
			ack_handle(uas, msg);
		else
			++uas->acks;
	}
	else if (!pl_strcmp(&msg->met, "BYE")) {
		++uas->byes;
		err = sip_treply(NULL, uas->sip, msg, 200, "OK");
	}
	else if (!pl_strcmp(&msg->met, "OPTIONS")) {
		++uas->options;
		err = sip_treply(NULL, uas->sip, msg, 200, "OK");
	}
	else {
		++uas->other;
		err = sip_treplyf(NULL, NULL, uas->sip, msg, false, 405,
				  "Method Not Allowed",
				  "Allow: INVITE, ACK, BYE, OPTIONS\r\n"
				  "Content-Length: 0\r\n\r\n");
	}
	if (err)
		++uas->errors;

	return true;
}


static int parse_args(int argc, char *argv[], struct sa *laddr, bool *retx)
{
	bool have = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			const char *a = argv[++i];

			if (sa_decode(laddr, a, strlen(a))) {
				fprintf(stderr, "--listen %s: expected a "
					"numeric ADDR:PORT\n", a);
				return EINVAL;
			}
			have = true;
		}
		else if (!strcmp(argv[i], "--no-2xx-retx")) {
			*retx = false;
		}
		else {
			fprintf(stderr, "usage: %s --listen ADDR:PORT "
				"[--no-2xx-retx]\n", argv[0]);
			return EINVAL;
		}
	}
	if (!have) {
		fprintf(stderr, "%s: --listen ADDR:PORT is required\n",
			argv[0]);
		return EINVAL;
	}
	return 0;
}


int main(int argc, char *argv[])
{
	struct uas uas = {.retx = true};
	int sigfd = -1, err, rc = 1;

	if (parse_args(argc, argv, &uas.laddr, &uas.retx))
		return 2;

	/* signals are read from a signalfd in the loop, never in a handler */
	sigfd = baseline_signals_open();
	if (sigfd < 0)
		return 1;

	err = libre_init();
	if (err)
		goto out;

	err = sip_alloc(&uas.sip, NULL, HSIZE, HSIZE, HSIZE, "libre-inline",
			NULL, NULL);
	err |= hash_alloc(&uas.ht_acc, HSIZE);
	if (err)
		goto out;

	err = sip_transp_add(uas.sip, SIP_TRANSP_UDP, &uas.laddr);
	if (err) {
		re_fprintf(stderr, "cannot listen on %J: %m\n", &uas.laddr,
			   err);
		goto out;
	}
	err = sip_transp_laddr(uas.sip, &uas.laddr, SIP_TRANSP_UDP, NULL);
	err |= sip_listen(&uas.lsnr, uas.sip, true, request_handler, &uas);
	err |= baseline_signals_listen(&sigfd);
	if (err)
		goto out;

	re_printf("listening udp:%J\n", &uas.laddr);
	fflush(stdout);

	(void)re_main(NULL);

	re_fprintf(stderr, "libre-inline: invites %llu acks %llu (unmatched "
		   "%llu) byes %llu options %llu other %llu retx_2xx %llu "
		   "ack_timeouts %llu errors %llu\n",
		   uas.invites, uas.acks, uas.acks_unmatched, uas.byes,
		   uas.options, uas.other, uas.retx_2xx, uas.ack_timeouts,
		   uas.errors);
	rc = 0;

 out:
	if (err)
		fprintf(stderr, "libre-inline: %s\n", strerror(err));
	baseline_signals_close(sigfd);
	if (uas.ht_acc)
		hash_flush(uas.ht_acc);   /* frees the pending 2xx */
	mem_deref(uas.ht_acc);
	mem_deref(uas.lsnr);
	if (uas.sip)
		sip_close(uas.sip, true);
	mem_deref(uas.sip);
	libre_close();

	return rc;
}
