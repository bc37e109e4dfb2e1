/**
 * @file uac_tu.c  A load-generating UAC (see uac_tu.h)
 *
 * Per call n (tokens 2n for the INVITE, 2n+1 for the BYE, dialog id n+1):
 * dlg_alloc + drequest INVITE (provisionals not reported); on its 2xx:
 * dlg_create (consumes the event), ACK, drequest BYE; on the BYE's final:
 * dlg_destroy. A 1 ms timer on the TU's libre loop keeps the number of
 * calls started at rate * elapsed time.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "uac_tu.h"

struct uac_tu {
	struct redum_stack *stack;
	struct redum_stack_tu *tu;
	pthread_t thread;
	char uri[256];
	uint32_t rate;
	uint64_t count;
	uint64_t t0;                 /* tmr_jiffies() at the first tick   */
	struct tmr tmr;
	struct uac_tu_stats st;      /* TU thread only, read after join  */
	_Atomic bool finished;
};

static const char sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=redum\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 6000 RTP/AVP 0\r\n"
	"a=rtpmap:0 PCMU/8000\r\n";

static const char sdp_hdrs[] = "Content-Type: application/sdp\r\n";


static void check_done(struct uac_tu *ut)
{
	if (ut->st.ok + ut->st.failed + ut->st.cmd_failed >= ut->count)
		atomic_store_explicit(&ut->finished, true,
				      memory_order_release);
}


static void call_end(struct uac_tu *ut, uint64_t dlg, bool ok)
{
	if (ok)
		++ut->st.ok;
	else
		++ut->st.failed;

	if (dlg && redum_stack_dlg_destroy(ut->tu, dlg))
		++ut->st.push_failed;

	check_done(ut);
}


static void call_start(struct uac_tu *ut, uint64_t n)
{
	const uint64_t dlg = n + 1;
	int err;

	++ut->st.started;

	err = redum_stack_dlg_alloc(ut->tu, dlg, ut->uri, ut->uri, "redum",
				    "sip:redum@127.0.0.1");
	if (err) {
		++ut->st.push_failed;
		call_end(ut, 0, false);
		return;
	}

	err = redum_stack_drequest(ut->tu, 2 * n, dlg,
				   REDUM_STACK_F_CONTACT |
				   REDUM_STACK_F_NO_PROV, "INVITE", sdp_hdrs,
				   sdp, sizeof(sdp) - 1);
	if (err) {
		++ut->st.push_failed;
		call_end(ut, dlg, false);
	}
}


static void tick(void *arg)
{
	struct uac_tu *ut = arg;
	uint64_t now = tmr_jiffies(), due;

	if (!ut->t0)
		ut->t0 = now;

	due = (now - ut->t0) * ut->rate / 1000 + 1;
	if (due > ut->count)
		due = ut->count;

	/* bounded per tick: a stalled thread catches up over a few ticks */
	for (uint32_t i = 0; ut->st.started < due && i < 1000; i++)
		call_start(ut, ut->st.started);

	if (ut->st.started < ut->count)
		tmr_start(&ut->tmr, 1, tick, ut);
}


static void on_response(struct uac_tu *ut, struct redum_stack_event *ev)
{
	struct redum_stack_tu *tu = ut->tu;
	const uint64_t dlg = ev->dlg;
	const uint16_t scode = ev->msg->scode;
	const uint32_t cseq = ev->msg->cseq.num;
	const uint64_t token = ev->id;
	const bool bye = token & 1;

	if (scode < 200) {
		redum_stack_event_release(tu, ev);
		return;
	}

	if (bye) {
		redum_stack_event_release(tu, ev);
		call_end(ut, dlg, scode < 300);
		return;
	}

	if (scode >= 300) {
		redum_stack_event_release(tu, ev);
		call_end(ut, dlg, false);
		return;
	}

	/* 2xx to the INVITE: dialog, ACK, BYE (consumes ev) */
	if (redum_stack_dlg_create(tu, dlg, ev)) {
		redum_stack_event_release(tu, ev);
		++ut->st.push_failed;
		call_end(ut, dlg, false);
		return;
	}
	if (redum_stack_ack(tu, dlg, cseq, NULL, NULL, 0) ||
	    redum_stack_drequest(tu, token + 1, dlg, REDUM_STACK_F_NO_PROV,
				 "BYE", NULL, NULL, 0)) {
		++ut->st.push_failed;
		call_end(ut, dlg, false);
	}
}


static void event_handler(struct redum_stack_tu *tu,
			  struct redum_stack_event *ev, void *arg)
{
	struct uac_tu *ut = arg;

	switch (ev->type) {

	case REDUM_STACK_EV_RESPONSE:
		on_response(ut, ev);
		return;     /* released or consumed there */

	case REDUM_STACK_EV_CLI_ERROR:
		call_end(ut, ev->dlg, false);
		break;

	case REDUM_STACK_EV_CMD_FAILED:
		++ut->st.cmd_failed;
		check_done(ut);
		break;

	default:
		break;
	}

	redum_stack_event_release(tu, ev);
}


static void removed_handler(struct redum_stack_tu *tu, void *arg)
{
	struct uac_tu *ut = arg;
	(void)tu;

	ut->st.removed = true;
	tmr_cancel(&ut->tmr);
	re_cancel();
}


static void *tu_thread(void *arg)
{
	struct uac_tu *ut = arg;
	sigset_t all;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	err = re_thread_init();
	if (err)
		return NULL;

	err = redum_stack_tu_attach(ut->tu, false, 0);
	if (!err) {
		tmr_start(&ut->tmr, 0, tick, ut);
		(void)re_main(NULL);
	}

	tmr_cancel(&ut->tmr);
	(void)redum_stack_tu_free(ut->tu);
	re_thread_close();

	return NULL;
}


int uac_tu_start(struct uac_tu **utp, struct redum_stack *stack,
		 const char *uri, uint32_t rate, uint64_t count)
{
	struct redum_stack_tu_conf conf = {
		.name = "uac",
		.methods = 0,
		.eventh = event_handler,
		.removedh = removed_handler,
	};
	struct uac_tu *ut;
	int err;

	if (!utp || !stack || !uri || !rate || !count)
		return EINVAL;

	ut = calloc(1, sizeof(*ut));
	if (!ut)
		return ENOMEM;

	if (snprintf(ut->uri, sizeof(ut->uri), "%s", uri) >=
	    (int)sizeof(ut->uri)) {
		free(ut);
		return EINVAL;
	}
	ut->stack = stack;
	ut->rate  = rate;
	ut->count = count;
	conf.arg  = ut;

	err = redum_stack_tu_alloc(&ut->tu, stack, &conf);
	if (err) {
		free(ut);
		return err;
	}

	err = pthread_create(&ut->thread, NULL, tu_thread, ut);
	if (err) {
		/* never attached: the stack removes it; the handle and this
		 * struct stay allocated (nobody consumes the FIFO) */
		(void)redum_stack_tu_remove(ut->tu, false);
		return err;
	}

	*utp = ut;
	return 0;
}


bool uac_tu_finished(const struct uac_tu *ut)
{
	return ut && atomic_load_explicit(&ut->finished,
					  memory_order_acquire);
}


int uac_tu_join(struct uac_tu *ut, struct uac_tu_stats *st)
{
	int err;

	if (!ut)
		return EINVAL;

	err = pthread_join(ut->thread, NULL);
	if (st)
		*st = ut->st;
	free(ut);

	return err;
}
