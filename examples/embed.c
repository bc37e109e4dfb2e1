/**
 * @file embed.c  Embed redum in a few dozen lines: a stack, a DUM driven by
 *                this program's own libre loop, every call answered and
 *                hung up after N seconds, then an orderly shutdown.
 *
 *   redum-embed [LISTEN] [CALL_SECONDS] [RUN_SECONDS]
 *   redum-embed udp:127.0.0.1:5060 5 60
 *
 * Ctrl-C (or RUN_SECONDS) stops it: DUM ends the calls, leaves the stack,
 * and its last event (on_dum_can_be_deleted) ends the loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include <redum/dum.h>

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=embed\r\n"
	"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

static volatile sig_atomic_t interrupted;
static uint32_t call_ms = 5000;
static uint64_t run_until;

static struct list calls;           /* calls we will hang up */

struct call {
	struct le le;
	struct tmr tmr;
	struct redum_dum *dum;
	redum_dum_handle h;
};

static void call_destructor(void *arg)
{
	struct call *c = arg;

	tmr_cancel(&c->tmr);
	list_unlink(&c->le);
}

static void hangup(void *arg)
{
	struct call *c = arg;

	(void)redum_invite_end(c->dum, c->h);   /* stale by now? then an
						   error event: harmless */
	mem_deref(c);
}

static void on_new(struct redum_dum *dum, const struct redum_dum_event *ev,
		   void *arg)
{
	(void)arg;
	printf("call %llu from %s\n", (unsigned long long)ev->h, ev->msg.from);
	(void)redum_invite_answer(dum, ev->h, 180, NULL, NULL, NULL, 0);
	(void)redum_invite_answer(dum, ev->h, 200, NULL, "application/sdp",
				  sdp, sizeof(sdp) - 1);
}

static void on_connected(struct redum_dum *dum,
			 const struct redum_dum_event *ev, void *arg)
{
	struct call *c = mem_zalloc(sizeof(*c), call_destructor);
	(void)arg;

	if (!c)
		return;
	c->dum = dum;
	c->h = ev->h;
	list_append(&calls, &c->le, c);
	tmr_start(&c->tmr, call_ms, hangup, c);
}

static void on_terminated(struct redum_dum *dum,
			  const struct redum_dum_event *ev, void *arg)
{
	(void)dum;
	(void)arg;
	printf("call %llu ended: %s\n", (unsigned long long)ev->h,
	       redum_term_reason_name(ev->reason));
}

static void on_deleted(struct redum_dum *dum, void *arg)
{
	(void)dum;
	(void)arg;
	re_cancel();                        /* the final message */
}

static void tick(void *arg)
{
	struct redum_dum *dum = *(struct redum_dum **)arg;
	static struct tmr t;

	if (interrupted || tmr_jiffies() >= run_until) {
		(void)redum_dum_stop(dum);  /* EALREADY later: fine */
		return;
	}
	tmr_start(&t, 100, tick, arg);
}

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int main(int argc, char **argv)
{
	struct redum_stack_conf sconf;
	struct redum_dum_handlers hd = {
		.invite = {.on_new = on_new, .on_connected = on_connected,
			   .on_terminated = on_terminated},
		.on_dum_can_be_deleted = on_deleted,
	};
	struct redum_stack *stack = NULL;
	struct redum_dum *dum = NULL;
	struct sa laddr;
	int err;

	if (argc > 2)
		call_ms = (uint32_t)atoi(argv[2]) * 1000;

	redum_stack_conf_init(&sconf);
	err = redum_stack_conf_listen(&sconf, argc > 1 ? argv[1] :
				      "udp:127.0.0.1:5060");
	if (!err)
		err = redum_stack_start(&stack, &sconf); /* + libre_init() */
	if (!err)
		err = redum_dum_alloc(&dum, stack, NULL, &hd);
	if (!err)
		err = redum_dum_attach(dum);             /* DUM on our loop */
	if (!err)
		err = redum_dum_app_attach(dum, false, 0); /* events too   */
	if (err) {
		fprintf(stderr, "start: %s\n", strerror(err));
		return 1;
	}

	(void)redum_stack_laddr(stack, 0, NULL, &laddr);
	re_printf("listening on %J\n", &laddr);

	signal(SIGINT, on_sigint);
	run_until = tmr_jiffies() + (argc > 3 ? (uint64_t)atoi(argv[3]) :
				     3600) * 1000;
	tick(&dum);
	(void)re_main(NULL);                     /* until can-be-deleted */
	list_flush(&calls);

	err = redum_dum_free(dum);
	(void)redum_stack_shutdown(stack, false);
	err |= redum_stack_join(stack, NULL);
	printf("done\n");

	return err ? 1 : 0;
}
