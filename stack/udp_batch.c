/**
 * @file udp_batch.c  Batched UDP receive for the SIP transports of a stack
 *
 * libre 1.1.0's udp_read() takes ONE datagram per loop wake-up: an
 * epoll_wait plus a recvfrom per SIP message, into a fresh rxsz-sized
 * (8 KiB) mbuf that a server transaction then keeps for 32 s. On this
 * paravirtualised VM each system call costs microseconds, so at 5k calls/s
 * (15k datagrams/s in) half of the stack thread went to the kernel.
 *
 * libre.so creates its sockets with udp_listen() through its PLT, so the
 * definition below replaces libre's for the whole process (like tmr_* in
 * tmr_wheel.c). It calls libre's own (dlsym RTLD_NEXT) and, only when the
 * calling thread has armed a capture (udp_batch_capture(), which the stack
 * thread does around sip_transp_add() of a UDP listener), takes the new
 * socket's fds over with its own fd handler: fd_listen() on an fd libre
 * already listens on replaces libre's handler and argument. The handler
 * reads up to BATCH datagrams per recvmmsg(), at most ROUNDS calls per
 * wake-up (bounded, so timers and other fds still run: epoll is
 * level-triggered, what is left wakes the loop again), copies each into an
 * mbuf of its own size and calls the receive handler libre was given,
 * exactly as udp_read() would (mb->pos = rx_presz, mb->end = pos + n).
 *
 * Everything libre's udp_read() honours is kept: the receive handler and
 * the error handler (udp_handler_set, udp_error_handler_set), rxsz
 * (truncation bound) and rx_presz, which are interposed too so that
 * captured sockets record them. UDP helpers (udp_register_helper) cannot be
 * called from here (their list is private to libre), so registering one on
 * a captured socket gives the socket back to libre (udp_thread_attach(),
 * which re-installs libre's own read handler) before registering it.
 *
 * Sending: udp_send() is interposed as well. On a captured socket, while
 * the stack thread's loop runs a round, datagrams are copied into a queue
 * per fd and go out together with one sendmmsg() when the loop is about to
 * wait (the wheel's idle hook, tmr_wheel.h), when a queue is full, or
 * before a datagram too big for a slot (order is kept). On loopback each
 * sendto() also runs the receiver's side and wakes it; one call per round
 * instead of one per message saves system calls here and wake-ups there.
 * What libre's udp_send() would have returned as an error is known only at
 * the flush: it is counted (tx_errors) and the datagram is lost, as on the
 * wire; the transactions' retransmissions recover it. Held back only where
 * the wheel is in effect (its idle hook is what flushes).
 *
 * Queueing delay: the taken-over sockets ask for kernel receive
 * timestamps (SO_TIMESTAMPNS); while a datagram is handed to its receive
 * handler, udp_batch_rx_age() says how long it waited between the kernel
 * and our read. The stack sheds new requests that waited too long
 * (docs/OVERLOAD.md): the delay is what the peer sees, whatever the
 * buffer size and datagram sizes.
 *
 * Retransmissions: libre re-sends requests (client transactions, Timer
 * A/E) and INVITE non-2xx finals (Timer G) from its own timers and counts
 * nothing. Every datagram sent through udp_send() while the calling
 * thread runs one of libre's timer handlers is such a re-send
 * (redum_tmr_in_libre_handler()); it is counted (retx_req, retx_final),
 * captured socket or not. Needs the wheel, like the send batching.
 *
 * Threads: the capture list is per thread (__thread); a captured socket is
 * read and configured only on the thread that created it (libre's rule for
 * its sockets anyway). The interposed setters look the socket up in the
 * calling thread's list only, so other threads' sockets are untouched.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <re.h>
#include <redum/timer.h>
#include "stack/tmr_wheel.h"
#include "stack/udp_batch.h"

enum {
	BATCH  = 32,     /* datagrams per recvmmsg()                          */
	ROUNDS = 4,      /* recvmmsg() calls per wake-up at most              */
	RXSZ_DEFAULT = 8192,   /* libre's UDP_RXSZ_DEFAULT                    */
	TXBATCH = 64,    /* datagrams queued per fd before a sendmmsg()       */
	TXSLOT  = 2048,  /* bytes per queued datagram; bigger go at once      */
};

