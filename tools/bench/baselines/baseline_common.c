/**
 * @file baseline_common.c  What the libre baselines share (baseline_common.h)
 */
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <re.h>
#include "baseline_common.h"

const char baseline_answer_sdp[] =
	"v=0\r\n"
	"o=baseline 1 1 IN IP4 127.0.0.1\r\n"
	"s=baseline\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 9 RTP/AVP 0\r\n"
	"a=inactive\r\n";

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
