/**
 * @file sdnotify.c  sd_notify(3)'s datagram, written by hand (see
 *                   sdnotify.h): no build dependency on libsystemd
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <re.h>
#include "sdnotify.h"


int app_sdnotify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un un;
	socklen_t alen;
	size_t plen;
	ssize_t n;
	int fd, err = 0;

	if (!path || !path[0] || !state)
		return 0;

	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(un.sun_path))
		return EINVAL;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, path, plen);
	if (path[0] == '@')
		un.sun_path[0] = '\0';   /* abstract namespace */
	/* an abstract address is exactly as long as its name: no NUL */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
			   (path[0] == '@' ? 0 : 1));

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;

	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&un, alen);
	if (n < 0)
		err = errno;
	close(fd);
	return err;
}


int app_sdnotifyf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int err;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;

	va_start(ap, fmt);
	err = re_vsdprintf(&s, fmt, ap);
	va_end(ap);
	if (!err)
		err = app_sdnotify(s);
	mem_deref(s);
	return err;
}
