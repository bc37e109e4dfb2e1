/**
 * @file test_stack.c  The stack thread against real SIPp peers on loopback
 *
 * Each test starts its own stack on an ephemeral port, and SIPp on a port
 * the kernel picked; a test TU runs on the test thread (manual attach) or
 * the echo TU on its own thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <re.h>
#include <redum/stack.h>
#include "helpers.h"
#include "tools/stack-echo/echo_tu.h"

enum { SIPP_WAIT = 60000 };

static char target[64];

static const char *target_of(struct redum_stack *stack)
{
	snprintf(target, sizeof(target), "127.0.0.1:%u", th_stack_port(stack));
	return target;
}


static void stop_stack(struct redum_stack *stack, bool force,
		       struct redum_stack_stats *st)
{
	cr_assert_eq(redum_stack_shutdown(stack, force), 0);
	cr_assert_eq(redum_stack_join(stack, st), 0);
}


/* SIPp UAC running scenario @p scen against the stack, from a free port;
 * more SIPp arguments follow, NULL-ended. @return its pid, or -1 */
static pid_t uac(struct redum_stack *stack, const char *scen, ...)
{
	const char *pre[] = {"-sf", th_scen(scen), NULL};
	va_list ap;
	pid_t pid;

	va_start(ap, scen);
	pid = rtest_sipp_vspawn(target_of(stack), th_free_port(), 30, pre,
				va_arg(ap, const char *), ap);
	va_end(ap);

	return pid;
}


/* A stack (T1 @p t1_ms) with a test TU on it taking @p methods. */
static void start_with_tu(struct redum_stack **stackp, uint32_t t1_ms,
			  struct ttu *t, uint32_t methods)
{
	cr_assert_eq(th_stack_start(stackp, t1_ms), 0);
	cr_assert_eq(ttu_start(t, *stackp, methods), 0);
}


/* Graceful stop: the test TU removed (TransactionUserRemoved), the stack
 * joined with its final counters in @p st. */
static void stop_with_tu(struct redum_stack *stack, struct ttu *t,
			 struct redum_stack_stats *st)
{
	cr_assert_eq(redum_stack_shutdown(stack, false), 0);
	cr_assert(ttu_finish(t, 10000), "no TransactionUserRemoved");
	cr_assert_eq(redum_stack_join(stack, st), 0);
}


/* Graceful stop with the echo TU: it is removed first, then the stack. */
static void stop_with_echo(struct redum_stack *stack, struct echo_tu *et,
			   struct echo_tu_stats *ets,
			   struct redum_stack_stats *st)
{
	cr_assert_eq(redum_stack_shutdown(stack, false), 0);
	cr_assert_eq(echo_tu_join(et, ets), 0);
	cr_assert_eq(redum_stack_join(stack, st), 0);
}


/* SIPp UAS running @p scen once on port @p peer, given time to bind.
 * @return its pid */
static pid_t uas(uint16_t peer, const char *scen)
{
	pid_t pid = th_sipp_spawn(NULL, peer, "-sf", th_scen(scen), "-m",
				  "1", NULL);

	cr_assert_gt(pid, 0);
	usleep(300000);   /* let SIPp bind; a lost first try is resent */
	return pid;
}


/* SIPp UAS running @p scen on a free port, and dialog 1 of @p t towards
 * sip:@p user@127.0.0.1:PORT. @return SIPp's pid */
static pid_t uas_dialog(struct redum_stack *stack, struct ttu *t,
			const char *scen, const char *user)
{
	uint16_t peer = th_free_port();
	char uri[64], from[64];
	pid_t pid = uas(peer, scen);

	snprintf(uri, sizeof(uri), "sip:%s@127.0.0.1:%u", user, peer);
	snprintf(from, sizeof(from), "sip:test@127.0.0.1:%u",
		 th_stack_port(stack));
	cr_assert_eq(redum_stack_dlg_alloc(t->tu, 1, uri, uri, "test", from),
		     0);

	return pid;
}


/* BYE on dialog @p dlg (token @p id), answered 200. */
static void bye(struct ttu *t, uint64_t id, uint64_t dlg, const char *what)
{
	struct redum_stack_event *ev;

	cr_assert_eq(redum_stack_drequest(t->tu, id, dlg, 0, "BYE", NULL,
					  NULL, 0), 0);
	ev = ttu_expect(t, REDUM_STACK_EV_RESPONSE, 20000);
	cr_assert_not_null(ev, "no response to BYE of %s", what);
	cr_assert_eq(ev->id, id);
	cr_assert_eq(ev->msg->scode, 200);
	cr_assert_eq(pl_strcmp(&ev->msg->cseq.met, "BYE"), 0);
	redum_stack_event_release(t->tu, ev);
}


/* Reads the stack's counters into @p st every 20 ms until @p cond holds
 * or @p ms passed (the caller asserts what it needs afterwards). */
#define WAIT_STATS(stack, st, cond, ms) do {                             \
		int64_t end_ = th_now() + (ms);                          \
		do {                                                     \
			usleep(20000);                                   \
			redum_stack_stats((stack), (st));                \
		} while (!(cond) && th_now() < end_);                    \
	} while (0)


Test(stack, start_stop_and_shutdown_modes)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	enum sip_transp tp;
	struct sa la;
	int fd, rcv = 0;
	socklen_t len = sizeof(rcv);
	long rmem_max = 0;
	FILE *f;

	cr_assert_eq(th_stack_start(&stack, 500), 0);

	cr_assert_eq(redum_stack_laddr(stack, 0, &tp, &la), 0);
	cr_assert_eq(tp, SIP_TRANSP_UDP);
	cr_assert_neq(sa_port(&la), 0);
	cr_assert_eq(redum_stack_laddr(stack, 1, &tp, &la), ENOENT);

	/* the fd was found and sized: at least min(4 MiB, rmem_max) */
	fd = redum_stack_udp_fd(stack, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len), 0);
	f = fopen("/proc/sys/net/core/rmem_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &rmem_max) != 1)
			rmem_max = 0;
		fclose(f);
	}
	cr_assert_geq(rcv, rmem_max < (4 << 20) ? rmem_max : (4 << 20));

	/* graceful, then force escalates, then both again refused */
	cr_assert_eq(redum_stack_shutdown(stack, false), 0);
	cr_assert_eq(redum_stack_shutdown(stack, false), EALREADY);
	cr_assert_eq(redum_stack_shutdown(stack, true), 0);
	cr_assert_eq(redum_stack_shutdown(stack, true), EALREADY);
	cr_assert_eq(redum_stack_join(stack, &st), 0);
	cr_assert_eq(st.tus, 0);
}


