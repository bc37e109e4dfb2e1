/**
 * @file check_sipp_load.c  A SIPp call load through the stack and the echo
 *                          TU (plain check: runs under TSan and ASan)
 *
 * SIPp's built-in UAC places INVITE/ACK/BYE calls; the check asserts SIPp's
 * exit code and that the stack and the TU saw every call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include <redum/stack.h>
#include "helpers.h"
#include "tools/stack-echo/echo_tu.h"
#include "check.h"


int main(int argc, char *argv[])
{
	const char *calls = argc > 1 ? argv[1] : "500";
	const char *rate  = argc > 2 ? argv[2] : "250";
	unsigned long n = strtoul(calls, NULL, 10);
	struct redum_stack *stack = NULL;
	struct redum_stack_stats st;
	struct echo_tu_stats ets;
	struct echo_tu *et = NULL;
	char target[64];
	int err, rc;
	pid_t pid;

	err = th_stack_start(&stack, 500);
	CHECK(!err, "start: %s", strerror(err));
	if (err)
		goto out;

	err = echo_tu_start(&et, stack, false);
	CHECK(!err, "echo tu: %s", strerror(err));

	snprintf(target, sizeof(target), "127.0.0.1:%u",
		 th_stack_port(stack));
	pid = th_sipp_spawn(target, th_free_port(), "-sn", "uac", "-m", calls,
			    "-r", rate, "-l", "1000", NULL);
	rc = th_sipp_wait(pid, 120000);
	CHECK(rc == 0, "sipp exit %d", rc);

	CHECK(redum_stack_shutdown(stack, false) == 0, "shutdown");
	CHECK(echo_tu_join(et, &ets) == 0, "echo join");
	CHECK(redum_stack_join(stack, &st) == 0, "join");

	CHECK(ets.invites == n, "invites %llu", (unsigned long long)ets.invites);
	CHECK(ets.byes == n, "byes %llu", (unsigned long long)ets.byes);
	CHECK(ets.acks == n, "acks %llu", (unsigned long long)ets.acks);
	CHECK(ets.push_failed == 0, "push failed %llu",
	      (unsigned long long)ets.push_failed);
	CHECK(st.acks == n, "stack acks %llu", (unsigned long long)st.acks);
	CHECK(st.strans_alive == 0 && st.dialogs_alive == 0,
	      "left: strans %llu dialogs %llu",
	      (unsigned long long)st.strans_alive,
	      (unsigned long long)st.dialogs_alive);
	CHECK(st.unclaimed == 0, "unclaimed %llu",
	      (unsigned long long)st.unclaimed);

	printf("calls %lu retx_2xx %llu busy_503 %llu overflowed %llu "
	       "cmd_fifo.high_water %u\n", n,
	       (unsigned long long)st.retx_2xx,
	       (unsigned long long)st.busy_503,
	       (unsigned long long)st.overflowed, st.cmd_fifo.high_water);
 out:
	return rtest_check_report();
}
