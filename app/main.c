/**
 * @file main.c  redumd: the redum server binary
 *
 * Three threads: the stack thread (redum_stack_start), the DUM thread
 * (redum_dum_start) and this one, the application thread, which runs a
 * libre loop that dispatches DUM's events and reads signals from a
 * signalfd (every signal is blocked in every thread, so none is lost to a
 * thread that cannot handle it).
 *
 * Roles today: a UA endpoint that answers every call (180, then 200 with
 * an SDP answer) and keeps it until the peer's BYE, and answers OPTIONS.
 * The configuration file, the other roles and the metrics endpoint come
 * with the server issue (docs/ARCHITECTURE.md).
 *
 * Signals: SIGTERM/SIGINT -> staged graceful shutdown (docs/SHUTDOWN.md:
 * DUM ends every usage in order within --give-up-ms, leaves the stack,
 * then the stack stops); a second one -> forced shutdown; SIGUSR1 ->
 * counters and shutdown progress to stderr. Exit codes: 0 every usage
 * ended gracefully, 3 the deadline (or a forced shutdown) force-ended
 * some (the report names them), 1 failure, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <re.h>
#include <redum/dum.h>
#include <redum/shutdown.h>
#include <redum/stack.h>
#include <redum/version.h>

enum { EXIT_USAGE = 2, EXIT_FORCE_ENDED = 3 };

/* The SDP answer of every call: a placeholder (redum carries SDP as an
 * opaque body and has no media). */
static const char answer_sdp[] =
	"v=0\r\n"
	"o=redumd 1 1 IN IP4 127.0.0.1\r\n"
	"s=redumd\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 9 RTP/AVP 0\r\n"
	"a=inactive\r\n";

struct app {
	struct redum_stack *stack;
	struct redum_dum *dum;
	int sigfd;
	unsigned signals;     /* stop signals received so far */
	uint32_t give_up_ms;
	uint32_t force_ended; /* from the final shutdown report */
};


static void usage(FILE *f)
{
	fprintf(f,
		"usage: redumd [options]\n"
		"  --listen TRANSPORT:ADDR:PORT  listen on udp, tcp or tls (IPv6 in\n"
		"                                brackets); repeatable; default\n"
		"                                udp:127.0.0.1:5060 and tcp:127.0.0.1:5060\n"
		"  --tls-cert FILE               PEM certificate + key for tls listeners\n"
		"  --give-up-ms N                graceful shutdown deadline (default\n"
		"                                4000; 0 = wait forever)\n"
		"  --version                     print the version and exit\n"
		"  --help                        print this help and exit\n"
		"Signals: TERM/INT graceful stop (twice: forced), USR1 counters.\n");
}


static void on_new(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)arg;

	/* a full command FIFO is reported, never silent: the peer then
	 * gets DUM's own answer when it stops, or its INVITE times out */
	if (redum_invite_answer(dum, ev->h, 180, NULL, NULL, NULL, 0) ||
	    redum_invite_answer(dum, ev->h, 200, NULL, "application/sdp",
				answer_sdp, sizeof(answer_sdp) - 1))
		fprintf(stderr, "redumd: cannot answer call %llu\n",
			(unsigned long long)ev->h);
}


static void on_error(struct redum_dum *dum, const struct redum_dum_event *ev,
		     void *arg)
{
	(void)dum;
	(void)arg;
	fprintf(stderr, "redumd: command on %llu failed: %s\n",
		(unsigned long long)ev->h, strerror(ev->err));
}


static void on_dum_can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct app *app = arg;
	const struct redum_shutdown_report *r = redum_dum_shutdown_result(dum);

	if (r) {
		app->force_ended = r->nforced;
		re_fprintf(stderr, "redumd: shutdown report\n%H",
			   redum_shutdown_report_print, r);
	}
	re_cancel();   /* the final message: leave the loop, free below */
}


static void print_stats(const struct app *app)
{
	struct redum_shutdown_progress prog;
	struct redum_stack_stats sst;
	struct redum_dum_stats dst;

	if (!redum_dum_shutdown_progress(app->dum, &prog))
		re_fprintf(stderr, "redumd: shutdown progress\n%H",
			   redum_shutdown_progress_print, &prog);

	redum_stack_stats(app->stack, &sst);
	redum_dum_stats(app->dum, &dst);
	re_fprintf(stderr, "redumd: stack counters\n%H", redum_stack_stats_print,
		   &sst);
	re_fprintf(stderr, "redumd: dum counters\n%H", redum_dum_stats_print,
		   &dst);
}


static void signal_handler(int flags, void *arg)
{
	struct app *app = arg;
	struct signalfd_siginfo si;
	(void)flags;

	while (read(app->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			print_stats(app);
			continue;
		}
		if (++app->signals == 1) {
			struct redum_shutdown_conf conf;

			fprintf(stderr, "redumd: shutting down (signal %u, "
				"give up after %u ms)\n", si.ssi_signo,
				app->give_up_ms);
			redum_shutdown_conf_init(&conf);
			conf.give_up_ms = app->give_up_ms;
			(void)redum_dum_shutdown(app->dum, &conf);
		}
		else if (app->signals == 2) {
			fprintf(stderr, "redumd: forced shutdown\n");
			(void)redum_dum_shutdown_force(app->dum);
		}
	}
}