Test(stack, bad_conf)
{
	struct redum_stack_conf conf;
	struct redum_stack *stack = NULL;

	redum_stack_conf_init(&conf);
	cr_assert_eq(redum_stack_start(&stack, &conf), EINVAL); /* none */
	cr_assert_eq(redum_stack_conf_listen(&conf, "sctp:1.2.3.4:5"), EINVAL);
	cr_assert_eq(redum_stack_conf_listen(&conf, "udp:localhost:5"),
		     EINVAL);
	cr_assert_eq(redum_stack_conf_listen(&conf, "udp:127.0.0.1:0"), 0);
	conf.strans_hsize = 1000;
	cr_assert_eq(redum_stack_start(&stack, &conf), EINVAL);

	/* TLS listener without a certificate */
	redum_stack_conf_init(&conf);
	cr_assert_eq(redum_stack_conf_listen(&conf, "tls:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_start(&stack, &conf), EINVAL);

	/* a certificate file that does not exist: the error comes back */
	conf.tls_cert = "/nonexistent/redum.pem";
	cr_assert_neq(redum_stack_start(&stack, &conf), 0);
}


Test(stack, tcp_and_ipv6_listeners)
{
	struct redum_stack_conf conf;
	struct redum_stack *stack = NULL;
	enum sip_transp tp;
	struct sa la;

	redum_stack_conf_init(&conf);
	conf.ctrans_hsize = conf.strans_hsize = conf.obj_hsize = 64;
	cr_assert_eq(redum_stack_conf_listen(&conf, "udp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_conf_listen(&conf, "tcp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_conf_listen(&conf, "udp:[::1]:0"), 0);
	cr_assert_eq(redum_stack_conf_listen(&conf, "tcp:[::1]:0"), 0);
	if (redum_stack_start(&stack, &conf)) {
		/* no IPv6 on this host: IPv4 alone must work */
		conf.listenc = 2;
		cr_assert_eq(redum_stack_start(&stack, &conf), 0);
	}

	for (uint32_t i = 0; !redum_stack_laddr(stack, i, &tp, &la); i++) {
		cr_assert_neq(sa_port(&la), 0, "listener %u", i);
		cr_assert_eq(tp, conf.listen[i].tp);
		cr_assert(sa_cmp(&la, &conf.listen[i].addr, SA_ADDR));
	}

	stop_stack(stack, false, NULL);
}


Test(stack, echo_calls_via_sipp)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	pid_t pid;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	cr_assert_eq(echo_tu_start(&et, stack, false), 0);

	pid = th_sipp_spawn(target_of(stack), th_free_port(), "-sn", "uac",
			    "-m", "200", "-r", "200", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	pid = uac(stack, "uac_options.xml", "-m", "100", "-r", "200", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp options failed");

	/* graceful stop removes the TU first */
	stop_with_echo(stack, et, &ets, &st);

	cr_assert(ets.removed);
	cr_assert_eq(ets.invites, 200);
	cr_assert_eq(ets.byes, 200);
	cr_assert_eq(ets.options, 100);
	cr_assert_eq(ets.acks, 200);
	cr_assert_eq(ets.push_failed, 0);
	cr_assert_eq(ets.cmd_failed, 0);
	cr_assert_geq(st.req_in[REDUM_STACK_M_INVITE], 200);
	cr_assert_eq(st.acks, 200);
	/* 100 Trying only to INVITEs the TU left unanswered for
	 * conf.trying_ms (200 ms; the echo TU answers at once); the
	 * cancel test checks that a silent TU's INVITE gets it. */
	cr_assert_leq(st.resp_out[0], 200);
	/* every datagram went through the batched receive (udp_batch.c):
	 * 200 INVITE + 200 ACK + 200 BYE + 100 OPTIONS at least */
	cr_assert_geq(st.rx_dgrams, 700);
	cr_assert_geq(st.rx_dgrams, st.rx_calls);
	cr_assert_gt(st.rx_calls, 0);
	cr_assert_geq(st.resp_out[1], 500);          /* 2xx */
	cr_assert_eq(st.unclaimed, 0);
	/* every ACK ended libre's ACCEPTED strans at once (srv.c) */
	cr_assert_eq(st.accepted_ended, 200);
	cr_assert_eq(st.strans_alive, 0);
	cr_assert_eq(st.dialogs_alive, 0);
	cr_assert_eq(st.tus, 0);
}


/* Once the ACK ended libre's ACCEPTED strans, a late copy of the INVITE
 * is known by the dialog it made: absorbed and counted, not a new call
 * (SIPp fails the call if anything answers the copy). */
Test(stack, late_invite_copy_absorbed_by_dialog)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	pid_t pid;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	cr_assert_eq(echo_tu_start(&et, stack, false), 0);

	pid = uac(stack, "uac_invite_copy.xml", "-m", "3", "-r", "10", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_echo(stack, et, &ets, &st);

	cr_assert_eq(ets.invites, 3, "the TU saw %llu INVITEs",
		     (unsigned long long)ets.invites);
	cr_assert_eq(ets.byes, 3);
	cr_assert_eq(st.acks, 3);
	cr_assert_eq(st.accepted_ended, 3);
	cr_assert_eq(st.invite_absorbed, 3);
	/* the copies reached redum (no ACCEPTED strans took them), which
	 * absorbed them: retransmissions, not requests "in" */
	cr_assert_eq(st.req_in[REDUM_STACK_M_INVITE], 3);
	cr_assert_geq(st.req_absorbed, 3);
	cr_assert_eq(st.strans_alive, 0);
	cr_assert_eq(st.dialogs_alive, 0);
}


Test(stack, unclaimed_requests)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct ttu t;
	pid_t pid;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	/* a TU that takes INVITE only: OPTIONS is nobody's */
	cr_assert_eq(ttu_start(&t, stack,
			       REDUM_STACK_MBIT(REDUM_STACK_M_INVITE)), 0);

	pid = uac(stack, "uac_unclaimed.xml", "-m", "5", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_tu(stack, &t, &st);
	cr_assert_geq(st.unclaimed, 10);
	cr_assert_geq(st.resp_out[3], 5);            /* 481 */
	cr_assert_geq(st.resp_out[4], 5);            /* 501 */
	cr_assert_eq(st.busy_503, 0);
}


/* Before any TU is added (a server's start) a request gets 503 with
 * Retry-After, not 501: the scenario fails without the header. */
Test(stack, no_tu_yet_gets_503_retry_after)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	pid_t pid;

	cr_assert_eq(th_stack_start(&stack, 500), 0);

	pid = uac(stack, "uac_no_tu.xml", "-m", "3", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_stack(stack, false, &st);
	cr_assert_eq(st.busy_503, 3);
	cr_assert_eq(st.resp_out[4], 3);             /* the 503s */
	cr_assert_eq(st.unclaimed, 0);
}


Test(stack, invite_2xx_retransmitted_until_late_ack)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	pid_t pid;

	/* T1 100 ms: 200 at 0, retransmitted at 100, 300, 700 ms... */
	cr_assert_eq(th_stack_start(&stack, 100), 0);
	cr_assert_eq(echo_tu_start(&et, stack, true), 0);

	pid = uac(stack, "uac_ack_late.xml", "-m", "1", "-d", "800", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_echo(stack, et, &ets, &st);

	cr_assert_geq(st.retx_2xx, 2, "retx_2xx %llu",
		      (unsigned long long)st.retx_2xx);
	cr_assert_eq(st.acks, 1);
	cr_assert_eq(st.ack_timeouts, 0);
	cr_assert_eq(ets.acks, 1);
	cr_assert_eq(ets.ack_views, 1);   /* the ACK's view was delivered */
	cr_assert_eq(ets.byes, 1);
}


Test(stack, ack_timeout_reported)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	pid_t pid;

	/* T1 50 ms: 64*T1 = 3.2 s */
	cr_assert_eq(th_stack_start(&stack, 50), 0);
	cr_assert_eq(echo_tu_start(&et, stack, false), 0);

	pid = uac(stack, "uac_no_ack.xml", "-m", "1", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	WAIT_STATS(stack, &st, st.ack_timeouts, 64 * 50 + 5000);

	stop_with_echo(stack, et, &ets, &st);

	cr_assert_eq(st.ack_timeouts, 1);
	cr_assert_eq(ets.ack_timeouts, 1);
	cr_assert_eq(ets.acks, 0);
	cr_assert_geq(st.retx_2xx, 3);
	/* the 200 and its re-sends came from timers, through the send
	 * queue (udp_batch.c): flushed, none refused */
	cr_assert_geq(st.tx_dgrams, 1 + st.retx_2xx);
	cr_assert_leq(st.tx_calls, st.tx_dgrams);
	cr_assert_eq(st.tx_errors, 0);
}


static const char *hdrs_for(char *buf, size_t sz, uint16_t peer,
			    uint16_t self, const char *met, uint32_t cseq)
{
	snprintf(buf, sz,
		 "To: <sip:uas@127.0.0.1:%u>\r\n"
		 "From: <sip:test@127.0.0.1:%u>;tag=t%u\r\n"
		 "Call-ID: redum-test-%u-%u\r\n"
		 "CSeq: %u %s\r\n",
		 peer, self, (unsigned)getpid(), (unsigned)getpid(), cseq,
		 cseq, met);
	return buf;
}


Test(stack, client_options_to_sipp_uas)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint16_t peer = th_free_port();
	char uri[64], hdrs[512];
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t, 0);

	pid = uas(peer, "uas_options.xml");

	snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u", peer);
	cr_assert_eq(redum_stack_request(t.tu, 42, REDUM_STACK_F_CONTACT,
					 "OPTIONS", uri, NULL,
					 hdrs_for(hdrs, sizeof(hdrs), peer,
						  th_stack_port(stack),
						  "OPTIONS", 1),
					 NULL, 0), 0);

	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 20000);
	cr_assert_not_null(ev, "no response");
	cr_assert_eq(ev->id, 42);
	cr_assert_eq(ev->msg->scode, 200);
	redum_stack_event_release(t.tu, ev);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.req_out[REDUM_STACK_M_OPTIONS], 1);
	cr_assert_eq(st.resp_in[1], 1);
	cr_assert_eq(st.ctrans_alive, 0);
}