/* Datagrams waiting for the round's end, for one fd. */
struct txq {
	int fd;
	uint32_t n;
	uint8_t *buf;                        /* TXBATCH * TXSLOT          */
	struct mmsghdr hdr[TXBATCH];
	struct iovec iov[TXBATCH];
	struct sockaddr_storage dst[TXBATCH];
};

struct ubsock {
	struct le le;            /* udp_batch.socks                           */
	struct udp_sock *us;     /* referenced: see orphaned()                */
	udp_recv_h *rh;
	udp_error_h *eh;
	void *arg;
	int fd[2];               /* taken over (-1: none)                     */
	size_t rxsz, presz;
	bool released;           /* given back to libre                       */
	uint8_t *buf;            /* BATCH * rxsz                              */
	struct txq *txq[2];      /* per fd[], allocated at the first send     */
	struct udp_batch *ub;
	struct udp_batch_stats *st;
};

/* The queueing delay of the datagram being handed to a receive handler on
 * this thread, in ms (-1: none, or no kernel timestamp). */
static __thread int64_t tls_rx_age_ms = -1;

struct udp_batch {
	udp_batch_h *bh;
	void *arg;
	struct list socks;
	struct udp_sock *last;
	bool capture;
	bool tx_defer;           /* the wheel's idle hook flushes: hold sends */
	bool tx_pending;         /* some txq is not empty                     */
	struct udp_batch_stats st;
};

typedef int (udp_listen_f)(struct udp_sock **, const struct sa *,
			   udp_recv_h *, void *);
typedef void (udp_handler_set_f)(struct udp_sock *, udp_recv_h *, void *);
typedef void (udp_error_handler_set_f)(struct udp_sock *, udp_error_h *);
typedef void (udp_size_set_f)(struct udp_sock *, size_t);
typedef int (udp_register_helper_f)(struct udp_helper **, struct udp_sock *,
				    int, udp_helper_send_h *,
				    udp_helper_recv_h *, void *);
typedef int (udp_thread_attach_f)(struct udp_sock *);
typedef int (udp_send_f)(struct udp_sock *, const struct sa *,
			 struct mbuf *);

/* The calling thread's batch receiver (NULL: none). initial-exec: see
 * tmr_wheel.c. */
static __thread struct udp_batch *tls_ub
	__attribute__((tls_model("initial-exec")));


/* libre's own definitions, resolved once (any thread may be first). */
static struct {
	udp_listen_f *listen;
	udp_handler_set_f *handler_set;
	udp_error_handler_set_f *error_handler_set;
	udp_size_set_f *rxsz_set, *presz_set;
	udp_register_helper_f *register_helper;
	udp_thread_attach_f *thread_attach;
	udp_send_f *send;
} next;
static pthread_once_t next_once = PTHREAD_ONCE_INIT;


static void next_init(void)
{
	next.listen = (udp_listen_f *)dlsym(RTLD_NEXT, "udp_listen");
	next.handler_set =
		(udp_handler_set_f *)dlsym(RTLD_NEXT, "udp_handler_set");
	next.error_handler_set = (udp_error_handler_set_f *)
		dlsym(RTLD_NEXT, "udp_error_handler_set");
	next.rxsz_set = (udp_size_set_f *)dlsym(RTLD_NEXT, "udp_rxsz_set");
	next.presz_set =
		(udp_size_set_f *)dlsym(RTLD_NEXT, "udp_rxbuf_presz_set");
	next.register_helper = (udp_register_helper_f *)
		dlsym(RTLD_NEXT, "udp_register_helper");
	next.thread_attach =
		(udp_thread_attach_f *)dlsym(RTLD_NEXT, "udp_thread_attach");
	next.send = (udp_send_f *)dlsym(RTLD_NEXT, "udp_send");
}


static void real_init(void)
{
	(void)pthread_once(&next_once, next_init);
}


