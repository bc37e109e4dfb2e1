/**
 * @file libre_sipsess_uas.c  Baseline for tools/bench/run: a libre UAS on
 *                            libre's session layer (sipsess), the way a
 *                            baresip-style application answers calls
 *
 * Same answer as redumd (180, then 200 with an SDP answer; BYE answered
 * 200), single-threaded in libre's loop: sipsess_listen, sipsess_accept
 * with 180, sipsess_answer with 200 and the SDP. sipsess keeps a dialog
 * per call, retransmits the 2xx itself until the ACK (T1 doubling, 64*T1)
 * and answers the BYE; the close handler frees the session.
 *
 * Links libre only, never libredum (libredum interposes libre's timers,
 * udp and rand: this must run on libre's own, its timer list included).
 *
 * usage: redum-baseline-libre-sipsess --listen ADDR:PORT
 * Prints "listening udp:ADDR:PORT" once ready; SIGTERM/SIGINT: counters
 * to stderr, clean exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "baseline_common.h"

enum { HSIZE = 1u << 16 };

struct uas {
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sip_lsnr *lsnr;
	struct list calls;
	struct mbuf *sdp;
	uint64_t invites, estab, closed, other, errors;
};

struct call {
	struct le le;
	struct uas *uas;
	struct sipsess *sess;
};


static void call_destructor(void *arg)
{
	struct call *call = arg;

	list_unlink(&call->le);
	mem_deref(call->sess);
}


static int offer_handler(struct mbuf **descp, const struct sip_msg *msg,
			 void *arg)
{
	struct call *call = arg;
	(void)msg;

	/* a re-INVITE's offer: the same answer */
	*descp = mem_ref(call->uas->sdp);
	return 0;
}


static int answer_handler(const struct sip_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return 0;
}


static void estab_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	(void)msg;

	++call->uas->estab;
}


static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	(void)err;
	(void)msg;

	++call->uas->closed;
	mem_deref(call);
}


static void conn_handler(const struct sip_msg *msg, void *arg)
{
	struct uas *uas = arg;
	struct call *call;
	int err;

	++uas->invites;

	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		err = ENOMEM;
		goto out;
	}
	call->uas = uas;
	list_append(&uas->calls, &call->le, call);

	err = sipsess_accept(&call->sess, uas->sock, msg, 180, "Ringing",
			     "uas", "application/sdp", NULL, NULL, NULL, false,
			     offer_handler, answer_handler, estab_handler,
			     NULL, NULL, close_handler, call, NULL);
	if (err)
		goto out;

	err = sipsess_answer(call->sess, 200, "OK", uas->sdp, NULL);

 out:
	if (err) {
		++uas->errors;
		if (!call || !call->sess)
			(void)sip_treply(NULL, uas->sip, msg, 500,
					 "Server Error");
		mem_deref(call);
	}
}


/* Requests outside sessions that sipsess does not take (OPTIONS, ...). */
static bool request_handler(const struct sip_msg *msg, void *arg)
{
	struct uas *uas = arg;

	++uas->other;
	if (!pl_strcmp(&msg->met, "OPTIONS"))
		(void)sip_treply(NULL, uas->sip, msg, 200, "OK");
	else if (pl_strcmp(&msg->met, "ACK"))
		(void)sip_treply(NULL, uas->sip, msg, 481,
				 "Call/Transaction Does Not Exist");
	return true;
}


int main(int argc, char *argv[])
{
	struct uas uas = {0};
	struct sa laddr;
	int sigfd = -1, err = 0, rc = 1;

	if (argc != 3 || strcmp(argv[1], "--listen") ||
	    sa_decode(&laddr, argv[2], strlen(argv[2]))) {
		fprintf(stderr, "usage: %s --listen ADDR:PORT (numeric)\n",
			argv[0]);
		return 2;
	}

	/* signals are read from a signalfd in the loop, never in a handler */
	sigfd = baseline_signals_open();
	if (sigfd < 0)
		return 1;

	err = libre_init();
	if (err)
		goto out;

	uas.sdp = mbuf_alloc(strlen(baseline_answer_sdp) + 1);
	if (!uas.sdp) {
		err = ENOMEM;
		goto out;
	}
	err = mbuf_write_str(uas.sdp, baseline_answer_sdp);
	uas.sdp->pos = 0;

	err |= sip_alloc(&uas.sip, NULL, HSIZE, HSIZE, HSIZE,
			 "libre-sipsess", NULL, NULL);
	if (err)
		goto out;
	err = sip_transp_add(uas.sip, SIP_TRANSP_UDP, &laddr);
	if (err) {
		re_fprintf(stderr, "cannot listen on %J: %m\n", &laddr, err);
		goto out;
	}
	err = sip_transp_laddr(uas.sip, &laddr, SIP_TRANSP_UDP, NULL);
	err |= sipsess_listen(&uas.sock, uas.sip, HSIZE, conn_handler, &uas);
	/* registered after sipsess's own listener: sees what it left */
	err |= sip_listen(&uas.lsnr, uas.sip, true, request_handler, &uas);
	err |= baseline_signals_listen(&sigfd);
	if (err)
		goto out;

	re_printf("listening udp:%J\n", &laddr);
	fflush(stdout);

	(void)re_main(NULL);

	re_fprintf(stderr, "libre-sipsess: invites %llu established %llu "
		   "closed %llu other %llu errors %llu alive %u\n",
		   uas.invites, uas.estab, uas.closed, uas.other, uas.errors,
		   list_count(&uas.calls));
	rc = 0;

 out:
	if (err)
		re_fprintf(stderr, "libre-sipsess: %m\n", err);
	baseline_signals_close(sigfd);
	list_flush(&uas.calls);
	mem_deref(uas.lsnr);
	mem_deref(uas.sock);
	if (uas.sip)
		sip_close(uas.sip, true);
	mem_deref(uas.sip);
	mem_deref(uas.sdp);
	libre_close();

	return rc;
}