Test(stack, client_invite_ack_bye_to_sipp_uas)
{
	static const char sdp[] =
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
		"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n";
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint32_t cseq;
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t, 0);

	pid = uas_dialog(stack, &t, "uas_invite.xml", "uas");
	cr_assert_eq(redum_stack_drequest(t.tu, 7, 1, REDUM_STACK_F_CONTACT,
					  "INVITE",
					  "Content-Type: application/sdp\r\n",
					  sdp, sizeof(sdp) - 1), 0);

	/* 180 (early dialog created from it), then 200 (same To-tag:
	 * creating again updates the target) */
	for (;;) {
		ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 20000);
		cr_assert_not_null(ev, "no response to INVITE");
		cr_assert_eq(ev->id, 7);
		cr_assert_eq(ev->dlg, 1);
		if (ev->msg->scode >= 200)
			break;
		cr_assert_eq(redum_stack_dlg_create(t.tu, 1, ev), 0);
	}
	cr_assert_eq(ev->msg->scode, 200);
	cseq = ev->msg->cseq.num;
	cr_assert_eq(redum_stack_dlg_create(t.tu, 1, ev), 0); /* consumed */

	cr_assert_eq(redum_stack_ack(t.tu, 1, cseq, NULL, NULL, 0), 0);
	bye(&t, 8, 1, "the dialog");
	cr_assert_eq(redum_stack_dlg_destroy(t.tu, 1), 0);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.req_out[REDUM_STACK_M_INVITE], 1);
	cr_assert_eq(st.req_out[REDUM_STACK_M_ACK], 1);
	cr_assert_eq(st.req_out[REDUM_STACK_M_BYE], 1);
	cr_assert_eq(st.cmd_failed, 0);
	cr_assert_eq(st.dialogs_alive, 0);
}


/* A TU removed while requests wait for its answer: abandon answers them
 * 503 and reports each; TransactionUserRemoved comes last. */
Test(stack, tu_abandon_with_requests_in_flight)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	unsigned reqs = 0, errs = 0;
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS));

	pid = uac(stack, "uac_options_503.xml", "-m", "10", "-r", "100", NULL);
	cr_assert_gt(pid, 0);

	while (reqs < 10) {
		ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
		cr_assert_not_null(ev, "only %u requests", reqs);
		++reqs;
		redum_stack_event_release(t.tu, ev); /* view stays */
	}

	cr_assert_eq(redum_stack_tu_remove(t.tu, false), 0);
	cr_assert_eq(redum_stack_tu_remove(t.tu, false), EALREADY);

	while ((ev = ttu_next(&t, 10000)) != NULL) {
		if (ev->type == REDUM_STACK_EV_SRV_ERROR) {
			cr_assert_eq(ev->err, ECONNABORTED);
			++errs;
		}
		redum_stack_event_release(t.tu, ev);
	}
	cr_assert(t.removed, "no TransactionUserRemoved");
	cr_assert_eq(errs, 10);
	cr_assert_eq(redum_stack_tu_free(t.tu), 0);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_stack(stack, false, &st);
	cr_assert_geq(st.busy_503, 10);
	cr_assert_eq(st.strans_alive, 0);
}


/* Graceful removal: the TU still answers what it has; new requests get
 * 503 meanwhile; removed once done. */
Test(stack, tu_graceful_removal_lets_transactions_finish)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint64_t ids[5];
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS));

	pid = uac(stack, "uac_options.xml", "-m", "5", "-r", "100", NULL);
	cr_assert_gt(pid, 0);

	for (int i = 0; i < 5; i++) {
		ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
		cr_assert_not_null(ev);
		ids[i] = ev->id;
		redum_stack_event_release(t.tu, ev);
	}

	cr_assert_eq(redum_stack_tu_remove(t.tu, true), 0);
	ttu_pump(&t, 100);
	cr_assert_not(t.removed, "removed with transactions pending");

	/* a new request while leaving: 503 from the stack */
	pid_t pid2 = uac(stack, "uac_options_503.xml", "-m", "1", NULL);
	cr_assert_eq(th_sipp_wait(pid2, SIPP_WAIT), 0, "sipp 503 failed");

	for (int i = 0; i < 5; i++)
		cr_assert_eq(redum_stack_reply(t.tu, ids[i], 200, "OK", 0,
					       NULL, NULL, 0), 0);

	cr_assert(ttu_finish(&t, 10000), "no TransactionUserRemoved");
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_stack(stack, false, &st);
	cr_assert_geq(st.busy_503, 1);
	cr_assert_eq(st.strans_alive, 0);
}


/* Forced stop with a server and a client transaction pending: each is
 * answered or reported, then the TU is removed and the stack ends. */
