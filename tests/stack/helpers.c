/**
 * @file helpers.c  Stack test helpers (see helpers.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "helpers.h"

#ifndef SCEN_DIR
#error SCEN_DIR must be defined
#endif


int64_t th_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


uint16_t th_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!bind(fd, (struct sockaddr *)&sin, sizeof(sin)) &&
	    !getsockname(fd, (struct sockaddr *)&sin, &len))
		port = ntohs(sin.sin_port);
	close(fd);

	return port;
}


int th_stack_start(struct redum_stack **stackp, uint32_t t1_ms)
{
	struct redum_stack_conf conf;
	int err;

	redum_stack_conf_init(&conf);
	conf.software = "redum-test";
	conf.ctrans_hsize = conf.strans_hsize = conf.obj_hsize = 1024;
	conf.cmd_capacity = 4096;
	conf.t1_ms = t1_ms;
	if (conf.t2_ms < t1_ms)
		conf.t2_ms = t1_ms;
	conf.graceful_ms = 64 * t1_ms;
	err = redum_stack_conf_listen(&conf, "udp:127.0.0.1:0");
	if (err)
		return err;

	return redum_stack_start(stackp, &conf);
}


uint16_t th_stack_port(const struct redum_stack *stack)
{
	struct sa la;

	if (redum_stack_laddr(stack, 0, NULL, &la))
		return 0;

	return sa_port(&la);
}


const char *th_scen(const char *name)
{
	static __thread char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", SCEN_DIR, name);
	return buf;
}


pid_t th_sipp_spawn(const char *target, uint16_t lport, const char *arg, ...)
{
	const char *argv[64];
	char portbuf[16];
	int argc = 0;
	va_list ap;
	pid_t pid;

	snprintf(portbuf, sizeof(portbuf), "%u", lport);

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
	argv[argc++] = "30s";
	argv[argc++] = "-timeout_error";

	va_start(ap, arg);
	for (const char *a = arg; a && argc < 63; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
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


int th_sipp_wait(pid_t pid, int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;
	int status;

	if (pid <= 0)
		return -1;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (th_now() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "sipp %d killed after %d ms\n",
				(int)pid, timeout_ms);
			return -1;
		}
		usleep(10000);
	}

	if (!WIFEXITED(status))
		return -1;

	return WEXITSTATUS(status);
}


static void ttu_eventh(struct redum_stack_tu *tu, struct redum_stack_event *ev,
		       void *arg)
{
	struct ttu *t = arg;

	if (t->tail - t->head >= sizeof(t->q) / sizeof(t->q[0])) {
		fprintf(stderr, "ttu: queue full, event dropped\n");
		redum_stack_event_release(tu, ev);
		return;
	}

	t->q[t->tail++ % (sizeof(t->q) / sizeof(t->q[0]))] = ev;
}


static void ttu_removedh(struct redum_stack_tu *tu, void *arg)
{
	struct ttu *t = arg;
	(void)tu;

	t->removed = true;
}


int ttu_start_conf(struct ttu *t, struct redum_stack *stack,
		   const struct redum_stack_tu_conf *conf)
{
	struct redum_stack_tu_conf c = *conf;
	int err;

	memset(t, 0, sizeof(*t));
	c.eventh = ttu_eventh;
	c.removedh = ttu_removedh;
	c.arg = t;

	err = redum_stack_tu_alloc(&t->tu, stack, &c);
	if (err)
		return err;

	return redum_stack_tu_attach(t->tu, true, 0);
}


int ttu_start(struct ttu *t, struct redum_stack *stack, uint32_t methods)
{
	struct redum_stack_tu_conf conf = {
		.name = "test",
		.methods = methods,
	};

	return ttu_start_conf(t, stack, &conf);
}


static void ttu_poll(struct ttu *t, int ms)
{
	struct pollfd pfd = {.fd = redum_stack_tu_fd(t->tu),
			     .events = POLLIN};

	if (ms < 0)
		ms = 0;
	(void)poll(&pfd, 1, ms);
	(void)redum_stack_tu_drain(t->tu);
}


struct redum_stack_event *ttu_next(struct ttu *t, int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	for (;;) {
		if (t->head != t->tail)
			return t->q[t->head++ %
				    (sizeof(t->q) / sizeof(t->q[0]))];
		if (t->removed || th_now() >= end)
			return NULL;
		ttu_poll(t, (int)(end - th_now()));
	}
}


struct redum_stack_event *ttu_expect(struct ttu *t,
				     enum redum_stack_ev_type type,
				     int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	for (;;) {
		struct redum_stack_event *ev;
		int left = (int)(end - th_now());

		ev = ttu_next(t, left > 0 ? left : 0);
		if (!ev)
			return NULL;
		if (ev->type == type)
			return ev;
		redum_stack_event_release(t->tu, ev);
	}
}


void ttu_pump(struct ttu *t, int ms)
{
	int64_t end = th_now() + ms;

	while (th_now() < end) {
		struct redum_stack_event *ev = ttu_next(t, (int)(end -
								 th_now()));
		if (ev)
			redum_stack_event_release(t->tu, ev);
		if (t->removed)
			break;
	}
}


bool ttu_finish(struct ttu *t, int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	while (!t->removed && th_now() < end) {
		struct redum_stack_event *ev;

		while (t->head != t->tail) {
			ev = t->q[t->head++ % (sizeof(t->q) / sizeof(t->q[0]))];
			redum_stack_event_release(t->tu, ev);
		}
		ttu_poll(t, (int)(end - th_now()));
	}

	while (t->head != t->tail) {
		struct redum_stack_event *ev =
			t->q[t->head++ % (sizeof(t->q) / sizeof(t->q[0]))];
		redum_stack_event_release(t->tu, ev);
	}

	if (!t->removed)
		return false;

	return redum_stack_tu_free(t->tu) == 0;
}