/* Blocks every signal in this thread (threads started later inherit the
 * mask) and returns a signalfd for the ones redumd handles. */
static int signals_open(void)
{
	sigset_t all, handled;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGUSR1);
	return signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
}


static int parse_args(int argc, char *argv[], struct redum_stack_conf *sc,
		      struct app *app)
{
	static const struct option opts[] = {
		{"listen",   required_argument, NULL, 'l'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"give-up-ms", required_argument, NULL, 'g'},
		{"version",  no_argument,       NULL, 'V'},
		{"help",     no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {

		case 'l':
			err = redum_stack_conf_listen(sc, optarg);
			if (err) {
				fprintf(stderr, "redumd: --listen %s: %s\n",
					optarg, err == E2BIG ?
					"too many listeners" :
					"expected udp|tcp|tls:ADDR:PORT with a "
					"numeric address");
				return EXIT_USAGE;
			}
			break;

		case 'c':
			sc->tls_cert = optarg;
			break;

		case 'g': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > UINT32_MAX ||
			    optarg[0] == '-') {
				fprintf(stderr, "redumd: --give-up-ms %s: "
					"expected milliseconds, 0..%u\n",
					optarg, UINT32_MAX);
				return EXIT_USAGE;
			}
			app->give_up_ms = (uint32_t)v;
			break;
		}

		case 'V':
			printf("redumd %s\n", REDUM_VERSION);
			exit(0);

		case 'h':
			usage(stdout);
			exit(0);

		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}

	if (optind < argc) {
		fprintf(stderr, "redumd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	if (!sc->listenc) {
		(void)redum_stack_conf_listen(sc, "udp:127.0.0.1:5060");
		(void)redum_stack_conf_listen(sc, "tcp:127.0.0.1:5060");
	}

	return 0;
}


static const char *transp_name(enum sip_transp tp)
{
	switch (tp) {
	case SIP_TRANSP_TCP: return "tcp";
	case SIP_TRANSP_TLS: return "tls";
	default:             return "udp";
	}
}


static void print_listeners(const struct redum_stack *stack, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		enum sip_transp tp;
		struct sa laddr;

		if (redum_stack_laddr(stack, i, &tp, &laddr))
			continue;
		/* one line per listener, for people and for tests that
		 * asked for port 0 */
		re_printf("listening %s:%J\n", transp_name(tp), &laddr);
	}
	fflush(stdout);
}


int main(int argc, char *argv[])
{
	struct app app = {.sigfd = -1, .give_up_ms = 4000};
	struct redum_dum_handlers hd = {
		.invite = {.on_new = on_new},
		.on_error = on_error,
		.on_dum_can_be_deleted = on_dum_can_be_deleted,
		.arg = &app,
	};
	struct redum_stack_conf sconf;
	struct redum_dum_conf dconf;
	struct redum_stack_stats final;
	int err, rc;

	redum_stack_conf_init(&sconf);
	sconf.software = "redumd " REDUM_VERSION;
	rc = parse_args(argc, argv, &sconf, &app);
	if (rc)
		return rc;

	app.sigfd = signals_open();
	if (app.sigfd < 0) {
		perror("redumd: signalfd");
		return 1;
	}

	err = libre_init();
	if (err) {
		fprintf(stderr, "redumd: libre_init: %s\n", strerror(err));
		return 1;
	}

	err = redum_stack_start(&app.stack, &sconf);
	if (err) {
		fprintf(stderr, "redumd: cannot start the stack: %s\n",
			strerror(err));
		rc = 1;
		goto out;
	}
	print_listeners(app.stack, sconf.listenc);

	redum_dum_conf_init(&dconf);
	dconf.name = "redumd";
	err = redum_dum_alloc(&app.dum, app.stack, &dconf, &hd);
	if (!err)
		err = redum_dum_app_attach(app.dum, false, 0);
	if (!err)
		err = redum_dum_start(app.dum);
	if (!err)
		err = fd_listen(app.sigfd, FD_READ, signal_handler, &app);
	if (err) {
		fprintf(stderr, "redumd: cannot start DUM: %s\n",
			strerror(err));
		/* no loop to wait in: the stack's forced stop abandons the
		 * TU, and a DUM that never ran is reported below */
		rc = 1;
		app.signals = 2;
		goto stop;
	}

	(void)re_main(NULL);   /* until on_dum_can_be_deleted */
	rc = app.force_ended ? EXIT_FORCE_ENDED : 0;

 stop:
	fd_close(app.sigfd);
	if (app.dum && redum_dum_free(app.dum)) {
		fprintf(stderr, "redumd: DUM did not finish\n");
		rc = 1;
	}
	(void)redum_stack_shutdown(app.stack, app.signals > 1);
	if (redum_stack_join(app.stack, &final)) {
		rc = 1;
	}
	else {
		re_fprintf(stderr, "redumd: stopped\n%H",
			   redum_stack_stats_print, &final);
	}

 out:
	close(app.sigfd);
	libre_close();
	return rc;
}
