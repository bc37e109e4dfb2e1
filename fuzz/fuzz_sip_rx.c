/**
 * @file fuzz_sip_rx.c  libFuzzer harness: bytes -> a real stack + DUM
 *
 * One stack (udp:127.0.0.1:0) and one DUM thread run for the whole process,
 * with every server role on (calls answered, OPTIONS, a registrar,
 * subscriptions with a presence agent, publications, pager, generic
 * requests answered by the application). Each input is sent as ONE UDP
 * datagram over loopback to the stack's socket, so it takes exactly the
 * path of a received message: the kernel, redum's batched receive
 * (stack/udp_batch.c), libre's decoder (sip_msg_decode), libre's
 * transaction layer, redum's request checks and routing (stack/srv.c),
 * the stack -> DUM FIFO, DUM's dispatch and usages, DUM -> application
 * events (handled on this thread) and the replies back down.
 *
 * Synchronous per input: after the input, a barrier OPTIONS with a Call-ID
 * of its own goes on the same socket; the stack reads datagrams of one
 * socket in order and DUM handles its FIFO in order, so when the barrier's
 * response arrives both have processed the input. No answer within
 * BARRIER_MS is a hang: the harness aborts (libFuzzer reports a crash).
 *
 * Egress filter: a fuzzed Via or Contact could make the stack send to any
 * address, e.g. another test's server on 127.0.0.1:5060 or a host on the
 * Internet. sendto/sendmsg/sendmmsg/connect are interposed (the executable's
 * definitions win over libc's for libre and for redum): only this
 * harness's own socket may be written to; anything else "succeeds" without
 * leaving the process, and connect() is refused.
 *
 * Not instrumented: libre is Debian's shared library, so coverage (and
 * libFuzzer's guidance) covers redum's own code; libre's parser is still
 * exercised on every input (and under ASan if the build has it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/stack.h>
#include <redum/sub.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	BARRIER_MS = 10000,  /* an answer slower than this is a hang */
	MAX_DGRAM  = 8192,   /* the stack reads datagrams up to this */
};

static struct redum_stack *stack;
static struct redum_dum *dum;
static int sock = -1;                 /* the harness's UDP socket */
static struct sockaddr_in self_sin;   /* its address: the only egress */
static struct sockaddr_in stack_sin;
static uint64_t nbarrier;
static bool deleted;                  /* on_dum_can_be_deleted came */


/* ---- egress filter --------------------------------------------------------- */

typedef ssize_t (sendto_f)(int, const void *, size_t, int,
			   const struct sockaddr *, socklen_t);
typedef ssize_t (sendmsg_f)(int, const struct msghdr *, int);
typedef int (connect_f)(int, const struct sockaddr *, socklen_t);

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *to, socklen_t tolen);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags);
int connect(int fd, const struct sockaddr *to, socklen_t tolen);


/* Allowed: no address (a connected socket: its peer passed connect()),
 * the harness's socket, and the stack's own (the harness's sends). */
static bool egress_ok(const struct sockaddr *to, socklen_t tolen)
{
	const struct sockaddr_in *sin = (const void *)to;

	if (!to || !tolen)
		return true;
	if (to->sa_family != AF_INET || tolen < sizeof(*sin))
		return false;
	return sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
	       (sin->sin_port == self_sin.sin_port ||
		sin->sin_port == stack_sin.sin_port);
}


ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *to, socklen_t tolen)
{
	static sendto_f *real;

	if (!egress_ok(to, tolen))
		return (ssize_t)len;   /* "sent": dropped here */
	if (!real)
		real = (sendto_f *)dlsym(RTLD_NEXT, "sendto");
	return real(fd, buf, len, flags, to, tolen);
}


ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static sendmsg_f *real;

	if (!egress_ok(msg->msg_name, msg->msg_namelen)) {
		size_t n = 0;

		for (size_t i = 0; i < msg->msg_iovlen; i++)
			n += msg->msg_iov[i].iov_len;
		return (ssize_t)n;
	}
	if (!real)
		real = (sendmsg_f *)dlsym(RTLD_NEXT, "sendmsg");
	return real(fd, msg, flags);
}


