/**
 * @file test_overload.c  Overload on the wire (issue 10 item 4,
 *                        docs/OVERLOAD.md): new work gets 503 with
 *                        Retry-After, established dialogs are still
 *                        served, and the stack's counters account for
 *                        every request.
 *
 * Server: a stack (udp:127.0.0.1:0) and a DUM with a small inbound FIFO
 * (64), DUM and the application on one thread of our own, answering every
 * call 200. Client: a raw UDP socket on this thread that writes the SIP
 * itself, so it knows exactly which request datagrams it sent.
 *
 * Overload without timing: the application handler of one "trigger" call
 * blocks (a condition variable) until the client has sent its burst and
 * the stack has read all of it: DUM is stalled, its inbound FIFO fills,
 * and what the stack does then is deterministic. The burst: 150 new
 * INVITEs, 50 OPTIONS, a BYE for each of 10 established calls, and
 * retransmissions (the first 20 INVITEs and 10 OPTIONS again, verbatim).
 * Then DUM is released and the client collects a final response for
 * every transaction (ACKing every INVITE final).
 *
 * Asserted: every new request got exactly one final, 200 or 503; some
 * INVITEs and some OPTIONS got 503, every 503 with Retry-After; every BYE
 * got 200; and the identity (docs/OVERLOAD.md):
 *   req_rx        == request datagrams the client sent (no kernel drop)
 *   req_absorbed  == retransmissions sent + ACKs of non-2xx finals
 *   sum(req_in) - req_in[ACK] == finals sent (resp_out 2xx..6xx)
 *                 == transactions the client opened == finals it got
 *   resp_out 2xx == 200s received, resp_out 5xx == 503s received
 *                == stack busy_503 + DUM busy_503
 *   req_in[ACK] == acks == ACKs of 2xx sent.
 * Every wait is bounded; the handler's block has its own watchdog.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/shutdown.h>
#include <redum/stack.h>

enum {
	ESTABLISHED = 10,     /* calls set up before the overload      */
	N_INVITE = 150,       /* new INVITEs in the burst              */
	N_OPTIONS = 50,       /* new OPTIONS in the burst              */
	RETX_INVITE = 20,     /* of which sent twice                   */
	RETX_OPTIONS = 10,
	TU_CAPACITY = 64,     /* DUM's inbound FIFO                    */
	NTX = 1 + ESTABLISHED + N_INVITE + N_OPTIONS + ESTABLISHED,
	WAIT_MS = 30000,      /* any single wait (a hang detector)     */
};

static const char sdp[] =
	"v=0\r\no=ov 1 1 IN IP4 127.0.0.1\r\ns=ov\r\nc=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n";

/* ---- the server: stack + DUM on a thread of ours ------------------------ */

static struct {
	struct redum_stack *stack;
	struct redum_dum *dum;
	uint16_t port;
	pthread_t thr;
	int start_err;
	_Atomic bool started;
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool arm;        /* [mtx] the next new call blocks              */
	bool stalled;    /* [mtx] it does                               */
	bool release;    /* [mtx] let it go                             */
} srv = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void on_new(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)arg;

	pthread_mutex_lock(&srv.mtx);
	if (srv.arm) {
		struct timespec dl;

		/* the stall: this thread is DUM's, so DUM stops here */
		srv.arm = false;
		srv.stalled = true;
		pthread_cond_broadcast(&srv.cond);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += WAIT_MS / 1000;
		while (!srv.release)
			if (pthread_cond_timedwait(&srv.cond, &srv.mtx, &dl))
				break;   /* watchdog: the test fails elsewhere */
	}
	pthread_mutex_unlock(&srv.mtx);

	(void)redum_invite_answer(dum, ev->h, 200, NULL, "application/sdp",
				  sdp, sizeof(sdp) - 1);
}


static void on_deleted(struct redum_dum *dum, void *arg)
{
	(void)dum;
	(void)arg;
	re_cancel();
}