static struct ubsock *lookup(const struct udp_sock *us)
{
	struct le *le;

	if (!us || !tls_ub)
		return NULL;

	for (le = tls_ub->socks.head; le; le = le->next) {
		struct ubsock *s = le->data;

		if (s->us == us && !s->released)
			return s;
	}

	return NULL;
}


/* Sends what a queue holds, in order. A datagram the kernel refuses is
 * counted and skipped (see the file comment). */
static void txq_flush(struct udp_batch_stats *st, struct txq *q)
{
	uint32_t i = 0;

	while (i < q->n) {
		int n = sendmmsg(q->fd, &q->hdr[i], q->n - i, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			++st->tx_errors;   /* this one is lost; go on */
			++i;
			continue;
		}

		++st->tx_calls;
		st->tx_dgrams += (uint64_t)n;
		i += (uint32_t)n;
	}

	q->n = 0;
}


static void ubsock_flush(struct ubsock *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->txq[i] && s->txq[i]->n)
			txq_flush(s->st, s->txq[i]);
	}
}


/* The wheel's idle hook: the loop is about to wait. */
static void ub_idle(void *arg)
{
	struct udp_batch *ub = arg;
	struct le *le;

	if (!ub->tx_pending)
		return;
	ub->tx_pending = false;

	for (le = ub->socks.head; le; le = le->next)
		ubsock_flush(le->data);
}


/* The socket is libre's again (or gone): drop our reference. */
static void release(struct ubsock *s)
{
	if (s->released)
		return;

	ubsock_flush(s);  /* what it queued while ours */

	s->released = true;
	s->fd[0] = s->fd[1] = -1;
	++s->st->released;
	s->us = mem_deref(s->us);  /* the last one: libre's destructor
				      fd_close()s and closes the fds      */
}


/* Only our reference is left: the owner (libre's transport) dropped it. */
static bool orphaned(const struct ubsock *s)
{
	return !s->released && mem_nrefs(s->us) == 1;
}


/* RFC 3261 7.5: CRLFs before the start line SHOULD be ignored; libre's
 * decoder wants the start line first and would drop the message. A bare
 * keep-alive (CRLFs only) is left alone: libre ignores it. */
static void skip_crlf(struct mbuf *mb)
{
	size_t pos = mb->pos;

	while (mb->end - pos >= 2 && mb->buf[pos] == '\r' &&
	       mb->buf[pos + 1] == '\n')
		pos += 2;
	if (pos < mb->end)
		mb->pos = pos;
}


/* How long the datagram of @p h waited in the receive queue, in ms, from
 * its kernel timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) to @p now; -1 if
 * it has none. */
static int64_t rx_age_ms(struct msghdr *h, const struct timespec *now)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		struct timespec ts;

		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		return (int64_t)(now->tv_sec - ts.tv_sec) * 1000 +
			(now->tv_nsec - ts.tv_nsec) / 1000000;
	}

	return -1;
}


/* One wake-up: up to ROUNDS batches, each datagram handed over as libre's
 * udp_read() would. */
