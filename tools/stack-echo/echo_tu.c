/**
 * @file echo_tu.c  A minimal transaction user (see echo_tu.h)
 *
 * Kept lean for the 10k calls/s benchmark: per request one event in, one
 * command out (the INVITE's dialog accept and the BYE's dialog destroy
 * ride on the reply command), no other allocation; the 200's headers and
 * SDP are preformatted constants.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "echo_tu.h"

struct echo_tu {
	struct redum_stack *stack;
	struct redum_stack_tu *tu;
	pthread_t thread;
	bool want_ack_view;
	struct echo_tu_stats st;     /* TU thread only, read after join */
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
static const char allow_hdrs[] =
	"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n";


static void check(struct echo_tu *et, int err)
{
	if (err)
		++et->st.push_failed;
}


static void on_request(struct echo_tu *et, struct redum_stack_event *ev)
{
	struct redum_stack_tu *tu = et->tu;
	enum redum_stack_method m = redum_stack_method_of(&ev->msg->met);
	uint32_t flags;

	++et->st.requests;

	switch (m) {

	case REDUM_STACK_M_OPTIONS:
		++et->st.options;
		check(et, redum_stack_reply(tu, ev->id, 200, "OK", 0,
					    allow_hdrs, NULL, 0));
		break;

	case REDUM_STACK_M_INVITE:
		++et->st.invites;
		/* one command: accept the dialog (the server transaction
		 * id doubles as its id) and answer 200 */
		flags = REDUM_STACK_F_CONTACT;
		if (!ev->dlg)
			flags |= REDUM_STACK_F_DLG_ACCEPT;
		if (!et->want_ack_view)
			flags |= REDUM_STACK_F_NO_ACK_VIEW;
		check(et, redum_stack_reply_dlg(tu, ev->id,
						ev->dlg ? ev->dlg : ev->id,
						200, "OK", flags, sdp_hdrs,
						sdp, sizeof(sdp) - 1));
		break;

	case REDUM_STACK_M_BYE:
		++et->st.byes;
		/* one command: 200, then the dialog goes */
		check(et, redum_stack_reply_dlg(tu, ev->id, ev->dlg, 200, "OK",
						ev->dlg ?
						REDUM_STACK_F_DLG_DESTROY : 0,
						NULL, NULL, 0));
		break;

	default:
		++et->st.others;
		check(et, redum_stack_reply(tu, ev->id, 501,
					    "Not Implemented", 0, NULL, NULL,
					    0));
		break;
	}
}


static void event_handler(struct redum_stack_tu *tu,
			  struct redum_stack_event *ev, void *arg)
{
	struct echo_tu *et = arg;

	switch (ev->type) {

	case REDUM_STACK_EV_REQUEST:
		on_request(et, ev);
		break;

	case REDUM_STACK_EV_ACK:
		++et->st.acks;
		if (ev->msg)
			++et->st.ack_views;
		break;

	case REDUM_STACK_EV_ACK_TIMEOUT:
		++et->st.ack_timeouts;
		if (ev->dlg)
			check(et, redum_stack_dlg_destroy(tu, ev->dlg));
		break;

	case REDUM_STACK_EV_CANCELLED:
		++et->st.cancelled;
		check(et, redum_stack_srv_release(tu, ev->id));
		break;

	case REDUM_STACK_EV_SRV_ERROR:
		++et->st.srv_errors;
		break;

	case REDUM_STACK_EV_CMD_FAILED:
		++et->st.cmd_failed;
		break;

	default:
		break;
	}

	redum_stack_event_release(tu, ev);
}


static void removed_handler(struct redum_stack_tu *tu, void *arg)
{
	struct echo_tu *et = arg;
	(void)tu;

	et->st.removed = true;
	re_cancel();
}


static void *tu_thread(void *arg)
{
	struct echo_tu *et = arg;
	sigset_t all;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	err = re_thread_init();
	if (err)
		return NULL;

	err = redum_stack_tu_attach(et->tu, false, 0);
	if (!err)
		(void)re_main(NULL);

	/* the removed handler has returned: the handle may go */
	(void)redum_stack_tu_free(et->tu);
	re_thread_close();

	return NULL;
}


int echo_tu_start(struct echo_tu **etp, struct redum_stack *stack,
		  bool want_ack_view)
{
	struct redum_stack_tu_conf conf = {
		.name = "echo",
		.methods = REDUM_STACK_MALL,
		.eventh = event_handler,
		.removedh = removed_handler,
	};
	struct echo_tu *et;
	int err;

	if (!etp || !stack)
		return EINVAL;

	et = calloc(1, sizeof(*et));
	if (!et)
		return ENOMEM;

	et->stack = stack;
	et->want_ack_view = want_ack_view;
	conf.arg = et;

	err = redum_stack_tu_alloc(&et->tu, stack, &conf);
	if (err)
		goto out;

	err = pthread_create(&et->thread, NULL, tu_thread, et);
	if (err) {
		/* never attached: the stack removes it, nobody consumes */
		(void)redum_stack_tu_remove(et->tu, false);
		goto out;
	}

	*etp = et;
	return 0;

 out:
	if (err && !et->tu)
		free(et);
	return err;
}


int echo_tu_remove(struct echo_tu *et, bool graceful)
{
	if (!et)
		return EINVAL;

	/* before echo_tu_join() only: the handle lives until then */
	return redum_stack_tu_remove(et->tu, graceful);
}


int echo_tu_join(struct echo_tu *et, struct echo_tu_stats *st)
{
	int err;

	if (!et)
		return EINVAL;

	err = pthread_join(et->thread, NULL);
	if (st)
		*st = et->st;
	free(et);

	return err;
}