static void *srv_thread(void *arg)
{
	int err;
	(void)arg;

	err = re_thread_init();
	if (!err)
		err = redum_dum_attach(srv.dum);
	if (!err)
		err = redum_dum_app_attach(srv.dum, false, 0);
	srv.start_err = err;
	atomic_store(&srv.started, true);
	if (!err)
		(void)re_main(NULL);
	re_thread_close();

	return NULL;
}


static void srv_start(void)
{
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	struct redum_dum_handlers hd = {
		.invite = {.on_new = on_new},
		.on_dum_can_be_deleted = on_deleted,
	};
	struct sa la;
	int64_t end;

	cr_assert_eq(libre_init(), 0);
	redum_stack_conf_init(&sc);
	sc.software = "redum-overload-test";
	sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = 1024;
	sc.tcp_hsize = 16;
	cr_assert_eq(redum_stack_conf_listen(&sc, "udp:127.0.0.1:0"), 0);
	cr_assert_eq(redum_stack_start(&srv.stack, &sc), 0);
	cr_assert_eq(redum_stack_laddr(srv.stack, 0, NULL, &la), 0);
	srv.port = sa_port(&la);

	redum_dum_conf_init(&dc);
	dc.name = "overload";
	dc.tu_capacity = TU_CAPACITY;
	cr_assert_eq(redum_dum_alloc(&srv.dum, srv.stack, &dc, &hd), 0);
	cr_assert_eq(pthread_create(&srv.thr, NULL, srv_thread, NULL), 0);
	end = now_ms() + WAIT_MS;
	while (!atomic_load(&srv.started) && now_ms() < end)
		usleep(1000);
	cr_assert(atomic_load(&srv.started), "server thread did not start");
	cr_assert_eq(srv.start_err, 0);
}


static void srv_stop(void)
{
	pthread_mutex_lock(&srv.mtx);
	srv.release = true;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.mtx);

	(void)redum_dum_shutdown_force(srv.dum);
	pthread_join(srv.thr, NULL);
	cr_expect_eq(redum_dum_free(srv.dum), 0);
	(void)redum_stack_shutdown(srv.stack, true);
	cr_expect_eq(redum_stack_join(srv.stack, NULL), 0);
	libre_close();
}


/* ---- the client: raw SIP over UDP --------------------------------------- */

enum kind { K_INVITE, K_OPTIONS, K_BYE };

struct tx {
	enum kind kind;
	unsigned call;          /* the call (INVITE/BYE) or OPTIONS number */
	char branch[48];
	char callid[64];
	uint16_t final;         /* first final status, 0 while none        */
	bool retry_after;       /* that final had Retry-After              */
	char totag[64];
	char contact[128];
	unsigned finals;        /* distinct finals seen (must stay 1)      */
};

static struct {
	int fd;
	uint16_t port;
	struct sockaddr_in to;
	unsigned sent_req;      /* request datagrams sent                 */
	unsigned retx;          /* of which retransmissions               */
	unsigned ack_n2xx;      /* ACKs of non-2xx finals                 */
	unsigned ack_2xx;       /* ACKs of 2xx                            */
	struct tx tx[NTX];
	unsigned ntx;
	char last[NTX][2048];   /* each request as sent, for retransmission */
	size_t lastlen[NTX];
	unsigned tag;
} cli;