/* One sendmsg() per datagram: each is filtered on its own. */
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	for (unsigned int i = 0; i < n; i++) {
		ssize_t r = sendmsg(fd, &vec[i].msg_hdr, flags);

		if (r < 0)
			return i ? (int)i : -1;
		vec[i].msg_len = (unsigned int)r;
	}

	return (int)n;
}


int connect(int fd, const struct sockaddr *to, socklen_t tolen)
{
	static connect_f *real;

	if (!egress_ok(to, tolen)) {
		errno = ECONNREFUSED;
		return -1;
	}
	if (!real)
		real = (connect_f *)dlsym(RTLD_NEXT, "connect");
	return real(fd, to, tolen);
}


/* ---- the application: every role answers -------------------------------- */

static const char sdp[] =
	"v=0\r\no=fuzz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n";


static void on_new(struct redum_dum *d, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)arg;
	(void)redum_invite_answer(d, ev->h, 180, NULL, NULL, NULL, 0);
	(void)redum_invite_answer(d, ev->h, 200, NULL, "application/sdp", sdp,
				  sizeof(sdp) - 1);
}


static void on_request(struct redum_dum *d, const struct redum_dum_event *ev,
		       void *arg)
{
	(void)arg;
	(void)redum_dum_respond(d, ev->h, 200, NULL, NULL, NULL, NULL, 0);
}


static void on_offer(struct redum_dum *d, const struct redum_dum_event *ev,
		     void *arg)
{
	(void)arg;
	/* a re-INVITE's offer: answer it */
	(void)redum_invite_answer(d, ev->h, 200, NULL, "application/sdp", sdp,
				  sizeof(sdp) - 1);
}


static void on_sub_new(struct redum_dum *d, const struct redum_dum_event *ev,
		       void *arg)
{
	(void)d;
	(void)ev;
	(void)arg;
	/* left unanswered: DUM's notify_wait_ms then ends it with 480 */
}


static void can_be_deleted(struct redum_dum *d, void *arg)
{
	(void)d;
	(void)arg;
	deleted = true;
}


static int64_t now_ms(void);


/* At exit (libFuzzer's -max_total_time/-runs end with exit()): stop DUM
 * and the stack as an application would, so that ASan's leak check at
 * exit sees what the run left behind. A crash or a hang abort()s and
 * skips this. */
static void stop(void)
{
	int64_t deadline = now_ms() + 30000;

	if (!dum)
		return;

	(void)redum_dum_stop(dum);
	while (!deleted && now_ms() < deadline) {
		struct pollfd pfd = {.fd = redum_dum_app_fd(dum),
				     .events = POLLIN};

		(void)poll(&pfd, 1, 100);
		(void)redum_dum_app_drain(dum);
	}
	if (!deleted) {
		fprintf(stderr, "fuzz: DUM did not stop within 30 s\n");
		abort();
	}
	if (redum_dum_free(dum))
		abort();
	dum = NULL;
	(void)redum_stack_shutdown(stack, false);
	if (redum_stack_join(stack, NULL))
		abort();
	close(sock);
	libre_close();
}