Test(stack, forced_shutdown_with_transactions_pending)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint16_t silent = th_free_port();
	bool srv_err = false, cli_err = false;
	char uri[64], hdrs[512];
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS));

	/* a request to a port nobody answers: stays pending */
	snprintf(uri, sizeof(uri), "sip:nobody@127.0.0.1:%u", silent);
	cr_assert_eq(redum_stack_request(t.tu, 99, 0, "OPTIONS", uri, NULL,
					 hdrs_for(hdrs, sizeof(hdrs), silent,
						  th_stack_port(stack),
						  "OPTIONS", 1),
					 NULL, 0), 0);

	pid = uac(stack, "uac_options_503.xml", "-m", "1", NULL);
	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
	cr_assert_not_null(ev);
	redum_stack_event_release(t.tu, ev);

	cr_assert_eq(redum_stack_shutdown(stack, true), 0);

	while ((ev = ttu_next(&t, 10000)) != NULL) {
		if (ev->type == REDUM_STACK_EV_SRV_ERROR)
			srv_err = ev->err == ECONNABORTED;
		if (ev->type == REDUM_STACK_EV_CLI_ERROR)
			cli_err = ev->id == 99 && ev->err == ECONNABORTED;
		redum_stack_event_release(t.tu, ev);
	}
	cr_assert(t.removed);
	cr_assert(srv_err, "server transaction not reported");
	cr_assert(cli_err, "client transaction not reported");
	cr_assert_eq(redum_stack_tu_free(t.tu), 0);

	cr_assert_eq(redum_stack_join(stack, &st), 0);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_assert_eq(st.strans_alive, 0);
	cr_assert_eq(st.ctrans_alive, 0);
}


/* Commands naming unknown ids are refused and reported, not fatal. */
Test(stack, bad_commands_reported)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct ttu t;

	start_with_tu(&stack, 500, &t, 0);

	cr_assert_eq(redum_stack_reply(t.tu, 12345, 200, "OK", 0, NULL, NULL,
				       0), 0);
	ev = ttu_expect(&t, REDUM_STACK_EV_CMD_FAILED, 5000);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->id, 12345);
	cr_assert_eq(ev->err, ENOENT);
	redum_stack_event_release(t.tu, ev);

	cr_assert_eq(redum_stack_drequest(t.tu, 5, 77, 0, "BYE", NULL, NULL,
					  0), 0);
	ev = ttu_expect(&t, REDUM_STACK_EV_CMD_FAILED, 5000);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->err, ENOENT);
	redum_stack_event_release(t.tu, ev);

	cr_assert_eq(redum_stack_reply(t.tu, 1, 99, "x", 0, NULL, NULL, 0),
		     EINVAL);
	cr_assert_eq(redum_stack_request(t.tu, 1, 0, "ACK", "sip:a@1.2.3.4",
					 NULL, "", NULL, 0), EINVAL);

	stop_with_tu(stack, &t, &st);
	cr_assert_geq(st.cmd_rejected, 1);
}


/* A full TU FIFO is never silent: new requests get 503 + Retry-After;
 * events about existing transactions wait in the overflow list and all
 * arrive, in order, before TransactionUserRemoved. */
Test(stack, full_tu_fifo_503_and_overflow)
{
	struct redum_stack_tu_conf conf = {
		.name = "small",
		.methods = REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS),
		.capacity = 2,
	};
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	unsigned reqs = 0, errs = 0;
	struct ttu t;
	pid_t pid;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	struct redum_fifo_stats fs;
	unsigned cap;

	/* a tiny FIFO (rounded up by the FIFO: read back what it holds) */
	cr_assert_eq(ttu_start_conf(&t, stack, &conf), 0);
	redum_stack_tu_fifo_stats(t.tu, &fs);
	cap = fs.capacity;
	cr_assert(cap >= 2 && cap < 10, "capacity %u", cap);

	/* the TU does not drain while SIPp sends 10 OPTIONS */
	pid = uac(stack, "uac_options_503.xml", "-m", "10", "-r", "100", NULL);
	WAIT_STATS(stack, &st, st.busy_503 >= 10 - cap, 20000);
	cr_assert_eq(st.busy_503, 10 - cap, "busy %llu",
		     (unsigned long long)st.busy_503);

	/* abandon: cap SRV_ERROR events find the FIFO full: overflow */
	cr_assert_eq(redum_stack_tu_remove(t.tu, false), 0);
	WAIT_STATS(stack, &st, st.overflowed >= cap, 5000);
	cr_assert_geq(st.overflowed, cap);

	while ((ev = ttu_next(&t, 10000)) != NULL) {
		if (ev->type == REDUM_STACK_EV_REQUEST) {
			cr_assert_eq(errs, 0, "request after an error");
			++reqs;
		}
		if (ev->type == REDUM_STACK_EV_SRV_ERROR)
			++errs;
		redum_stack_event_release(t.tu, ev);
	}
	cr_assert(t.removed);
	cr_assert_eq(reqs, cap);
	cr_assert_eq(errs, cap);
	cr_assert_eq(redum_stack_tu_free(t.tu), 0);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	stop_stack(stack, false, &st);
	cr_assert_geq(st.busy_503, 10);
}


/* CANCEL of a pending INVITE: libre answers the CANCEL 200, the stack the
 * INVITE 487; the TU is told and hands the view back. */
Test(stack, cancel_pending_invite)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint64_t id;
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_INVITE));

	pid = uac(stack, "uac_cancel.xml", "-m", "1", NULL);

	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
	cr_assert_not_null(ev);
	cr_assert_eq(pl_strcmp(&ev->msg->met, "INVITE"), 0);
	id = ev->id;
	redum_stack_event_release(t.tu, ev);

	ev = ttu_expect(&t, REDUM_STACK_EV_CANCELLED, 20000);
	cr_assert_not_null(ev, "no CANCELLED");
	cr_assert_eq(ev->id, id);
	redum_stack_event_release(t.tu, ev);

	/* a late final is not sent, but hands the view back */
	cr_assert_eq(redum_stack_reply(t.tu, id, 200, "OK", 0, NULL, NULL, 0),
		     0);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.req_in[REDUM_STACK_M_CANCEL], 1);
	cr_assert_eq(st.resp_out[3], 1);          /* the 487 */
	cr_assert_eq(st.resp_out[1], 1);          /* 200 to CANCEL only */
	cr_assert_eq(st.strans_alive, 0);
}


/* The same calls over TCP (no 2xx retransmission on a reliable transport,
 * ACKs still matched). */
