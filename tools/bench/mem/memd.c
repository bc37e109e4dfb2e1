/**
 * @file memd.c  redum-bench-memd: a server for the memory benchmark
 *
 * The same three threads as redumd (stack thread, DUM thread, this
 * application thread with its libre loop) and the same call handling
 * (every call answered 180 then 200 with an SDP answer, kept until the
 * peer's BYE), plus the roles redumd does not have yet: an in-memory
 * registrar (no authentication) and a presence notifier (SUBSCRIBE taken,
 * PUBLISH stored). tools/bench/mem/run measures its RSS per registration
 * binding; calls are measured on redumd itself.
 *
 *   redum-bench-memd udp:127.0.0.1:PORT
 *
 * Prints "listening udp:ADDR:PORT" once ready. SIGUSR1: the stack's, DUM's
 * and the registrar's counters to stderr, then a line "memd-stats-end".
 * SIGUSR2: malloc_trim(0) (freed heap pages back to the kernel: what
 * RSS would be if the allocator returned the transactions' memory), then
 * a line "memd-trimmed" on stderr.
 * SIGTERM/SIGINT: forced shutdown (a benchmark has no use for a graceful
 * one here), exit 0.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/stack.h>
#include <redum/sub.h>

static const char answer_sdp[] =
	"v=0\r\n"
	"o=memd 1 1 IN IP4 127.0.0.1\r\n"
	"s=memd\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 9 RTP/AVP 0\r\n"
	"a=inactive\r\n";

struct memd {
	struct redum_stack *stack;
	struct redum_dum *dum;
	int sigfd;
	bool stopping;
};


static void on_new(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)arg;

	if (redum_invite_answer(dum, ev->h, 180, NULL, NULL, NULL, 0) ||
	    redum_invite_answer(dum, ev->h, 200, NULL, "application/sdp",
				answer_sdp, sizeof(answer_sdp) - 1))
		fprintf(stderr, "memd: cannot answer call %llu\n",
			(unsigned long long)ev->h);
}


static void on_can_be_deleted(struct redum_dum *dum, void *arg)
{
	(void)dum;
	(void)arg;
	re_cancel();
}


static int reg_stats_print(struct re_printf *pf,
			   const struct redum_registrar_stats *st)
{
	return re_hprintf(pf, "reg_aors %llu\nreg_bindings %llu\n"
			  "reg_registers %llu\nreg_ok %llu\n",
			  (unsigned long long)st->aors,
			  (unsigned long long)st->bindings,
			  (unsigned long long)st->registers,
			  (unsigned long long)st->ok);
}


static void on_signal(int flags, void *arg)
{
	struct memd *m = arg;
	struct signalfd_siginfo si;
	(void)flags;

	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			struct redum_stack_stats sst;
			struct redum_dum_stats dst;
			struct redum_registrar_stats rst;
			struct mallinfo2 mi = mallinfo2();

			redum_stack_stats(m->stack, &sst);
			redum_dum_stats(m->dum, &dst);
			redum_registrar_stats(m->dum, &rst);
			re_fprintf(stderr, "%H%H%Hheap_inuse %zu\n"
				   "heap_mmap %zu\nmemd-stats-end\n",
				   redum_stack_stats_print, &sst,
				   redum_dum_stats_print, &dst,
				   reg_stats_print, &rst, mi.uordblks,
				   mi.hblkhd);
			continue;
		}
		if (si.ssi_signo == SIGUSR2) {
			(void)malloc_trim(0);
			fprintf(stderr, "memd-trimmed\n");
			continue;
		}
		if (!m->stopping) {
			m->stopping = true;
			(void)redum_dum_shutdown_force(m->dum);
		}
	}
}


int main(int argc, char *argv[])
{
	struct memd m = {.sigfd = -1};
	struct redum_dum_handlers hd = {
		.invite = {.on_new = on_new},
		.on_dum_can_be_deleted = on_can_be_deleted,
		.arg = &m,
	};
	struct redum_stack_conf sc;
	struct redum_dum_conf dc;
	struct redum_registrar_conf rc;
	struct redum_sub_conf subc;
	sigset_t all, handled;
	struct sa la;
	int err, rc_exit = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: redum-bench-memd udp:ADDR:PORT\n");
		return 2;
	}

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGUSR1);
	sigaddset(&handled, SIGUSR2);
	m.sigfd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m.sigfd < 0) {
		perror("memd: signalfd");
		return 1;
	}

	err = libre_init();
	if (err)
		return 1;

	redum_stack_conf_init(&sc);
	sc.software = "redum-bench-memd";
	err = redum_stack_conf_listen(&sc, argv[1]);
	if (!err)
		err = redum_stack_start(&m.stack, &sc);
	if (err) {
		fprintf(stderr, "memd: stack: %s\n", strerror(err));
		rc_exit = 1;
		goto out;
	}
	if (!redum_stack_laddr(m.stack, 0, NULL, &la)) {
		re_printf("listening udp:%J\n", &la);
		fflush(stdout);
	}

	redum_dum_conf_init(&dc);
	dc.name = "memd";
	redum_registrar_conf_init(&rc);
	dc.registrar = &rc;
	redum_sub_conf_init(&subc);
	subc.events = "presence";
	subc.presence_agent = true;
	subc.pub_store = true;
	dc.sub = &subc;

	err = redum_dum_alloc(&m.dum, m.stack, &dc, &hd);
	if (!err)
		err = redum_dum_app_attach(m.dum, false, 0);
	if (!err)
		err = redum_dum_start(m.dum);
	if (!err)
		err = fd_listen(m.sigfd, FD_READ, on_signal, &m);
	if (err) {
		fprintf(stderr, "memd: DUM: %s\n", strerror(err));
		rc_exit = 1;
		if (m.dum)
			(void)redum_dum_shutdown_force(m.dum);
	}
	else {
		(void)re_main(NULL);
	}

	fd_close(m.sigfd);
	if (m.dum && redum_dum_free(m.dum))
		rc_exit = 1;
	(void)redum_stack_shutdown(m.stack, true);
	(void)redum_stack_join(m.stack, NULL);
 out:
	close(m.sigfd);
	libre_close();
	return rc_exit;
}
