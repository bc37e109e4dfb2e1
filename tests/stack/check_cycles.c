/**
 * @file check_cycles.c  Repeated start/stop of the stack with TUs (plain
 *                       check: runs under TSan and ASan)
 *
 * Each cycle: a stack on an ephemeral port, the echo TU on its own thread,
 * a client TU on this thread that sends OPTIONS to the stack's own port
 * (so the request crosses both directions of the stack) and checks the
 * 200; then a graceful or forced stop (alternating), TU removal, join.
 * ASan's leak check at exit covers "no libre object outlives the stack".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include <redum/stack.h>
#include "helpers.h"
#include "tools/stack-echo/echo_tu.h"
#include "check.h"


static void cycle(unsigned i, bool force)
{
	struct redum_stack *stack = NULL;
	struct redum_stack_event *ev;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	char uri[64], hdrs[512];
	uint16_t port;
	struct ttu t;
	int err;

	err = th_stack_start(&stack, 500);
	CHECK(!err, "cycle %u: start: %s", i, strerror(err));
	if (err)
		return;

	err = echo_tu_start(&et, stack, false);
	CHECK(!err, "cycle %u: echo tu: %s", i, strerror(err));
	err = ttu_start(&t, stack, 0);
	CHECK(!err, "cycle %u: test tu: %s", i, strerror(err));

	port = th_stack_port(stack);
	snprintf(uri, sizeof(uri), "sip:echo@127.0.0.1:%u", port);
	snprintf(hdrs, sizeof(hdrs),
		 "To: <%s>\r\nFrom: <sip:c@127.0.0.1:%u>;tag=c%u\r\n"
		 "Call-ID: cycle-%u-%u\r\nCSeq: 1 OPTIONS\r\n",
		 uri, port, i, (unsigned)getpid(), i);
	err = redum_stack_request(t.tu, i + 1, 0, "OPTIONS", uri, NULL, hdrs,
				  NULL, 0);
	CHECK(!err, "cycle %u: request: %s", i, strerror(err));

	ev = ttu_expect(&t, REDUM_STACK_EV_RESPONSE, 10000);
	CHECK(ev && ev->id == i + 1 && ev->msg->scode == 200,
	      "cycle %u: no 200 to OPTIONS", i);
	if (ev)
		redum_stack_event_release(t.tu, ev);

	err = redum_stack_shutdown(stack, force);
	CHECK(!err, "cycle %u: shutdown: %s", i, strerror(err));
	CHECK(redum_stack_shutdown(stack, force) == EALREADY,
	      "cycle %u: second shutdown", i);

	CHECK(ttu_finish(&t, 10000), "cycle %u: test tu not removed", i);
	CHECK(et && echo_tu_join(et, &ets) == 0 && ets.removed,
	      "cycle %u: echo tu not removed", i);
	err = redum_stack_join(stack, &st);
	CHECK(!err, "cycle %u: join: %s", i, strerror(err));
	CHECK(st.tus == 0 && st.strans_alive == 0 && st.ctrans_alive == 0,
	      "cycle %u: tus %llu strans %llu ctrans %llu", i,
	      (unsigned long long)st.tus,
	      (unsigned long long)st.strans_alive,
	      (unsigned long long)st.ctrans_alive);
	CHECK(ets.options == 1, "cycle %u: echo saw %llu OPTIONS", i,
	      (unsigned long long)ets.options);
}


int main(int argc, char *argv[])
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 50;

	for (unsigned i = 0; i < n; i++)
		cycle(i, i % 2);

	return rtest_check_report();
}