Test(stack, echo_calls_over_tcp)
{
	struct redum_stack_conf conf;
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	pid_t pid;

	redum_stack_conf_init(&conf);
	conf.ctrans_hsize = conf.strans_hsize = conf.obj_hsize = 1024;
	cr_assert_eq(redum_stack_conf_listen(&conf, "tcp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_start(&stack, &conf), 0);
	cr_assert_eq(echo_tu_start(&et, stack, false), 0);

	pid = th_sipp_spawn(target_of(stack), th_free_port(), "-t", "t1",
			    "-sn", "uac", "-m", "50", "-r", "100", NULL);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");

	stop_with_echo(stack, et, &ets, &st);

	cr_assert_eq(ets.invites, 50);
	cr_assert_eq(ets.acks, 50);
	cr_assert_eq(ets.byes, 50);
	cr_assert_eq(st.retx_2xx, 0);
	cr_assert_eq(st.strans_alive, 0);
}


/* A full command FIFO refuses with ENOSPC (nothing queued, counted), and
 * the stack keeps working. */
Test(stack, full_command_fifo_enospc)
{
	struct redum_stack_conf conf;
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	unsigned ok = 0, full = 0;
	struct ttu t;

	redum_stack_conf_init(&conf);
	conf.ctrans_hsize = conf.strans_hsize = conf.obj_hsize = 64;
	conf.cmd_capacity = 8;
	cr_assert_eq(redum_stack_conf_listen(&conf, "udp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_start(&stack, &conf), 0);
	cr_assert_eq(ttu_start(&t, stack, 0), 0);

	for (int i = 0; i < 200000 && full < 100; i++) {
		int err = redum_stack_srv_release(t.tu, (uint64_t)i + 1);
		if (!err)
			++ok;
		else if (err == ENOSPC)
			++full;
		else
			cr_assert_fail("unexpected %d", err);
	}
	cr_assert_gt(full, 0, "never full (%u pushed)", ok);

	stop_with_tu(stack, &t, &st);
	cr_assert_geq(st.cmd_fifo.rejected_full, full); /* + wake-ups */
	cr_assert_eq(st.cmd_rejected, ok);   /* unknown ids: refused */
}


/* Graceful stop with a request pending: new requests get 503 meanwhile,
 * the TU still answers the pending one, then it is removed and the stack
 * ends. */
Test(stack, graceful_shutdown_waits_for_pending)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct ttu t;
	uint64_t id;
	pid_t pid, pid2;

	start_with_tu(&stack, 500, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS));

	pid = uac(stack, "uac_options.xml", "-m", "1", NULL);
	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
	cr_assert_not_null(ev);
	id = ev->id;
	redum_stack_event_release(t.tu, ev);

	cr_assert_eq(redum_stack_shutdown(stack, false), 0);
	ttu_pump(&t, 100);
	cr_assert_not(t.removed, "removed with a request pending");

	pid2 = uac(stack, "uac_options_503.xml", "-m", "1", NULL);
	cr_assert_eq(th_sipp_wait(pid2, SIPP_WAIT), 0, "no 503 while stopping");

	cr_assert_eq(redum_stack_reply(t.tu, id, 200, "OK", 0, NULL, NULL, 0),
		     0);
	cr_assert(ttu_finish(&t, 10000), "no TransactionUserRemoved");
	cr_assert_eq(redum_stack_join(stack, &st), 0);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "pending OPTIONS lost");
	cr_assert_eq(st.strans_alive, 0);
	cr_assert_geq(st.busy_503, 1);
}


/* A UDP socket on 127.0.0.1 (kernel's port, in @p me) and in @p dst the
 * stack's first listener: a raw SIP peer. */
static int udp_peer(struct redum_stack *stack, struct sockaddr_in *me,
		    struct sockaddr_in *dst)
{
	socklen_t len = sizeof(*me);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	memset(me, 0, sizeof(*me));
	me->sin_family = AF_INET;
	me->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)me, sizeof(*me)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)me, &len), 0);
	*dst = *me;
	dst->sin_port = htons(th_stack_port(stack));

	return fd;
}


/* Answers 200 to every request the TU @p t has waiting (counted in
 * @p reqs) and hands every event back. */
static void answer_pending(struct ttu *t, unsigned *reqs)
{
	struct redum_stack_event *ev;

	while ((ev = ttu_next(t, 5)) != NULL) {
		if (ev->type == REDUM_STACK_EV_REQUEST) {
			++*reqs;
			cr_assert_eq(redum_stack_reply(t->tu, ev->id, 200,
						       "OK", 0, NULL, NULL, 0),
				     0);
		}
		redum_stack_event_release(t->tu, ev);
	}
}


/* One OPTIONS datagram from @p fd (bound to @p myport) to @p dst; @p tag
 * makes its branch, From-tag and Call-ID unique. */
static void send_options(int fd, const struct sockaddr_in *dst,
			 uint16_t myport, const char *tag)
{
	char buf[1024];
	int l = snprintf(buf, sizeof(buf),
		"OPTIONS sip:x@127.0.0.1:%u SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKovl%s\r\n"
		"From: <sip:t@127.0.0.1>;tag=f%s\r\n"
		"To: <sip:x@127.0.0.1>\r\n"
		"Call-ID: ovl-%s-%d\r\n"
		"CSeq: 1 OPTIONS\r\n"
		"Max-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n",
		ntohs(dst->sin_port), myport, tag, tag, tag, (int)getpid());

	(void)sendto(fd, buf, (size_t)l, 0, (const struct sockaddr *)dst,
		     sizeof(*dst));
}


/* A stack on UDP only, with @p conf's settings and small hashes, a test TU
 * @p t taking OPTIONS, and a raw peer (its address in @p me, the stack's
 * in @p dst). @return the peer's fd */
static int start_options_peer(struct redum_stack **stackp, struct ttu *t,
			      struct redum_stack_conf *conf,
			      struct sockaddr_in *me, struct sockaddr_in *dst)
{
	static const struct redum_stack_tu_conf tconf = {
		.name = "options",
		.methods = REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS),
	};

	conf->ctrans_hsize = conf->strans_hsize = conf->obj_hsize = 1024;
	cr_assert_eq(redum_stack_conf_listen(conf, "udp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_start(stackp, conf), 0);
	cr_assert_eq(ttu_start_conf(t, *stackp, &tconf), 0);

	return udp_peer(*stackp, me, dst);
}


/* Makes the stack thread sleep @p ms and meanwhile sends it @p n OPTIONS
 * from @p fd (tags PREFIX0, PREFIX1, ...). */
static void options_while_stalled(struct redum_stack *stack, int fd,
				  const struct sockaddr_in *me,
				  const struct sockaddr_in *dst, uint32_t ms,
				  int n, const char *prefix)
{
	cr_assert_eq(redum_stack_debug_stall(stack, ms), 0);
	usleep(50000);
	for (int i = 0; i < n; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "%s%d", prefix, i);
		send_options(fd, dst, ntohs(me->sin_port), tag);
	}
}


/* Overload control: while the stack thread stalls, datagrams pile up in
 * its (small) UDP receive buffer; once it runs again it sheds new requests
 * with 503 until the queue is short, then routes again. */
Test(stack, overload_sheds_new_requests)
{
	struct redum_stack_conf conf;
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	unsigned n503 = 0, n200 = 0, reqs = 0;
	char buf[2048];
	struct ttu t;
	int64_t end;
	int fd;

	redum_stack_conf_init(&conf);
	conf.udp_rcvbuf = 65536;
	fd = start_options_peer(&stack, &t, &conf, &me, &dst);

	options_while_stalled(stack, fd, &me, &dst, 500, 600, "");

	/* answer what is routed, count what comes back */
	end = th_now() + 5000;
	while (th_now() < end) {
		ssize_t r;

		answer_pending(&t, &reqs);
		while ((r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
			buf[r] = 0;
			if (!strncmp(buf, "SIP/2.0 503", 11))
				++n503;
			else if (!strncmp(buf, "SIP/2.0 200", 11))
				++n200;
		}
		redum_stack_stats(stack, &st);
		if (st.overloads && reqs == n200 &&
		    n503 + n200 + st.rx_drops >= 600)
			break;
	}

	redum_stack_stats(stack, &st);
	fprintf(stderr, "overload: 503 %u, 200 %u, routed %u, shed %llu, "
		"drops %llu, overloads %llu\n", n503, n200, reqs,
		(unsigned long long)st.shed_503,
		(unsigned long long)st.rx_drops,
		(unsigned long long)st.overloads);
	cr_assert_geq(st.overloads, 1, "never overloaded");
	cr_assert_gt(st.shed_503, 0);
	cr_assert_gt(n503, 0, "no 503 received");
	cr_assert_eq(st.shed_503 + reqs + st.rx_drops >= 600, true,
		     "shed %llu routed %u dropped %llu",
		     (unsigned long long)st.shed_503, reqs,
		     (unsigned long long)st.rx_drops);

	/* calm again: a new request is routed */
	usleep(100000);
	send_options(fd, &dst, ntohs(me.sin_port), "end");
	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 5000);
	cr_assert_not_null(ev, "not routed after the overload");
	cr_assert_eq(redum_stack_reply(t.tu, ev->id, 200, "OK", 0, NULL, NULL,
				       0), 0);
	redum_stack_event_release(t.tu, ev);

	close(fd);
	stop_with_tu(stack, &t, &st);
}