static void ub_read_batch(struct ubsock *s, int fd)
{
	struct mmsghdr hdr[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage src[BATCH];
	union {                  /* aligned for cmsghdr */
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct timespec))];
	} ctl[BATCH];
	struct timespec now;

	++s->st->wakes;

	for (int round = 0; round < ROUNDS; round++) {
		int n;

		if (orphaned(s)) {
			release(s);
			return;
		}

		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = s->buf + (size_t)i * s->rxsz;
			iov[i].iov_len  = s->rxsz;
			memset(&hdr[i], 0, sizeof(hdr[i]));
			hdr[i].msg_hdr.msg_name    = &src[i];
			hdr[i].msg_hdr.msg_namelen = sizeof(src[i]);
			hdr[i].msg_hdr.msg_iov     = &iov[i];
			hdr[i].msg_hdr.msg_iovlen  = 1;
			hdr[i].msg_hdr.msg_control    = ctl[i].buf;
			hdr[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}

		n = recvmmsg(fd, hdr, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			int err = errno;

			/* as udp_read(): only "nothing to read" is quiet */
			if (err != EAGAIN && err != EWOULDBLOCK &&
			    err != EINTR && s->eh)
				s->eh(err, s->arg);
			return;
		}

		++s->st->calls;
		s->st->dgrams += (uint64_t)n;
		if (clock_gettime(CLOCK_REALTIME, &now))
			now.tv_sec = 0;

		for (int i = 0; i < n; i++) {
			const size_t len = hdr[i].msg_len;
			struct mbuf *mb;
			struct sa sa;

			if (hdr[i].msg_hdr.msg_namelen > sizeof(sa.u))
				continue;

			/* right-sized: a server transaction keeps it 32 s */
			mb = mbuf_alloc(s->presz + len);
			if (!mb)
				continue;

			memcpy(mb->buf + s->presz, iov[i].iov_base, len);
			mb->pos = s->presz;
			mb->end = s->presz + len;
			skip_crlf(mb);

			sa_init(&sa, AF_UNSPEC);
			memcpy(&sa.u, &src[i], hdr[i].msg_hdr.msg_namelen);
			sa.len = hdr[i].msg_hdr.msg_namelen;

			tls_rx_age_ms = now.tv_sec ?
				rx_age_ms(&hdr[i].msg_hdr, &now) : -1;
			s->rh(&sa, mb, s->arg);
			tls_rx_age_ms = -1;
			mem_deref(mb);

			/* The handler closed the transport, or gave the
			 * socket back to libre: the rest of the batch is
			 * lost, as it would be in the closed socket. */
			if (s->released)
				return;
			if (orphaned(s)) {
				release(s);
				return;
			}
		}

		if (n < BATCH)
			return;
	}
}


static void ub_read(struct ubsock *s, int fd)
{
	struct udp_batch *ub = s->ub;

	/* s may be released inside, never freed (the batch receiver owns
	 * it and lives until the stack thread's teardown) */
	if (ub->bh)
		ub->bh(true, ub->arg);
	ub_read_batch(s, fd);
	if (ub->bh)
		ub->bh(false, ub->arg);
}


static void ub_read_h0(int flags, void *arg)
{
	struct ubsock *s = arg;

	(void)flags;
	ub_read(s, s->fd[0]);
}


static void ub_read_h1(int flags, void *arg)
{
	struct ubsock *s = arg;

	(void)flags;
	ub_read(s, s->fd[1]);
}


static void ubsock_destructor(void *data)
{
	struct ubsock *s = data;

	list_unlink(&s->le);
	release(s);
	mem_deref(s->buf);
	for (int i = 0; i < 2; i++) {
		if (s->txq[i])
			mem_deref(s->txq[i]->buf);
		mem_deref(s->txq[i]);
	}
}


static int take_over(struct udp_batch *ub, struct udp_sock *us,
		     udp_recv_h *rh, void *arg)
{
	struct ubsock *s;
	int fd4, fd6, err = 0;

	s = mem_zalloc(sizeof(*s), ubsock_destructor);
	if (!s)
		return ENOMEM;

	s->us    = mem_ref(us);   /* see orphaned() */
	s->rh    = rh;
	s->arg   = arg;
	s->rxsz  = RXSZ_DEFAULT;
	s->st    = &ub->st;
	s->ub    = ub;
	s->buf   = mem_alloc(BATCH * s->rxsz, NULL);
	if (!s->buf) {
		mem_deref(s);
		return ENOMEM;
	}

	fd4 = udp_sock_fd(us, AF_INET);
	fd6 = udp_sock_fd(us, AF_INET6);
	s->fd[0] = fd4;
	s->fd[1] = fd6 != fd4 ? fd6 : -1;

	/* kernel receive timestamps: the queueing delay (udp_batch_rx_age)
	 * (without them that is unknown, and nothing else changes) */
	for (int i = 0; i < 2; i++) {
		const int one = 1;

		if (s->fd[i] >= 0)
			(void)setsockopt(s->fd[i], SOL_SOCKET, SO_TIMESTAMPNS,
					 &one, sizeof(one));
	}

	if (s->fd[0] >= 0)
		err = fd_listen(s->fd[0], FD_READ, ub_read_h0, s);
	if (!err && s->fd[1] >= 0)
		err = fd_listen(s->fd[1], FD_READ, ub_read_h1, s);
	if (err) {
		/* libre's own read handler back on both fds */
		(void)udp_thread_attach(us);
		s->released = true;
		s->us = mem_deref(s->us);
		mem_deref(s);
		return err;
	}

	list_append(&ub->socks, &s->le, s);
	++ub->st.socks;

	return 0;
}


