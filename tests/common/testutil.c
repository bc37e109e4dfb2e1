/**
 * @file testutil.c  Test harness helpers (see testutil.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <re.h>
#include <redum/stack.h>
#include "testutil.h"

enum { SIPP_MAX_ARGS = 64 };

const char rtest_sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=redum\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 0\r\n";


int64_t rtest_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Can @p port on 127.0.0.1 be bound now with @p socktype? */
static bool port_bindable(int socktype, uint16_t port)
{
	struct sockaddr_in sin;
	bool ok;
	int fd = socket(AF_INET, socktype, 0);

	if (fd < 0)
		return false;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);

	return ok;
}


/*
 * Ports are taken below the kernel's ephemeral range (32768 and up on
 * Linux): a port from the ephemeral range, free when probed, can be taken
 * a moment later by any outgoing connection of a test running side by
 * side (CI saw SIPp fail with EADDRINUSE that way). Each process starts
 * at its own pseudo-random place and walks on, so two test processes
 * rarely probe the same ports, and one thread never hands out a port
 * twice (the cursor is per thread, seeded from its id). A port must be free for both UDP and TCP: SIPp binds either.
 */
enum { PORT_LO = 20000, PORT_SPAN = 12000 };

uint16_t rtest_free_port(int socktype)
{
	static _Thread_local uint32_t cursor;
	static _Thread_local bool seeded;

	(void)socktype;

	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		cursor = ((uint32_t)gettid() * 2654435761u) ^
			 (uint32_t)ts.tv_nsec;
		seeded = true;
	}

	for (int tries = 0; tries < PORT_SPAN; tries++) {
		uint16_t port = (uint16_t)(PORT_LO + cursor++ % PORT_SPAN);

		if (port_bindable(SOCK_DGRAM, port) &&
		    port_bindable(SOCK_STREAM, port))
			return port;
	}

	return 0;
}


const char *rtest_path(const char *dir, const char *name)
{
	static __thread char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}


pid_t rtest_sipp_vspawn(const char *target, uint16_t lport,
			unsigned timeout_s, const char *const *pre,
			const char *arg, va_list ap)
{
	const char *argv[SIPP_MAX_ARGS];
	const char *trace = getenv("DUMTEST_TRACE");
	char portbuf[16], tmobuf[16];
	int argc = 0;
	pid_t pid;

	snprintf(portbuf, sizeof(portbuf), "%u", lport);
	snprintf(tmobuf, sizeof(tmobuf), "%us", timeout_s);

	argv[argc++] = "sipp";
	if (target)
		argv[argc++] = target;
	argv[argc++] = "-i";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = portbuf;
	argv[argc++] = "-buff_size";
	argv[argc++] = "4194304";
	argv[argc++] = "-nostdin";
	argv[argc++] = "-timeout";
	argv[argc++] = tmobuf;
	argv[argc++] = "-timeout_error";
	if (trace) {
		argv[argc++] = "-trace_msg";
		argv[argc++] = "-message_file";
		argv[argc++] = trace;
	}
	for (; pre && *pre && argc < SIPP_MAX_ARGS - 1; pre++)
		argv[argc++] = *pre;
	for (const char *a = arg; a && argc < SIPP_MAX_ARGS - 1;
	     a = va_arg(ap, const char *))
		argv[argc++] = a;
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		return -1;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		sigset_t none;

		/* SIPp's screen goes nowhere; its errors stay on stderr */
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* its log files (if any) go to /tmp, not the source tree */
		if (chdir("/tmp")) {}
		execvp("sipp", (char *const *)argv);
		fprintf(stderr, "exec sipp: %s\n", strerror(errno));
		_exit(127);
	}

	return pid;
}


pid_t rtest_sipp_spawn(const char *target, uint16_t lport,
		       unsigned timeout_s, const char *arg, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, arg);
	pid = rtest_sipp_vspawn(target, lport, timeout_s, NULL, arg, ap);
	va_end(ap);

	return pid;
}


int rtest_sipp_wait(pid_t pid, int timeout_ms, void (*pump)(int ms))
{
	int64_t end = rtest_now() + timeout_ms;
	int status;

	if (pid <= 0)
		return -1;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (rtest_now() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "sipp %d killed after %d ms\n",
				(int)pid, timeout_ms);
			return -1;
		}
		if (pump)
			pump(10);
		else
			usleep(10000);
	}

	if (!WIFEXITED(status))
		return -1;

	return WEXITSTATUS(status);
}


int rtest_stack_conf(struct redum_stack_conf *sc, const char *software,
		     uint32_t t1_ms)
{
	redum_stack_conf_init(sc);
	sc->software = software;
	sc->ctrans_hsize = sc->strans_hsize = sc->obj_hsize = 1024;
	sc->cmd_capacity = 4096;
	sc->t1_ms = t1_ms;
	if (sc->t2_ms < t1_ms)
		sc->t2_ms = t1_ms;
	sc->graceful_ms = 64 * t1_ms;

	return redum_stack_conf_listen(sc, "udp:127.0.0.1:0");
}
