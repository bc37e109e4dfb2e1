/**
 * @file main.c  redumd: the redum server binary (startup and shutdown)
 *
 * Threads: the stack thread (redum_stack_start), the DUM thread
 * (redum_dum_start), the metrics thread (app_metrics_start, when asked)
 * and this one, the application thread, which runs a libre loop that
 * dispatches DUM's events (app/roles.c, app/clients.c) and reads signals
 * from a signalfd (every signal is blocked in every thread, so none is
 * lost to a thread that cannot handle it).
 *
 * Order: configuration (app/config.c: file, then flags) -> log -> stack ->
 * DUM -> metrics -> client usages -> READY. Shutdown: SIGTERM/SIGINT ->
 * staged graceful shutdown of DUM (docs/SHUTDOWN.md) bounded by
 * give_up_ms; a second one -> forced. When DUM's final message arrived the
 * loop ends; then the metrics thread is joined (it reads DUM's and the
 * stack's counters, so it stops before either is freed), DUM is freed and
 * the stack is stopped and joined.
 *
 * Exit codes: 0 every usage ended gracefully, 3 the deadline (or a forced
 * shutdown) force-ended some (the report names them), 2 bad configuration
 * or usage, 1 any other failure. See docs/REDUMD.md.
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
#include <redum/reg.h>
#include <redum/shutdown.h>
#include <redum/stack.h>
#include <redum/sub.h>
#include <redum/version.h>
#include "app.h"
#include "clients.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "roles.h"
#include "sdnotify.h"

enum { EXIT_FAILURE_ = 1, EXIT_USAGE = 2, EXIT_FORCE_ENDED = 3 };
enum { MAX_FLAGS = 256 };


static int stderr_vph(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stderr) == size ? 0 : ENOMEM;
}

static struct re_printf pf_stderr = {stderr_vph, NULL};


static void usage(FILE *f)
{
	fprintf(f,
		"usage: redumd [options]\n"
		"  --config FILE                 configuration file (key value "
		"lines;\n"
		"                                reference: app/redumd.conf)\n"
		"  --listen TRANSPORT:ADDR:PORT  udp, tcp or tls; IPv6 in "
		"brackets;\n"
		"                                repeatable; default "
		"udp:127.0.0.1:5060\n"
		"                                and tcp:127.0.0.1:5060\n"
		"  --tls-cert FILE               PEM certificate + key for tls\n"
		"  --metrics ADDR:PORT           HTTP /metrics and /status "
		"(default off)\n"
		"  --give-up-ms N                graceful shutdown deadline "
		"(default\n"
		"                                4000; 0 = wait forever)\n"
		"  --register-to URI             keep a registration there\n"
		"  --subscribe-to URI            keep a presence subscription\n"
		"  --call-to URI                 place a call and keep it up\n"
		"  --log-level LEVEL             error|warning|notice|info|debug\n"
		"  --set KEY=VALUE               any configuration key\n"
		"  --check-config                check the configuration, print "
		"it, exit\n"
		"  --version                     print the version and exit\n"
		"  --help                        print this help and exit\n"
		"Flags override the file. Signals: TERM/INT graceful stop "
		"(twice: forced),\n"
		"USR1 state report. Exit: 0 clean, 3 usages force-ended, 2 bad "
		"configuration,\n"
		"1 other failure. See docs/REDUMD.md.\n");
}


/* ---- configuration: file, then flags -------------------------------- */

struct flag_set {
	const char *flag;   /* "--listen" */
	const char *key;    /* "listen"   */
	const char *value;
};

struct cmdline {
	const char *config;
	bool check;
	struct flag_set set[MAX_FLAGS];
	uint32_t setc;
	char *owned[MAX_FLAGS];   /* keys split out of --set */
	uint32_t ownedc;
};


static int add_flag(struct cmdline *cl, const char *flag, const char *key,
		    const char *value)
{
	if (cl->setc >= MAX_FLAGS) {
		fprintf(stderr, "redumd: too many flags\n");
		return EXIT_USAGE;
	}
	cl->set[cl->setc++] = (struct flag_set){flag, key, value};
	return 0;
}