/* ---- libre's API (re_udp.h), interposed ---- */


int udp_listen(struct udp_sock **usp, const struct sa *local,
	       udp_recv_h *rh, void *arg)
{
	struct udp_batch *ub = tls_ub;
	int err;

	real_init();
	if (!next.listen)
		return ENOSYS;

	err = next.listen(usp, local, rh, arg);
	if (err || !ub || !ub->capture || !usp || !*usp)
		return err;

	/* Not taken over (no memory, fd_listen failed): libre reads it as
	 * usual, which is correct, only slower. */
	if (!take_over(ub, *usp, rh, arg))
		ub->last = *usp;

	return 0;
}


/* A datagram libre sends from a timer of its own is a retransmission
 * (tmr_wheel.h): a request by a client transaction (Timer A/E), or a
 * non-2xx final by an INVITE server transaction (Timer G). */
static void count_retx(struct udp_batch_stats *st, const struct mbuf *mb)
{
	static const char status[] = "SIP/2.0 ";

	if (mbuf_get_left(mb) >= sizeof(status) - 1 &&
	    !memcmp(mbuf_buf(mb), status, sizeof(status) - 1))
		++st->retx_final;
	else
		++st->retx_req;
}


static struct txq *txq_get(struct ubsock *s, int fd)
{
	struct txq *q;
	int i;

	if (fd == s->fd[0])
		i = 0;
	else if (fd == s->fd[1])
		i = 1;
	else
		return NULL;

	if (s->txq[i])
		return s->txq[i];

	q = mem_zalloc(sizeof(*q), NULL);
	if (!q)
		return NULL;
	q->buf = mem_alloc(TXBATCH * TXSLOT, NULL);
	if (!q->buf) {
		mem_deref(q);
		return NULL;
	}
	q->fd = fd;
	s->txq[i] = q;

	return q;
}


int udp_send(struct udp_sock *us, const struct sa *dst, struct mbuf *mb)
{
	struct udp_batch *ub = tls_ub;
	struct ubsock *s;
	struct txq *q;
	size_t len;
	uint32_t i;

	real_init();
	if (!next.send)
		return ENOSYS;

	if (ub && mb && redum_tmr_in_libre_handler())
		count_retx(&ub->st, mb);

	if (!ub || !ub->tx_defer || !dst || !mb)
		return next.send(us, dst, mb);

	s = lookup(us);
	if (!s)
		return next.send(us, dst, mb);

	q = txq_get(s, udp_sock_fd(us, sa_af(dst)));
	len = mbuf_get_left(mb);
	if (!q || len > TXSLOT || dst->len > sizeof(q->dst[0])) {
		/* at once, behind what is queued */
		ubsock_flush(s);
		return next.send(us, dst, mb);
	}

	if (q->n == TXBATCH)
		txq_flush(s->st, q);

	i = q->n++;
	memcpy(q->buf + (size_t)i * TXSLOT, mbuf_buf(mb), len);
	memcpy(&q->dst[i], &dst->u, dst->len);
	q->iov[i].iov_base = q->buf + (size_t)i * TXSLOT;
	q->iov[i].iov_len  = len;
	memset(&q->hdr[i], 0, sizeof(q->hdr[i]));
	q->hdr[i].msg_hdr.msg_name    = &q->dst[i];
	q->hdr[i].msg_hdr.msg_namelen = dst->len;
	q->hdr[i].msg_hdr.msg_iov     = &q->iov[i];
	q->hdr[i].msg_hdr.msg_iovlen  = 1;
	ub->tx_pending = true;

	return 0;
}