static void cli_open(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int sz = 4 * 1024 * 1024;

	cli.fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert(cli.fd >= 0);
	(void)setsockopt(cli.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(cli.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(cli.fd, (struct sockaddr *)&a, &len), 0);
	cli.port = ntohs(a.sin_port);
	cli.to.sin_family = AF_INET;
	cli.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cli.to.sin_port = htons(srv.port);
	cli.tag = (unsigned)now_ms();
}


static void send_raw(const char *buf, size_t len)
{
	ssize_t n = sendto(cli.fd, buf, len, 0, (struct sockaddr *)&cli.to,
			   sizeof(cli.to));
	cr_assert_eq(n, (ssize_t)len, "sendto: %s", strerror(errno));
	++cli.sent_req;
}


/* Opens a transaction: INVITE or OPTIONS (new), or BYE on @p dlg. */
static struct tx *tx_send(enum kind kind, unsigned call, const struct tx *dlg)
{
	struct tx *t;
	/* built here, then copied: gcc cannot tell t's fields from buf, both
	 * in cli, apart (-Werror=restrict in optimised builds) */
	char branch[sizeof(t->branch)], callid[sizeof(t->callid)];
	char *buf;
	int len;

	cr_assert(cli.ntx < NTX);
	t = &cli.tx[cli.ntx];
	buf = cli.last[cli.ntx];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->call = call;
	snprintf(branch, sizeof(branch), "z9hG4bK-ov%u-%u", cli.tag, cli.ntx);
	memcpy(t->branch, branch, sizeof(branch));

	if (kind == K_BYE) {
		snprintf(callid, sizeof(callid), "%s", dlg->callid);
		len = snprintf(buf, sizeof(cli.last[0]),
			"BYE %s SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:ov@127.0.0.1:%u>;tag=f%u\r\n"
			"To: <sip:svc@127.0.0.1:%u>;tag=%s\r\n"
			"Call-ID: %s\r\n"
			"CSeq: 2 BYE\r\n"
			"Content-Length: 0\r\n\r\n",
			dlg->contact, cli.port, branch, cli.port,
			dlg->call, srv.port, dlg->totag, callid);
	}
	else {
		bool inv = kind == K_INVITE;

		snprintf(callid, sizeof(callid), "ov%u-%c%u@127.0.0.1",
			 cli.tag, inv ? 'i' : 'o', call);
		len = snprintf(buf, sizeof(cli.last[0]),
			"%s sip:svc@127.0.0.1:%u SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:ov@127.0.0.1:%u>;tag=f%u\r\n"
			"To: <sip:svc@127.0.0.1:%u>\r\n"
			"Call-ID: %s\r\n"
			"CSeq: 1 %s\r\n"
			"Contact: <sip:ov@127.0.0.1:%u>\r\n"
			"%s"
			"Content-Length: %zu\r\n\r\n%s",
			inv ? "INVITE" : "OPTIONS", srv.port, cli.port,
			branch, cli.port, call, srv.port, callid,
			inv ? "INVITE" : "OPTIONS", cli.port,
			inv ? "Content-Type: application/sdp\r\n" : "",
			inv ? sizeof(sdp) - 1 : (size_t)0, inv ? sdp : "");
	}
	cr_assert(len > 0 && (size_t)len < sizeof(cli.last[0]));
	memcpy(t->callid, callid, sizeof(callid));
	cli.lastlen[cli.ntx] = (size_t)len;
	++cli.ntx;
	send_raw(buf, (size_t)len);

	return t;
}


static void tx_retransmit(const struct tx *t)
{
	unsigned i = (unsigned)(t - cli.tx);

	send_raw(cli.last[i], cli.lastlen[i]);
	++cli.retx;
}


/* ACK of an INVITE final: same branch for a non-2xx (the transaction's),
 * a new one for a 2xx (a transaction of its own, RFC 3261 13.2.2.4). */
static void send_ack(const struct tx *t)
{
	bool ok = t->final < 300;
	char buf[1024];
	int len;

	len = snprintf(buf, sizeof(buf),
		"ACK %s SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s%s\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:ov@127.0.0.1:%u>;tag=f%u\r\n"
		"To: <sip:svc@127.0.0.1:%u>;tag=%s\r\n"
		"Call-ID: %s\r\n"
		"CSeq: 1 ACK\r\n"
		"Content-Length: 0\r\n\r\n",
		ok && t->contact[0] ? t->contact : "sip:svc@127.0.0.1",
		cli.port, t->branch, ok ? "-ack" : "", cli.port, t->call,
		srv.port, t->totag, t->callid);
	cr_assert(len > 0 && (size_t)len < sizeof(buf));
	if (!ok) {
		/* the Request-URI of a non-2xx ACK is the INVITE's */
		len = snprintf(buf, sizeof(buf),
			"ACK sip:svc@127.0.0.1:%u SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:ov@127.0.0.1:%u>;tag=f%u\r\n"
			"To: <sip:svc@127.0.0.1:%u>;tag=%s\r\n"
			"Call-ID: %s\r\n"
			"CSeq: 1 ACK\r\n"
			"Content-Length: 0\r\n\r\n",
			srv.port, cli.port, t->branch, cli.port, t->call,
			srv.port, t->totag, t->callid);
	}
	send_raw(buf, (size_t)len);
	if (ok)
		++cli.ack_2xx;
	else
		++cli.ack_n2xx;
}


/* Value of header @p name in @p msg (NUL-terminated copy), or false. */
static bool hdr(const char *msg, const char *name, char *out, size_t sz)
{
	size_t nl = strlen(name);
	const char *p = strstr(msg, "\r\n");

	while (p && p[2] != '\r') {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			break;
		if ((size_t)(end - line) > nl && line[nl] == ':' &&
		    !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;
			size_t n;

			while (*v == ' ')
				++v;
			n = (size_t)(end - v);
			if (n >= sz)
				n = sz - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		p = end;
	}

	return false;
}


static struct tx *tx_find(const char *callid, const char *method)
{
	for (unsigned i = 0; i < cli.ntx; i++) {
		struct tx *t = &cli.tx[i];
		const char *m = t->kind == K_INVITE ? "INVITE" :
			t->kind == K_OPTIONS ? "OPTIONS" : "BYE";

		if (!strcmp(t->callid, callid) && !strcmp(m, method))
			return t;
	}
	return NULL;
}


/* Reads responses for up to @p ms; records the first final of each
 * transaction and ACKs INVITE finals once. */
static void cli_read(int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		struct pollfd pfd = {.fd = cli.fd, .events = POLLIN};
		char buf[4096], callid[96], cseq[64], to[256], ct[256];
		char method[16];
		unsigned code, num;
		struct tx *t;
		ssize_t n;
		int left = (int)(end - now_ms());

		if (left < 0 || poll(&pfd, 1, left) <= 0)
			return;
		n = recv(cli.fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (sscanf(buf, "SIP/2.0 %u", &code) != 1 || code < 200)
			continue;
		if (!hdr(buf, "Call-ID", callid, sizeof(callid)) ||
		    !hdr(buf, "CSeq", cseq, sizeof(cseq)) ||
		    sscanf(cseq, "%u %15s", &num, method) != 2)
			continue;
		t = tx_find(callid, method);
		if (!t || t->final)
			continue;    /* a retransmitted final: seen */
		t->final = (uint16_t)code;
		++t->finals;
		t->retry_after = hdr(buf, "Retry-After", ct, sizeof(ct));
		if (hdr(buf, "To", to, sizeof(to))) {
			const char *tg = strstr(to, "tag=");

			if (tg)
				snprintf(t->totag, sizeof(t->totag), "%.*s",
					 (int)strcspn(tg + 4, ";> \r\n"),
					 tg + 4);
		}
		if (hdr(buf, "Contact", ct, sizeof(ct))) {
			char *lt = strchr(ct, '<'), *gt = strchr(ct, '>');

			if (lt && gt && gt > lt)
				snprintf(t->contact, sizeof(t->contact),
					 "%.*s", (int)(gt - lt - 1), lt + 1);
		}
		if (t->kind == K_INVITE)
			send_ack(t);
	}
}


static unsigned finals_pending(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cli.ntx; i++)
		n += !cli.tx[i].final;
	return n;
}


static void read_until_final(int ms)
{
	int64_t end = now_ms() + ms;

	while (finals_pending() && now_ms() < end)
		cli_read(50);
}


static uint64_t sum(const uint64_t *v, int n)
{
	uint64_t s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}


/* Waits until the stack has read every request sent so far and counted
 * every ACK of its 2xx sent so far (bounded), reading responses meanwhile;
 * returns the counters. Reading may send more (the ACK of a 503), so the
 * targets are read again on every round, not passed in. */
static void settle(struct redum_stack_stats *st)
{
	int64_t end = now_ms() + WAIT_MS;

	for (;;) {
		redum_stack_stats(srv.stack, st);
		if ((st->req_rx >= cli.sent_req && st->acks >= cli.ack_2xx) ||
		    now_ms() >= end)
			return;
		cli_read(20);
	}
}


Test(overload, new_work_503_dialogs_served_counters_account,
     .timeout = 120)
{
	struct redum_stack_stats st;
	struct redum_dum_stats ds;
	struct tx *est[ESTABLISHED], *inv[N_INVITE], *opt[N_OPTIONS];
	struct tx *byes[ESTABLISHED];
	unsigned i, inv503 = 0, inv200 = 0, opt503 = 0, opt200 = 0;
	unsigned ok200 = 0, got503 = 0, no_ra = 0, finals = 0;
	int64_t end;

	srv_start();
	cli_open();

	/* 1. calls established before the overload */
	for (i = 0; i < ESTABLISHED; i++)
		est[i] = tx_send(K_INVITE, i, NULL);
	read_until_final(WAIT_MS);
	for (i = 0; i < ESTABLISHED; i++)
		cr_assert_eq(est[i]->final, 200, "call %u: %u", i,
			     est[i]->final);

	/* 2. the stall: the trigger call's handler blocks DUM */
	pthread_mutex_lock(&srv.mtx);
	srv.arm = true;
	pthread_mutex_unlock(&srv.mtx);
	(void)tx_send(K_INVITE, 1000, NULL);
	end = now_ms() + WAIT_MS;
	pthread_mutex_lock(&srv.mtx);
	while (!srv.stalled && now_ms() < end) {
		pthread_mutex_unlock(&srv.mtx);
		cli_read(10);
		pthread_mutex_lock(&srv.mtx);
	}
	pthread_mutex_unlock(&srv.mtx);
	cr_assert(srv.stalled, "DUM did not take the trigger call");

	/* 3. the burst: far more new work than DUM's FIFO holds, the
	 * established calls' BYEs, retransmissions */
	for (i = 0; i < N_INVITE; i++)
		inv[i] = tx_send(K_INVITE, 2000 + i, NULL);
	for (i = 0; i < N_OPTIONS; i++)
		opt[i] = tx_send(K_OPTIONS, 3000 + i, NULL);
	for (i = 0; i < ESTABLISHED; i++)
		byes[i] = tx_send(K_BYE, 0, est[i]);
	for (i = 0; i < RETX_INVITE; i++)
		tx_retransmit(inv[i]);
	for (i = 0; i < RETX_OPTIONS; i++)
		tx_retransmit(opt[i]);

	/* the stack reads all of it while DUM stands still */
	settle(&st);
	cr_assert_eq(st.req_rx, cli.sent_req,
		     "stack read %llu of %u requests during the stall",
		     (unsigned long long)st.req_rx, cli.sent_req);

	/* 4. release DUM; every transaction gets its final */
	pthread_mutex_lock(&srv.mtx);
	srv.release = true;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.mtx);
	read_until_final(WAIT_MS);
	for (i = 0; i < cli.ntx; i++)
		if (!cli.tx[i].final)
			cr_log_error("no final: tx %u, %s %u", i,
				     cli.tx[i].kind == K_INVITE ? "INVITE" :
				     cli.tx[i].kind == K_OPTIONS ? "OPTIONS" :
				     "BYE", cli.tx[i].call);
	cr_assert_eq(finals_pending(), 0, "%u transactions without a final",
		     finals_pending());

	/* 5. on the wire */
	for (i = 0; i < cli.ntx; i++) {
		const struct tx *t = &cli.tx[i];

		cr_expect(t->final == 200 || t->final == 503,
			  "tx %u (%d): final %u", i, t->kind, t->final);
		cr_expect_eq(t->finals, 1);
		++finals;
		if (t->final == 200)
			++ok200;
		if (t->final == 503) {
			++got503;
			no_ra += !t->retry_after;
		}
	}
	for (i = 0; i < N_INVITE; i++) {
		inv503 += inv[i]->final == 503;
		inv200 += inv[i]->final == 200;
	}
	for (i = 0; i < N_OPTIONS; i++) {
		opt503 += opt[i]->final == 503;
		opt200 += opt[i]->final == 200;
	}
	cr_log_info("INVITEs: %u x 200, %u x 503; OPTIONS: %u x 200, "
		    "%u x 503", inv200, inv503, opt200, opt503);
	cr_expect(inv503 > 0, "no INVITE was refused");
	cr_expect(inv200 > 0, "no INVITE of the burst was served");
	cr_expect(opt503 > 0, "no OPTIONS was refused");
	cr_expect_eq(no_ra, 0, "%u 503s without Retry-After", no_ra);
	for (i = 0; i < ESTABLISHED; i++)
		cr_expect_eq(byes[i]->final, 200, "BYE %u: %u", i,
			     byes[i]->final);

	/* 6. the accounting identity, once the stack has read every ACK */
	settle(&st);
	redum_dum_stats(srv.dum, &ds);
	cr_expect_eq(st.rx_drops, 0, "kernel drops: the identity below "
		     "would not hold");
	cr_expect_eq(st.req_rx, cli.sent_req, "req_rx %llu, sent %u",
		     (unsigned long long)st.req_rx, cli.sent_req);
	cr_expect_eq(st.req_absorbed, cli.retx + cli.ack_n2xx,
		     "absorbed %llu, retransmissions %u + non-2xx ACKs %u",
		     (unsigned long long)st.req_absorbed, cli.retx,
		     cli.ack_n2xx);
	cr_expect_eq(sum(st.req_in, REDUM_STACK_M_COUNT) -
		     st.req_in[REDUM_STACK_M_ACK], cli.ntx,
		     "new requests in %llu, transactions opened %u",
		     (unsigned long long)(sum(st.req_in, REDUM_STACK_M_COUNT)
					  - st.req_in[REDUM_STACK_M_ACK]),
		     cli.ntx);
	cr_expect_eq(sum(&st.resp_out[1], 5), finals,
		     "finals sent %llu, received %u",
		     (unsigned long long)sum(&st.resp_out[1], 5), finals);
	cr_expect_eq(st.resp_out[1], ok200, "2xx sent %llu, received %u",
		     (unsigned long long)st.resp_out[1], ok200);
	cr_expect_eq(st.resp_out[4], got503, "5xx sent %llu, 503 received %u",
		     (unsigned long long)st.resp_out[4], got503);
	cr_expect_eq(st.busy_503 + ds.busy_503, got503,
		     "stack busy_503 %llu + DUM busy_503 %llu != %u",
		     (unsigned long long)st.busy_503,
		     (unsigned long long)ds.busy_503, got503);
	cr_expect_eq(st.req_in[REDUM_STACK_M_ACK], cli.ack_2xx,
		     "ACKs in %llu, 2xx ACKs sent %u",
		     (unsigned long long)st.req_in[REDUM_STACK_M_ACK],
		     cli.ack_2xx);
	cr_expect_eq(st.acks, cli.ack_2xx);
	cr_log_info("sent %u requests (%u retransmissions, %u non-2xx ACKs, "
		    "%u 2xx ACKs): req_rx %llu = req_in %llu + absorbed %llu; "
		    "finals %u (200: %u, 503: %u = stack %llu + DUM %llu)",
		    cli.sent_req, cli.retx, cli.ack_n2xx, cli.ack_2xx,
		    (unsigned long long)st.req_rx,
		    (unsigned long long)sum(st.req_in, REDUM_STACK_M_COUNT),
		    (unsigned long long)st.req_absorbed, finals, ok200,
		    got503, (unsigned long long)st.busy_503,
		    (unsigned long long)ds.busy_503);

	close(cli.fd);
	srv_stop();
}