/* A second 2xx with another To-tag (a fork) after the first 2xx is
 * reported with the INVITE's token; the TU forks the dialog, ACKs and BYEs
 * it; each ACK and BYE carries its own dialog's To-tag (checked by SIPp). */
Test(stack, forked_2xx_reported_and_acked_per_dialog)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint32_t cseq;
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t, 0);

	pid = uas_dialog(stack, &t, "uas_fork.xml", "uas");
	cr_assert_eq(redum_stack_drequest(t.tu, 7, 1, REDUM_STACK_F_CONTACT,
					  "INVITE", NULL, NULL, 0), 0);

	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 20000);
	cr_assert_not_null(ev, "no 200 to INVITE");
	cr_assert_eq(ev->msg->scode, 200);
	cr_assert_eq(pl_strcmp(&ev->msg->to.tag, "forkA1"), 0);
	cseq = ev->msg->cseq.num;
	cr_assert_eq(redum_stack_dlg_create(t.tu, 1, ev), 0);
	cr_assert_eq(redum_stack_ack(t.tu, 1, cseq, NULL, NULL, 0), 0);

	/* the other fork: same token and dialog, another To-tag */
	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 20000);
	cr_assert_not_null(ev, "fork 200 not reported");
	cr_assert_eq(ev->id, 7);
	cr_assert_eq(ev->dlg, 1);
	cr_assert_eq(ev->msg->scode, 200);
	cr_assert_eq(pl_strcmp(&ev->msg->to.tag, "forkB1"), 0);
	cr_assert_eq(ev->msg->cseq.num, cseq);
	cr_assert_eq(redum_stack_dlg_fork(t.tu, 2, 1, ev), 0);
	cr_assert_eq(redum_stack_ack(t.tu, 2, cseq, NULL, NULL, 0), 0);

	bye(&t, 8, 2, "the fork");
	bye(&t, 9, 1, "the first dialog");

	cr_assert_eq(redum_stack_dlg_destroy(t.tu, 1), 0);
	cr_assert_eq(redum_stack_dlg_destroy(t.tu, 2), 0);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0,
		     "sipp failed (wrong dialog in an ACK or BYE?)");

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.forks, 1);
	cr_assert_eq(st.req_out[REDUM_STACK_M_ACK], 2);
	cr_assert_eq(st.req_out[REDUM_STACK_M_BYE], 2);
	cr_assert_eq(st.cmd_failed, 0);
	cr_assert_eq(st.dialogs_alive, 0);
}


/* A NOTIFY before the 2xx to our SUBSCRIBE reaches the TU with the
 * dialog's id (not the stack's 481), establishes the dialog, and the 2xx
 * that follows matches it. */
Test(stack, notify_before_2xx_routed_to_early_dialog)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint64_t srv;
	struct ttu t;
	pid_t pid;

	start_with_tu(&stack, 500, &t, 0);

	pid = uas_dialog(stack, &t, "uas_notify_first.xml", "pres");
	cr_assert_eq(redum_stack_drequest(t.tu, 7, 1, REDUM_STACK_F_CONTACT,
					  "SUBSCRIBE",
					  "Event: presence\r\nExpires: 60\r\n",
					  NULL, 0), 0);

	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 20000);
	cr_assert_not_null(ev, "NOTIFY not routed to the TU");
	cr_assert_eq(pl_strcmp(&ev->msg->met, "NOTIFY"), 0);
	cr_assert_eq(ev->dlg, 1);
	srv = ev->id;
	cr_assert_eq(redum_stack_dlg_create_srv(t.tu, 1, srv), 0);
	cr_assert_eq(redum_stack_reply(t.tu, srv, 200, "OK", 0, NULL, NULL,
				       0), 0);
	redum_stack_event_release(t.tu, ev);

	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 20000);
	cr_assert_not_null(ev, "no 200 to SUBSCRIBE");
	cr_assert_eq(ev->id, 7);
	cr_assert_eq(ev->msg->scode, 200);
	/* same tags as the NOTIFY's dialog: nothing to change */
	cr_assert_eq(redum_stack_dlg_create(t.tu, 1, ev), 0);

	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0, "sipp failed");
	cr_assert_eq(redum_stack_dlg_destroy(t.tu, 1), 0);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.unclaimed, 0, "the NOTIFY was 481'd");
	cr_assert_eq(st.cmd_failed, 0);
	cr_assert_eq(st.req_in[REDUM_STACK_M_NOTIFY], 1);
	cr_assert_eq(st.dialogs_alive, 0);
}


/* A graceful stop with 1,000 server and 1,000 client transactions in
 * flight: the stop waits while the TU answers every server transaction
 * (SIPp sees all 1,000 answered), and every client transaction still
 * pending at the graceful bound is reported (CLI_ERROR) exactly once
 * before TransactionUserRemoved. */