void udp_handler_set(struct udp_sock *us, udp_recv_h *rh, void *arg)
{
	struct ubsock *s = lookup(us);

	real_init();
	if (next.handler_set)
		next.handler_set(us, rh, arg);

	if (s && rh) {
		s->rh  = rh;
		s->arg = arg;
	}
	else if (s) {
		/* libre installs a handler that drops what it reads */
		(void)udp_thread_attach(us);
	}
}


void udp_error_handler_set(struct udp_sock *us, udp_error_h *eh)
{
	struct ubsock *s = lookup(us);

	real_init();
	if (next.error_handler_set)
		next.error_handler_set(us, eh);

	if (s)
		s->eh = eh;
}


void udp_rxsz_set(struct udp_sock *us, size_t rxsz)
{
	struct ubsock *s = lookup(us);

	real_init();
	if (next.rxsz_set)
		next.rxsz_set(us, rxsz);

	if (s && rxsz && rxsz != s->rxsz) {
		uint8_t *buf = mem_alloc(BATCH * rxsz, NULL);

		if (!buf) {
			/* keep going with libre's reads rather than fail */
			(void)udp_thread_attach(us);
			return;
		}
		mem_deref(s->buf);
		s->buf  = buf;
		s->rxsz = rxsz;
	}
}


void udp_rxbuf_presz_set(struct udp_sock *us, size_t rx_presz)
{
	struct ubsock *s = lookup(us);

	real_init();
	if (next.presz_set)
		next.presz_set(us, rx_presz);

	if (s)
		s->presz = rx_presz;
}


int udp_register_helper(struct udp_helper **uhp, struct udp_sock *us,
			int layer, udp_helper_send_h *sh,
			udp_helper_recv_h *rh, void *arg)
{
	real_init();
	if (!next.register_helper)
		return ENOSYS;

	/* helpers must see every datagram: libre reads this one again */
	if (lookup(us))
		(void)udp_thread_attach(us);

	return next.register_helper(uhp, us, layer, sh, rh, arg);
}


int udp_thread_attach(struct udp_sock *us)
{
	struct ubsock *s = lookup(us);
	int err;

	real_init();
	if (!next.thread_attach)
		return ENOSYS;

	err = next.thread_attach(us);

	/* libre's read handler replaced ours: the socket is libre's again
	 * (the caller holds a reference, so ours is not the last) */
	if (s)
		release(s);

	return err;
}


/* ---- redum's side ---- */


static void ub_destructor(void *data)
{
	struct udp_batch *ub = data;

	ub_idle(ub);
	list_flush(&ub->socks);
	if (tls_ub == ub) {
		tls_ub = NULL;
		redum_loop_set_idle(NULL, NULL);
	}
}


int udp_batch_alloc(struct udp_batch **ubp, udp_batch_h *bh, void *arg)
{
	struct udp_batch *ub;

	if (!ubp)
		return EINVAL;
	if (tls_ub)
		return EALREADY;

	ub = mem_zalloc(sizeof(*ub), ub_destructor);
	if (!ub)
		return ENOMEM;

	list_init(&ub->socks);
	ub->bh  = bh;
	ub->arg = arg;
	tls_ub = ub;

	/* Sends wait for the round's end only if something ends rounds. */
	ub->tx_defer = redum_tmr_wheel_active();
	if (ub->tx_defer)
		redum_loop_set_idle(ub_idle, ub);
	*ubp = ub;

	return 0;
}


void udp_batch_capture(struct udp_batch *ub, bool on)
{
	if (!ub)
		return;

	ub->capture = on;
	if (on)
		ub->last = NULL;
}


struct udp_sock *udp_batch_last(const struct udp_batch *ub)
{
	return ub ? ub->last : NULL;
}


int64_t udp_batch_rx_age(void)
{
	return tls_rx_age_ms;
}


void udp_batch_stats(const struct udp_batch *ub, struct udp_batch_stats *st)
{
	if (!ub || !st)
		return;

	*st = ub->st;
}