static int parse_args(int argc, char *argv[], struct cmdline *cl)
{
	static const struct option opts[] = {
		{"config",       required_argument, NULL, 'f'},
		{"listen",       required_argument, NULL, 'l'},
		{"tls-cert",     required_argument, NULL, 'c'},
		{"metrics",      required_argument, NULL, 'm'},
		{"give-up-ms",   required_argument, NULL, 'g'},
		{"register-to",  required_argument, NULL, 'r'},
		{"subscribe-to", required_argument, NULL, 's'},
		{"call-to",      required_argument, NULL, 'k'},
		{"log-level",    required_argument, NULL, 'L'},
		{"set",          required_argument, NULL, 'S'},
		{"check-config", no_argument,       NULL, 'C'},
		{"version",      no_argument,       NULL, 'V'},
		{"help",         no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int c, rc = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {

		case 'f': cl->config = optarg; break;
		case 'l': rc = add_flag(cl, "--listen", "listen", optarg);
			break;
		case 'c': rc = add_flag(cl, "--tls-cert", "tls_cert", optarg);
			break;
		case 'm': rc = add_flag(cl, "--metrics", "metrics", optarg);
			break;
		case 'g': rc = add_flag(cl, "--give-up-ms", "give_up_ms",
					optarg);
			break;
		case 'r': rc = add_flag(cl, "--register-to", "register_to",
					optarg);
			break;
		case 's': rc = add_flag(cl, "--subscribe-to", "subscribe_to",
					optarg);
			break;
		case 'k': rc = add_flag(cl, "--call-to", "call_to", optarg);
			break;
		case 'L': rc = add_flag(cl, "--log-level", "log_level",
					optarg);
			break;

		case 'S': {
			const char *eq = strchr(optarg, '=');
			char *key;

			if (!eq || eq == optarg) {
				fprintf(stderr, "redumd: --set %s: expected "
					"KEY=VALUE\n", optarg);
				return EXIT_USAGE;
			}
			if (cl->ownedc >= MAX_FLAGS ||
			    re_sdprintf(&key, "%b", optarg,
					(size_t)(eq - optarg))) {
				fprintf(stderr, "redumd: too many flags\n");
				return EXIT_USAGE;
			}
			cl->owned[cl->ownedc++] = key;
			rc = add_flag(cl, "--set", key, eq + 1);
			break;
		}

		case 'C': cl->check = true; break;

		case 'V':
			printf("redumd %s\n", REDUM_VERSION);
			return -1;

		case 'h':
			usage(stdout);
			return -1;

		case ':':
			fprintf(stderr, "redumd: %s needs a value\n",
				argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;

		default:
			fprintf(stderr, "redumd: unknown option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
		if (rc)
			return rc;
	}

	if (optind < argc) {
		fprintf(stderr, "redumd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	return 0;
}


static int configure(struct app *app, const struct cmdline *cl)
{
	bool bad = false;
	int err;

	if (cl->config) {
		err = app_config_load(&app->cfg, cl->config, &pf_stderr);
		if (err)
			return EXIT_USAGE;
	}

	for (uint32_t i = 0; i < cl->setc; i++) {
		const struct flag_set *f = &cl->set[i];
		char flag[80];

		if (!strcmp(f->flag, "--set"))
			re_snprintf(flag, sizeof(flag), "--set %s", f->key);
		else
			re_snprintf(flag, sizeof(flag), "%s", f->flag);
		if (app_config_set_flag(&app->cfg, flag, f->key, f->value,
					&pf_stderr))
			bad = true;
	}
	if (bad || app_config_check(&app->cfg, &pf_stderr))
		return EXIT_USAGE;

	if (app->cfg.tls_cert && access(app->cfg.tls_cert, R_OK)) {
		fprintf(stderr, "tls_cert: %s: %s\n", app->cfg.tls_cert,
			strerror(errno));
		return EXIT_USAGE;
	}

	return 0;
}


/* ---- DUM's final message, signals, the live report ------------------ */

static void on_dum_can_be_deleted(struct redum_dum *dum, void *arg)
{
	struct app *app = arg;
	const struct redum_shutdown_report *r = redum_dum_shutdown_result(dum);

	if (r) {
		app->force_ended = r->nforced;
		app_log(r->nforced ? APP_LOG_WARNING : APP_LOG_NOTICE,
			"shutdown report\n%H", redum_shutdown_report_print, r);
	}
	re_cancel();   /* the final message: leave the loop, free below */
}


static void print_report(const struct app *app)
{
	struct redum_shutdown_progress prog;
	struct redum_stack_stats sst;
	struct redum_dum_stats dst;

	if (!redum_dum_shutdown_progress(app->dum, &prog) &&
	    prog.mode != REDUM_SHUTDOWN_NONE)
		app_log(APP_LOG_NOTICE, "shutdown progress\n%H",
			redum_shutdown_progress_print, &prog);

	redum_stack_stats(app->stack, &sst);
	redum_dum_stats(app->dum, &dst);
	app_log(APP_LOG_NOTICE, "state report\n%H", app_roles_report, app);
	app_log(APP_LOG_NOTICE, "stack counters\n%H",
		redum_stack_stats_print, &sst);
	app_log(APP_LOG_NOTICE, "dum counters\n%H", redum_dum_stats_print,
		&dst);
}


static void signal_handler(int flags, void *arg)
{
	struct app *app = arg;
	struct signalfd_siginfo si;
	(void)flags;

	while (read(app->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			print_report(app);
			continue;
		}
		if (++app->signals == 1) {
			struct redum_shutdown_conf conf;

			app_log(APP_LOG_NOTICE, "shutting down (signal %u, "
				"give up after %u ms)", si.ssi_signo,
				app->cfg.give_up_ms);
			(void)app_sdnotifyf("STOPPING=1\nSTATUS=shutting down"
					    " (give up after %u ms)",
					    app->cfg.give_up_ms);
			redum_shutdown_conf_init(&conf);
			conf.give_up_ms = app->cfg.give_up_ms;
			/* DUM's stage lines go straight to stderr: only
			 * when the log goes there too and shows notices */
			conf.log = !app->cfg.log_syslog &&
				app_log_enabled(APP_LOG_NOTICE);
			(void)redum_dum_shutdown(app->dum, &conf);
		}
		else if (app->signals == 2) {
			app_log(APP_LOG_WARNING, "forced shutdown (second "
				"signal)");
			(void)app_sdnotify("STATUS=forced shutdown");
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


/* ---- startup --------------------------------------------------------- */

static void stack_conf(const struct app_config *cfg,
		       struct redum_stack_conf *sc)
{
	redum_stack_conf_init(sc);
	sc->software = cfg->software ? cfg->software :
		"redumd " REDUM_VERSION;
	sc->tls_cert = cfg->tls_cert;
	sc->overload_delay_ms = cfg->overload_delay_ms;
	sc->overload_pct = cfg->overload_pct;
	sc->overload_interval_ms = cfg->overload_interval_ms;
	for (uint32_t i = 0; i < cfg->listenc; i++) {
		sc->listen[i].tp = cfg->listen[i].tp;
		sc->listen[i].addr = cfg->listen[i].addr;
	}
	sc->listenc = cfg->listenc;
	if (!sc->listenc) {
		(void)redum_stack_conf_listen(sc, "udp:127.0.0.1:5060");
		(void)redum_stack_conf_listen(sc, "tcp:127.0.0.1:5060");
	}
}


/* One line per listener on stdout, for people and for tests that asked
 * for port 0; the first one also goes into systemd's STATUS. */
static void print_listeners(const struct app *app, uint32_t n)
{
	char first[80] = "";

	for (uint32_t i = 0; i < n; i++) {
		enum sip_transp tp;
		struct sa laddr;

		if (redum_stack_laddr(app->stack, i, &tp, &laddr))
			continue;
		re_printf("listening %s:%J\n", app_transp_name(tp), &laddr);
		if (!first[0])
			re_snprintf(first, sizeof(first), "%s:%J",
				    app_transp_name(tp), &laddr);
	}
	fflush(stdout);
	(void)app_sdnotifyf("STATUS=serving on %s", first);
}


static int metrics_start(struct app *app)
{
	struct sa laddr;
	int err;

	if (!app->cfg.metrics_on)
		return 0;

	err = app_metrics_start(&app->metrics, &app->cfg.metrics, app->stack,
				app->dum, app_roles_metrics, app);
	if (err) {
		app_log(APP_LOG_ERROR, "metrics on %J: %m", &app->cfg.metrics,
			err);
		return err;
	}
	if (!app_metrics_laddr(app->metrics, &laddr)) {
		/* on stderr, read by tests that asked for port 0 */
		re_fprintf(stderr, "metrics http:%J\n", &laddr);
		fflush(stderr);
	}
	return 0;
}


int main(int argc, char *argv[])
{
	struct app app;
	struct cmdline cl;
	struct redum_dum_handlers hd;
	struct redum_stack_conf sconf;
	struct redum_dum_conf dconf;
	struct redum_registrar_conf rconf;
	struct redum_sub_conf subconf;
	struct redum_stack_stats final;
	int err, rc;

	memset(&app, 0, sizeof(app));
	memset(&cl, 0, sizeof(cl));
	app.sigfd = -1;
	app_config_init(&app.cfg);

	rc = parse_args(argc, argv, &cl);
	if (!rc)
		rc = configure(&app, &cl);
	if (!rc && cl.check) {
		re_fprintf(stdout, "# redumd %s: configuration OK\n%H",
			   REDUM_VERSION, app_config_print, &app.cfg);
		rc = -1;
	}
	for (uint32_t i = 0; i < cl.ownedc; i++)
		mem_deref(cl.owned[i]);
	if (rc) {
		app_config_reset(&app.cfg);
		return rc < 0 ? 0 : rc;
	}

	app.sigfd = signals_open();
	if (app.sigfd < 0) {
		perror("redumd: signalfd");
		app_config_reset(&app.cfg);
		return EXIT_FAILURE_;
	}

	err = libre_init();
	if (err) {
		fprintf(stderr, "redumd: libre_init: %s\n", strerror(err));
		close(app.sigfd);
		app_config_reset(&app.cfg);
		return EXIT_FAILURE_;
	}
	app_log_open(app.cfg.log_level, app.cfg.log_syslog);

	err = app_clients_prepare(&app);
	if (!err)
		err = app_roles_init(&app);
	if (err) {
		app_log(APP_LOG_ERROR, "out of memory");
		rc = EXIT_FAILURE_;
		goto out;
	}

	stack_conf(&app.cfg, &sconf);
	err = redum_stack_start(&app.stack, &sconf);
	if (err) {
		app_log(APP_LOG_ERROR, "cannot start the stack: %m", err);
		rc = EXIT_FAILURE_;
		goto out;
	}
	print_listeners(&app, sconf.listenc);

	app_roles_dum_conf(&app, &dconf, &rconf, &subconf);
	app_roles_handlers(&app, &hd);
	hd.on_dum_can_be_deleted = on_dum_can_be_deleted;
	err = redum_dum_alloc(&app.dum, app.stack, &dconf, &hd);
	if (!err)
		err = redum_dum_app_attach(app.dum, false, 0);
	if (!err)
		err = redum_dum_start(app.dum);
	if (!err)
		err = fd_listen(app.sigfd, FD_READ, signal_handler, &app);
	if (err) {
		app_log(APP_LOG_ERROR, "cannot start DUM: %m", err);
		/* no loop to wait in: the stack's forced stop abandons the
		 * TU, and a DUM that never ran is reported below */
		rc = EXIT_FAILURE_;
		app.signals = 2;
		goto stop;
	}

	/* from here DUM runs: every failure goes through its shutdown, so
	 * the loop below always ends with on_dum_can_be_deleted */
	rc = 0;
	if (metrics_start(&app) || app_clients_start(&app)) {
		rc = EXIT_FAILURE_;
		app.signals = 1;
		(void)redum_dum_shutdown(app.dum, NULL);
	}
	else {
		(void)app_sdnotify("READY=1");
		app_log(APP_LOG_INFO, "ready (version %s)", REDUM_VERSION);
	}

	(void)re_main(NULL);   /* until on_dum_can_be_deleted */
	if (!rc)
		rc = app.force_ended ? EXIT_FORCE_ENDED : 0;

 stop:
	fd_close(app.sigfd);
	/* the metrics thread reads DUM's and the stack's counters: it goes
	 * first */
	app_metrics_stop(app.metrics);
	app.metrics = NULL;
	if (app.dum && redum_dum_free(app.dum)) {
		app_log(APP_LOG_ERROR, "DUM did not finish");
		rc = EXIT_FAILURE_;
	}
	app.dum = NULL;
	(void)redum_stack_shutdown(app.stack, app.signals > 1);
	if (redum_stack_join(app.stack, &final)) {
		rc = EXIT_FAILURE_;
	}
	else {
		app_log(APP_LOG_NOTICE, "stopped\n%H",
			redum_stack_stats_print, &final);
	}
	app.stack = NULL;

 out:
	app_roles_close(&app);
	mem_deref(app.client_from);
	close(app.sigfd);
	app_log_close();
	app_config_reset(&app.cfg);
	libre_close();
	return rc;
}