Test(stack, graceful_stop_with_2000_transactions_in_flight, .timeout = 120)
{
	enum { N = 1000 };
	static uint64_t srv[N];
	static uint8_t reported[N];
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	uint16_t hole = th_free_port();   /* nobody answers there */
	char uri[64], hdrs[256];
	unsigned nsrv = 0, nerr = 0, i;
	struct ttu t;
	pid_t pid;
	int err;

	/* T1 50 ms: the graceful bound is 64*T1 = 3.2 s */
	start_with_tu(&stack, 50, &t,
		      REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS));

	pid = uac(stack, "uac_options.xml", "-m", "1000", "-r", "1000",
		  "-l", "1000", NULL);
	cr_assert_gt(pid, 0);

	snprintf(uri, sizeof(uri), "sip:hole@127.0.0.1:%u", hole);
	for (i = 0; i < N; i++) {
		snprintf(hdrs, sizeof(hdrs),
			 "To: <%s>\r\nFrom: <sip:t@127.0.0.1>;tag=t%u\r\n"
			 "Call-ID: hole-%u\r\nCSeq: 1 OPTIONS\r\n", uri, i, i);
		while ((err = redum_stack_request(t.tu, 1 + i, 0, "OPTIONS",
						  uri, NULL, hdrs, NULL, 0))
		       == ENOSPC)
			ttu_pump(&t, 1);
		cr_assert_eq(err, 0);
	}

	while (nsrv < N && (ev = ttu_next(&t, 20000))) {
		if (ev->type == REDUM_STACK_EV_REQUEST)
			srv[nsrv++] = ev->id;
		redum_stack_event_release(t.tu, ev);
	}
	cr_assert_eq(nsrv, N, "only %u of %u OPTIONS reached the TU", nsrv,
		     N);

	cr_assert_eq(redum_stack_shutdown(stack, false), 0);
	for (i = 0; i < N; i++) {
		while ((err = redum_stack_reply(t.tu, srv[i], 200, "OK", 0,
						NULL, NULL, 0)) == ENOSPC)
			usleep(1000);
		cr_assert_eq(err, 0);
	}

	/* until TransactionUserRemoved: the client transactions' reports */
	while ((ev = ttu_next(&t, 20000))) {
		if (ev->type == REDUM_STACK_EV_CLI_ERROR) {
			cr_assert(ev->id >= 1 && ev->id <= N);
			cr_assert_not(reported[ev->id - 1], "token %llu twice",
				      (unsigned long long)ev->id);
			reported[ev->id - 1] = 1;
			++nerr;
		}
		redum_stack_event_release(t.tu, ev);
	}
	cr_assert(t.removed, "no TransactionUserRemoved");
	cr_assert_eq(nerr, N, "%u of %u client transactions reported", nerr,
		     N);
	cr_assert(ttu_finish(&t, 10000));
	cr_assert_eq(redum_stack_join(stack, &st), 0);
	cr_assert_eq(th_sipp_wait(pid, SIPP_WAIT), 0,
		     "SIPp saw an OPTIONS unanswered");
	cr_assert_eq(st.strans_alive, 0);
	cr_assert_eq(st.ctrans_alive, 0);
	cr_assert_eq(st.resp_out[1], N, "2xx sent: %llu",
		     (unsigned long long)st.resp_out[1]);
}


/* The next datagram on @p fd within @p ms that starts with @p prefix (NULL:
 * any; others are skipped) into @p buf (NUL-terminated); with a TU @p t
 * (else NULL), its requests are answered 200 meanwhile (counted in
 * @p reqs). @return its length, or 0 */
static size_t recv_dgram(int fd, struct ttu *t, const char *prefix,
			 char *buf, size_t sz, int ms, unsigned *reqs)
{
	int64_t end = th_now() + ms;

	while (th_now() < end) {
		ssize_t r;

		if (t)
			answer_pending(t, reqs);
		r = recv(fd, buf, sz - 1, MSG_DONTWAIT);
		if (r <= 0) {
			if (!t)
				usleep(2000);
			continue;
		}
		buf[r] = 0;
		if (!prefix || !strncmp(buf, prefix, strlen(prefix)))
			return (size_t)r;
	}

	return 0;
}


/* A non-INVITE request retransmitted after its final response (as if the
 * 200 were lost) is answered with the same bytes from the compact
 * Completed record (done.c, RFC 3261 17.2.2), and reaches the TU once. */
Test(stack, non_invite_retransmission_answered_from_done)
{
	struct redum_stack_tu_conf tconf = {
		.name = "done",
		.methods = REDUM_STACK_MBIT(REDUM_STACK_M_OPTIONS),
	};
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	char first[2048], again[2048];
	size_t n1, n2;
	unsigned reqs = 0;
	struct ttu t;
	int fd;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	cr_assert_eq(ttu_start_conf(&t, stack, &tconf), 0);

	fd = udp_peer(stack, &me, &dst);

	send_options(fd, &dst, ntohs(me.sin_port), "done1");
	n1 = recv_dgram(fd, &t, NULL, first, sizeof(first), 5000, &reqs);
	cr_assert_gt(n1, 0, "no answer");
	cr_assert_eq(strncmp(first, "SIP/2.0 200", 11), 0, "%s", first);

	send_options(fd, &dst, ntohs(me.sin_port), "done1");
	n2 = recv_dgram(fd, &t, NULL, again, sizeof(again), 5000, &reqs);
	cr_assert_eq(n2, n1, "no or another answer to the retransmission");
	cr_assert_eq(memcmp(first, again, n1), 0);

	/* nothing more comes, and the TU saw the request once */
	cr_assert_eq(recv_dgram(fd, &t, NULL, again, sizeof(again), 300, &reqs),
		     0);
	cr_assert_eq(reqs, 1);

	redum_stack_stats(stack, &st);
	cr_assert_eq(st.done_kept, 1);
	cr_assert_eq(st.done_absorbed, 1);
	cr_assert_eq(st.req_in[REDUM_STACK_M_OPTIONS], 1);
	cr_assert_eq(st.req_rx, 2);
	cr_assert_eq(st.req_absorbed, 1);
	cr_assert_eq(st.resp_out[1], 1);   /* the re-send is no new reply */
	close(fd);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.strans_alive, 0);
}


/* Copies header line @p name (with its CRLF) of SIP message @p msg to the
 * end of @p out; the header must be there. */
static void copy_header(char *out, size_t sz, const char *msg,
			const char *name)
{
	const char *h = strstr(msg, name), *e;

	cr_assert_not_null(h, "no %s in:\n%s", name, msg);
	e = strstr(h, "\r\n");
	cr_assert_not_null(e);
	snprintf(out + strlen(out), sz - strlen(out), "%.*s\r\n",
		 (int)(e - h), h);
}


/* libre re-sends an unanswered request itself (Timer E, T1 = 500 ms) and
 * counts nothing; the stack counts each re-send (retx_req). The raw peer
 * lets the OPTIONS go unanswered until its third copy, then answers. */
Test(stack, client_request_retransmissions_counted)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	char uri[64], hdrs[512], req[2048], copy[2048], resp[2048] = "";
	size_t n;
	struct ttu t;
	int fd;

	start_with_tu(&stack, 500, &t, 0);
	fd = udp_peer(stack, &me, &dst);

	snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u",
		 ntohs(me.sin_port));
	cr_assert_eq(redum_stack_request(t.tu, 7, 0, "OPTIONS", uri, NULL,
					 hdrs_for(hdrs, sizeof(hdrs),
						  ntohs(me.sin_port),
						  th_stack_port(stack),
						  "OPTIONS", 1),
					 NULL, 0), 0);

	n = recv_dgram(fd, NULL, "OPTIONS ", req, sizeof(req), 5000, NULL);
	cr_assert_gt(n, 0, "no OPTIONS");
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(recv_dgram(fd, NULL, "OPTIONS ", copy,
					sizeof(copy), 5000, NULL), n,
			     "copy %d missing", i + 1);
		cr_assert_eq(memcmp(req, copy, n), 0, "copy %d differs", i + 1);
	}

	strcpy(resp, "SIP/2.0 200 OK\r\n");
	copy_header(resp, sizeof(resp), req, "Via:");
	copy_header(resp, sizeof(resp), req, "From:");
	copy_header(resp, sizeof(resp), req, "To:");
	copy_header(resp, sizeof(resp), req, "Call-ID:");
	copy_header(resp, sizeof(resp), req, "CSeq:");
	strcat(resp, "Content-Length: 0\r\n\r\n");
	cr_assert_gt(sendto(fd, resp, strlen(resp), 0,
			    (const struct sockaddr *)&dst, sizeof(dst)), 0);

	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 5000);
	cr_assert_not_null(ev, "the 200 was not reported");
	cr_assert_eq(ev->id, 7);
	cr_assert_eq(ev->msg->scode, 200);
	redum_stack_event_release(t.tu, ev);
	close(fd);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.req_out[REDUM_STACK_M_OPTIONS], 1);
	cr_assert_eq(st.retx_req, 2, "retx_req %llu",
		     (unsigned long long)st.retx_req);
	cr_assert_eq(st.retx_final, 0);
	cr_assert_eq(st.ctrans_alive, 0);
}