static void start(void)
{
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	struct redum_registrar_conf rc;
	struct redum_sub_conf subc;
	struct redum_dum_handlers hd;
	struct sa la;
	socklen_t len = sizeof(self_sin);
	int err;

	if (libre_init())
		abort();

	redum_stack_conf_init(&sc);
	sc.software = "redum-fuzz";
	sc.ctrans_hsize = sc.strans_hsize = sc.obj_hsize = 1024;
	sc.tcp_hsize = 16;
	sc.cmd_capacity = 8192;
	sc.udp_rcvbuf = sc.udp_sndbuf = 1u << 20;
	sc.overload_pct = 0;   /* a barrier must never be shed */
	sc.graceful_ms = 2000; /* bounds stop(): peers never answer */
	if (redum_stack_conf_listen(&sc, "udp:127.0.0.1:0") ||
	    redum_stack_start(&stack, &sc) ||
	    redum_stack_laddr(stack, 0, NULL, &la))
		abort();

	memset(&stack_sin, 0, sizeof(stack_sin));
	stack_sin.sin_family = AF_INET;
	stack_sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	stack_sin.sin_port = htons(sa_port(&la));

	redum_registrar_conf_init(&rc);
	redum_sub_conf_init(&subc);
	subc.events = "presence";
	subc.pub_store = true;
	subc.presence_agent = true;
	subc.pager = true;
	subc.notify_wait_ms = 2000;

	redum_dum_conf_init(&dc);
	dc.name = "fuzz";
	dc.registrar = &rc;
	dc.sub = &subc;
	dc.congestion_pct = 0;
	dc.stop_ms = 2000;
	dc.methods |= REDUM_STACK_MBIT(REDUM_STACK_M_REFER) |
		REDUM_STACK_MBIT(REDUM_STACK_M_OTHER);

	memset(&hd, 0, sizeof(hd));
	hd.invite.on_new = on_new;
	hd.invite.on_offer = on_offer;
	hd.request.on_request = on_request;
	hd.sub.on_sub_new = on_sub_new;
	hd.on_dum_can_be_deleted = can_be_deleted;

	err = redum_dum_alloc(&dum, stack, &dc, &hd);
	if (!err)
		err = redum_dum_app_attach(dum, true, 0);
	if (!err)
		err = redum_dum_start(dum);
	if (err) {
		fprintf(stderr, "fuzz: DUM: %s\n", strerror(err));
		abort();
	}

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&self_sin, 0, sizeof(self_sin));
	self_sin.sin_family = AF_INET;
	self_sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sock < 0 ||
	    bind(sock, (struct sockaddr *)&self_sin, sizeof(self_sin)) ||
	    getsockname(sock, (struct sockaddr *)&self_sin, &len))
		abort();

	if (getenv("REDUM_FUZZ_TEST_LEAK"))   /* checks the check */
		(void)strdup("leaked on purpose");
	atexit(stop);
}


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Sends the barrier OPTIONS and waits for its final response, handling the
 * application's events meanwhile. */
static void barrier(void)
{
	char msg[512], cid[64], buf[MAX_DGRAM + 1];
	int64_t deadline;
	int n;

	++nbarrier;
	snprintf(cid, sizeof(cid), "fuzz-barrier-%llu",
		 (unsigned long long)nbarrier);
	n = snprintf(msg, sizeof(msg),
		     "OPTIONS sip:fuzz@127.0.0.1:%u SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKfb%llu;"
		     "rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:harness@127.0.0.1>;tag=fb\r\n"
		     "To: <sip:fuzz@127.0.0.1>\r\n"
		     "Call-ID: %s\r\n"
		     "CSeq: 1 OPTIONS\r\n"
		     "Content-Length: 0\r\n\r\n",
		     ntohs(stack_sin.sin_port), ntohs(self_sin.sin_port),
		     (unsigned long long)nbarrier, cid);
	if (sendto(sock, msg, (size_t)n, 0, (struct sockaddr *)&stack_sin,
		   sizeof(stack_sin)) != n)
		abort();

	deadline = now_ms() + BARRIER_MS;
	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = sock, .events = POLLIN},
			{.fd = redum_dum_app_fd(dum), .events = POLLIN},
		};
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0) {
			fprintf(stderr, "fuzz: no answer to barrier %s within "
				"%d ms: the stack or DUM hangs\n", cid,
				BARRIER_MS);
			abort();
		}
		(void)poll(pfd, 2, (int)left);
		if (pfd[1].revents)
			(void)redum_dum_app_drain(dum);

		while ((r = recv(sock, buf, MAX_DGRAM, 0)) > 0) {
			buf[r] = '\0';
			/* any final response to the barrier: processed */
			if (!strncmp(buf, "SIP/2.0 ", 8) && buf[8] >= '2' &&
			    strstr(buf, cid))
				return;
		}
	}
}


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	start();
	return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_DGRAM)
		size = MAX_DGRAM;

	(void)sendto(sock, data, size, 0, (struct sockaddr *)&stack_sin,
		     sizeof(stack_sin));
	barrier();

	return 0;
}
