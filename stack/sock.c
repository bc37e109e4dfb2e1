/**
 * @file sock.c  Finding the fds libre opened (it does not expose them)
 *
 * libre 1.1.0 has no accessor for the fd of a udp_sock/tcp_sock. We need it
 * for SO_RCVBUF/SO_SNDBUF (and, for port 0, to double-check the bound port),
 * so around each sip_transp_add() the stack thread lists the socket fds of
 * the process (/proc/self/fd) before and after, and keeps the new one whose
 * type, family and getsockname() address match what was asked. Another
 * thread opening a socket bound to the same address at that very moment
 * could confuse it; the fd is then not found (-1) rather than guessed: the
 * match must be unique.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/sock_diag.h>
#include "stack_int.h"

struct fdset {
	size_t n, sz;
	int fd[];
};


static int set_add(struct fdset **setp, int fd)
{
	struct fdset *set = *setp;

	if (set->n == set->sz) {
		size_t sz = set->sz * 2;
		struct fdset *n = realloc(set, sizeof(*set) + sz * sizeof(int));
		if (!n)
			return ENOMEM;
		n->sz = sz;
		*setp = set = n;
	}

	set->fd[set->n++] = fd;
	return 0;
}


static bool set_has(const struct fdset *set, int fd)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->fd[i] == fd)
			return true;
	}
	return false;
}


/** Lists the socket fds open now. Caller frees *setp with free(). */
int sock_snapshot(struct fdset **setp)
{
	struct fdset *set;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	set = malloc(sizeof(*set) + 64 * sizeof(int));
	if (!set)
		return ENOMEM;
	set->n = 0;
	set->sz = 64;

	dir = opendir("/proc/self/fd");
	if (!dir) {
		free(set);
		return errno;
	}

	while ((de = readdir(dir)) != NULL) {
		struct stat stt;
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(dir))
			continue;
		if (fstat((int)fd, &stt) || !S_ISSOCK(stt.st_mode))
			continue;
		err = set_add(&set, (int)fd);
		if (err)
			break;
	}

	closedir(dir);

	if (err)
		free(set);
	else
		*setp = set;

	return err;
}


/**
 * The unique new socket fd (not in @p before) of @p type whose local address
 * matches @p want (port 0 in @p want matches any port not in @p exclude).
 * @return the fd, or -1
 */
int sock_find_new(const struct fdset *before, int type,
		  const struct sa *want, const struct sa *exclude,
		  uint32_t exclc, struct sa *bound)
{
	struct fdset *after = NULL;
	int found = -1, n = 0;

	if (sock_snapshot(&after))
		return -1;

	for (size_t i = 0; i < after->n; i++) {
		int fd = after->fd[i], st = 0;
		socklen_t len = sizeof(st);
		struct sa la;
		bool excl = false;

		if (set_has(before, fd))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &st, &len) ||
		    st != type)
			continue;

		sa_init(&la, AF_UNSPEC);
		la.len = sizeof(la.u);
		if (getsockname(fd, &la.u.sa, &la.len))
			continue;
		if (sa_af(&la) != sa_af(want))
			continue;
		if (!sa_cmp(&la, want, SA_ADDR))
			continue;
		if (sa_port(want) && sa_port(want) != sa_port(&la))
			continue;
		for (uint32_t j = 0; j < exclc; j++) {
			if (sa_cmp(&la, &exclude[j], SA_ALL))
				excl = true;
		}
		if (excl)
			continue;

		found = fd;
		*bound = la;
		++n;
	}

	free(after);

	return n == 1 ? found : -1;
}


/** Sizes a UDP socket's buffers: SO_*BUFFORCE first (needs CAP_NET_ADMIN,
 *  exceeds net.core.[rw]mem_max), else the plain option (capped there). */
void sock_bufsize(int fd, uint32_t rcv, uint32_t snd)
{
	int v;

	if (fd < 0)
		return;

	if (rcv) {
		v = (int)rcv;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)))
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v,
					 sizeof(v));
	}
	if (snd) {
		v = (int)snd;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v,
					 sizeof(v));
	}
}


/** How full a socket's receive queue is (% of its buffer) and how many
 *  datagrams the kernel dropped on it (SO_MEMINFO, Linux 4.12+). */
int sock_rxfill(int fd, uint32_t *pct, uint32_t *drops)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (fd < 0)
		return EBADF;

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len))
		return errno;
	if (len < sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1) ||
	    !mi[SK_MEMINFO_RCVBUF])
		return EPROTO;

	*pct = (uint32_t)((uint64_t)mi[SK_MEMINFO_RMEM_ALLOC] * 100 /
			  mi[SK_MEMINFO_RCVBUF]);
	*drops = mi[SK_MEMINFO_DROPS];

	return 0;
}
