/**
 * @file main.c  redum-stack-echo: a stack and the echo TU
 *
 *   redum-stack-echo --listen udp:127.0.0.1:PORT [--listen ...]
 *                    [--duration S] [--print-port] [--t1 MS]
 *                    [--hsize N] [--ack-view] [--rxsz BYTES]
 *                    [--tls-cert PEM]   (needed by a tls: listener)
 *                    [--call-to URI --rate N --count M]
 *
 * SIGTERM/SIGINT (read with a signalfd on the main thread; every other
 * thread blocks all signals) or the end of --duration: graceful shutdown
 * (the stack removes the TU, stops, is joined); a second signal forces it.
 * Prints the stack counters and the TU's figures at exit; exit 0 on a clean
 * stop. With --print-port, prints "port N" per listener once ready (tests
 * read it).
 *
 * --call-to: also a UAC TU (uac_tu.c) that places M INVITE/ACK/BYE calls
 * to URI (numeric, e.g. sip:service@127.0.0.1:5070) at N calls/s through
 * the stack, and the process stops (gracefully) once they have all ended.
 * Exit 0 only if every call succeeded.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#include <redum/stack.h>
#include "echo_tu.h"
#include "malloc_tune.h"
#include "uac_tu.h"


static void usage(void)
{
	fprintf(stderr,
		"usage: redum-stack-echo --listen udp|tcp:ADDR:PORT [...]\n"
		"       [--duration S] [--print-port] [--t1 MS] [--hsize N]\n"
		"       [--ack-view] [--rxsz BYTES] [--tls-cert PEM]\n"
		"       [--call-to URI --rate N --count M]\n");
}


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int print_stdout(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stdout) == size ? 0 : EIO;
}


int main(int argc, char *argv[])
{
	struct re_printf pf = {print_stdout, NULL};
	struct redum_stack_conf conf;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct redum_stack *stack = NULL;
	struct echo_tu *et = NULL;
	struct uac_tu *ut = NULL;
	struct uac_tu_stats uts = {0};
	const char *call_to = NULL;
	uint32_t rate = 100;
	uint64_t count = 0;
	bool print_port = false, ack_view = false, stopping = false;
	double duration = 0;
	int64_t deadline = -1;
	sigset_t set;
	int sfd, err;

	redum_tool_malloc_tune(argv);

	redum_stack_conf_init(&conf);
	conf.software = "redum-stack-echo";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--listen") && v) {
			if (redum_stack_conf_listen(&conf, v)) {
				fprintf(stderr, "bad --listen %s\n", v);
				return 2;
			}
			++i;
		}
		else if (!strcmp(a, "--duration") && v) {
			duration = atof(v);
			++i;
		}
		else if (!strcmp(a, "--t1") && v) {
			conf.t1_ms = (uint32_t)atoi(v);
			if (conf.t2_ms < conf.t1_ms)
				conf.t2_ms = conf.t1_ms;
			++i;
		}
		else if (!strcmp(a, "--hsize") && v) {
			conf.ctrans_hsize = conf.strans_hsize =
				conf.obj_hsize = (uint32_t)atoi(v);
			++i;
		}
		else if (!strcmp(a, "--rxsz") && v) {
			conf.udp_rxsz = (uint32_t)atoi(v);
			++i;
		}
		else if (!strcmp(a, "--tls-cert") && v) {
			conf.tls_cert = v;
			++i;
		}
		else if (!strcmp(a, "--call-to") && v) {
			call_to = v;
			++i;
		}
		else if (!strcmp(a, "--rate") && v) {
			rate = (uint32_t)strtoul(v, NULL, 10);
			++i;
		}
		else if (!strcmp(a, "--count") && v) {
			count = strtoull(v, NULL, 10);
			++i;
		}
		else if (!strcmp(a, "--print-port")) {
			print_port = true;
		}
		else if (!strcmp(a, "--ack-view")) {
			ack_view = true;
		}
		else {
			usage();
			return 2;
		}
	}

	if (!conf.listenc || (call_to && (!rate || !count))) {
		usage();
		return 2;
	}

	/* Blocked before any thread starts, so signals reach only the
	 * signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}

	err = redum_stack_start(&stack, &conf);
	if (err) {
		fprintf(stderr, "redum_stack_start: %s\n", strerror(err));
		return 1;
	}

	err = echo_tu_start(&et, stack, ack_view);
	if (err) {
		fprintf(stderr, "echo_tu_start: %s\n", strerror(err));
		(void)redum_stack_shutdown(stack, true);
		(void)redum_stack_join(stack, NULL);
		return 1;
	}

	if (call_to) {
		err = uac_tu_start(&ut, stack, call_to, rate, count);
		if (err) {
			fprintf(stderr, "uac_tu_start: %s\n", strerror(err));
			(void)redum_stack_shutdown(stack, true);
			(void)echo_tu_join(et, NULL);
			(void)redum_stack_join(stack, NULL);
			return 1;
		}
	}

	if (print_port) {
		for (uint32_t i = 0; ; i++) {
			enum sip_transp tp;
			struct sa la;

			if (redum_stack_laddr(stack, i, &tp, &la))
				break;
			printf("port %u %s\n", sa_port(&la),
			       sip_transp_name(tp));
		}
		fflush(stdout);
	}

	if (duration > 0)
		deadline = now_ms() + (int64_t)(duration * 1000);

	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		int timeout = -1;

		if (deadline >= 0 && !stopping) {
			int64_t left = deadline - now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		/* the UAC's end is polled */
		if (ut && (timeout < 0 || timeout > 50))
			timeout = 50;

		int n = poll(&pfd, 1, stopping ? -1 : timeout);
		if (n < 0 && errno != EINTR)
			break;

		if (n == 0 && ut && !uac_tu_finished(ut) &&
		    (deadline < 0 || now_ms() < deadline))
			continue;

		if (n > 0) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
		}
		else if (n == 0 && stopping) {
			continue;
		}

		/* first signal or the end of --duration: graceful; a later
		 * signal: forced */
		if (!stopping) {
			stopping = true;
			(void)redum_stack_shutdown(stack, false);
			break;
		}
	}

	/* The stack removes the TU (TransactionUserRemoved ends its
	 * thread), then stops. A second signal meanwhile forces it: watch
	 * for it on a helper path by polling while joining the TU. */
	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		struct signalfd_siginfo si;

		if (poll(&pfd, 1, 50) > 0 &&
		    read(sfd, &si, sizeof(si)) == sizeof(si))
			(void)redum_stack_shutdown(stack, true);

		struct redum_stack_stats cur;
		redum_stack_stats(stack, &cur);
		if (!cur.tus)
			break;
	}

	(void)echo_tu_join(et, &ets);
	if (ut)
		(void)uac_tu_join(ut, &uts);
	err = redum_stack_join(stack, &st);
	close(sfd);

	printf("--- stack counters\n");
	(void)redum_stack_stats_print(&pf, &st);
	printf("--- echo tu\n");
	printf("requests %llu\ninvites %llu\nbyes %llu\noptions %llu\n"
	       "others %llu\nacks %llu\nack_timeouts %llu\ncancelled %llu\n"
	       "cmd_failed %llu\npush_failed %llu\n",
	       (unsigned long long)ets.requests,
	       (unsigned long long)ets.invites,
	       (unsigned long long)ets.byes,
	       (unsigned long long)ets.options,
	       (unsigned long long)ets.others,
	       (unsigned long long)ets.acks,
	       (unsigned long long)ets.ack_timeouts,
	       (unsigned long long)ets.cancelled,
	       (unsigned long long)ets.cmd_failed,
	       (unsigned long long)ets.push_failed);
	if (call_to) {
		printf("--- uac tu\n");
		printf("started %llu\nok %llu\nfailed %llu\n"
		       "cmd_failed %llu\npush_failed %llu\n",
		       (unsigned long long)uts.started,
		       (unsigned long long)uts.ok,
		       (unsigned long long)uts.failed,
		       (unsigned long long)uts.cmd_failed,
		       (unsigned long long)uts.push_failed);
		if (uts.ok != count)
			err = err ? err : EPROTO;
	}
	fflush(stdout);

	return err ? 1 : 0;
}
