/**
 * @file baseline_signals.c  SIGTERM/SIGINT for the libre baselines
 */
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <re.h>
#include "baseline_signals.h"

int baseline_signals_open(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		perror("signalfd");

	return fd;
}


static void signal_handler(int flags, void *arg)
{
	struct signalfd_siginfo si;
	int fd = *(int *)arg;
	(void)flags;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		re_cancel();
}


int baseline_signals_listen(int *fdp)
{
	return fd_listen(*fdp, FD_READ, signal_handler, fdp);
}


void baseline_signals_close(int fd)
{
	if (fd < 0)
		return;
	fd_close(fd);
	close(fd);
}