/* A non-2xx final to INVITE is re-sent by libre (Timer G) until the ACK;
 * the stack counts each re-send (retx_final). The raw peer ACKs after the
 * second copy of the 486. */
Test(stack, invite_final_retransmissions_counted)
{
	struct redum_stack_tu_conf tconf = {
		.name = "busy",
		.methods = REDUM_STACK_MBIT(REDUM_STACK_M_INVITE),
	};
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	char msg[2048], first[2048], copy[2048], ack[2048];
	size_t n;
	struct ttu t;
	int fd, l;

	cr_assert_eq(th_stack_start(&stack, 500), 0);
	cr_assert_eq(ttu_start_conf(&t, stack, &tconf), 0);
	fd = udp_peer(stack, &me, &dst);

	l = snprintf(msg, sizeof(msg),
		"INVITE sip:x@127.0.0.1:%u SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKgretx\r\n"
		"From: <sip:t@127.0.0.1>;tag=fg\r\n"
		"To: <sip:x@127.0.0.1>\r\n"
		"Call-ID: gretx-%d\r\n"
		"CSeq: 1 INVITE\r\n"
		"Contact: <sip:t@127.0.0.1:%u>\r\n"
		"Max-Forwards: 70\r\n"
		"Content-Length: 0\r\n\r\n",
		ntohs(dst.sin_port), ntohs(me.sin_port), (int)getpid(),
		ntohs(me.sin_port));
	cr_assert_gt(sendto(fd, msg, (size_t)l, 0,
			    (const struct sockaddr *)&dst, sizeof(dst)), 0);

	ev = ttu_expect(&t, REDUM_STACK_EV_REQUEST, 5000);
	cr_assert_not_null(ev, "INVITE not routed");
	cr_assert_eq(redum_stack_reply(t.tu, ev->id, 486, "Busy Here", 0,
				       NULL, NULL, 0), 0);
	redum_stack_event_release(t.tu, ev);

	n = recv_dgram(fd, NULL, "SIP/2.0 486", first, sizeof(first), 5000,
		       NULL);
	cr_assert_gt(n, 0, "no 486");
	cr_assert_eq(recv_dgram(fd, NULL, "SIP/2.0 486", copy, sizeof(copy),
				5000, NULL),
		     n, "no re-sent 486");
	cr_assert_eq(memcmp(first, copy, n), 0);

	ack[0] = 0;
	snprintf(ack, sizeof(ack), "ACK sip:x@127.0.0.1:%u SIP/2.0\r\n",
		 ntohs(dst.sin_port));
	copy_header(ack, sizeof(ack), first, "Via:");
	copy_header(ack, sizeof(ack), first, "From:");
	copy_header(ack, sizeof(ack), first, "To:");
	copy_header(ack, sizeof(ack), first, "Call-ID:");
	strcat(ack, "CSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
	       "Content-Length: 0\r\n\r\n");
	cr_assert_gt(sendto(fd, ack, strlen(ack), 0,
			    (const struct sockaddr *)&dst, sizeof(dst)), 0);

	/* Timer G stops at the ACK: no third copy (it was due at 1.5 s) */
	cr_assert_eq(recv_dgram(fd, NULL, "SIP/2.0 486", copy, sizeof(copy),
				1500, NULL), 0,
		     "486 still re-sent after the ACK");
	close(fd);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.resp_out[3], 1);   /* one 4xx: re-sends are no new reply */
	cr_assert_eq(st.retx_final, 1, "retx_final %llu",
		     (unsigned long long)st.retx_final);
	cr_assert_eq(st.retx_req, 0);
}


/* Five OPTIONS sent while the stack thread (overload_delay_ms 100,
 * overload_interval_ms @p interval_ms) stalls 400 ms: each of the five
 * answers must be @p status (a 503 with Retry-After). The stack, TU and
 * peer stay up for the caller. @return how many reached the TU */
static unsigned stall_burst(uint32_t interval_ms, const char *status,
			    struct redum_stack **stackp, struct ttu *t,
			    int *fdp, struct sockaddr_in *me,
			    struct sockaddr_in *dst)
{
	struct redum_stack_conf conf;
	char buf[2048];
	unsigned n = 0, reqs = 0;

	redum_stack_conf_init(&conf);
	conf.overload_delay_ms = 100;
	conf.overload_interval_ms = interval_ms;
	*fdp = start_options_peer(stackp, t, &conf, me, dst);

	options_while_stalled(*stackp, *fdp, me, dst, 400, 5, "burst");

	while (n < 5 && recv_dgram(*fdp, t, NULL, buf, sizeof(buf), 3000,
				   &reqs)) {
		cr_assert_eq(strncmp(buf, status, strlen(status)), 0, "%s",
			     buf);
		if (!strncmp(buf, "SIP/2.0 503", 11))
			cr_assert_not_null(strstr(buf, "\r\nRetry-After: 5\r\n"),
					   "%s", buf);
		++n;
	}
	cr_assert_eq(n, 5, "%u answers of 5", n);

	return reqs;
}


/* Overload control by queueing delay: requests that waited longer than
 * overload_delay_ms in the receive queue (here: while the stack thread
 * stalls) get 503 + Retry-After, statelessly, though the queue is nearly
 * empty (interval 0: no standing time asked); a fresh request afterwards
 * is routed. */
Test(stack, late_requests_shed_by_queueing_delay)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	char buf[2048];
	unsigned reqs;
	struct ttu t;
	size_t n;
	int fd;

	reqs = stall_burst(0, "SIP/2.0 503", &stack, &t, &fd, &me, &dst);
	cr_assert_eq(reqs, 0, "a late request reached the TU");

	/* on time again: routed and answered by the TU */
	send_options(fd, &dst, ntohs(me.sin_port), "fresh");
	n = recv_dgram(fd, &t, NULL, buf, sizeof(buf), 5000, &reqs);
	cr_assert_gt(n, 0, "no answer to a fresh request");
	cr_assert_eq(strncmp(buf, "SIP/2.0 200", 11), 0, "%s", buf);
	cr_assert_eq(reqs, 1);
	close(fd);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.shed_late, 5);
	cr_assert_eq(st.shed_503, 5);
	cr_assert_eq(st.overloads, 0);
	cr_assert_eq(st.resp_out[4], 5);    /* 5xx */
	cr_assert_eq(st.strans_alive, 0);
}


/* With the default interval (100 ms), the late burst one stall leaves is
 * not overload: it is read at once and every request is answered by the
 * TU (a standing queue is what gets shed; see the test above). */
Test(stack, one_stall_burst_is_answered)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct sockaddr_in dst, me;
	struct ttu t;
	int fd;

	cr_assert_eq(stall_burst(100, "SIP/2.0 200", &stack, &t, &fd, &me,
				 &dst), 5);
	close(fd);

	stop_with_tu(stack, &t, &st);
	cr_assert_eq(st.shed_late, 0);
	cr_assert_eq(st.shed_503, 0);
}
