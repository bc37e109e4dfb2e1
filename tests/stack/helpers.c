/**
 * @file helpers.c  Stack test helpers (see helpers.h)
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "helpers.h"

#ifndef SCEN_DIR
#error SCEN_DIR must be defined
#endif


int th_stack_start(struct redum_stack **stackp, uint32_t t1_ms)
{
	struct redum_stack_conf conf;
	int err;

	err = rtest_stack_conf(&conf, "redum-test", t1_ms);
	if (err)
		return err;

	return redum_stack_start(stackp, &conf);
}


uint16_t th_stack_port(const struct redum_stack *stack)
{
	struct sa la;

	if (redum_stack_laddr(stack, 0, NULL, &la))
		return 0;

	return sa_port(&la);
}


const char *th_scen(const char *name)
{
	return rtest_path(SCEN_DIR, name);
}


pid_t th_sipp_spawn(const char *target, uint16_t lport, const char *arg, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, arg);
	pid = rtest_sipp_vspawn(target, lport, 30, NULL, arg, ap);
	va_end(ap);

	return pid;
}


static void ttu_eventh(struct redum_stack_tu *tu, struct redum_stack_event *ev,
		       void *arg)
{
	struct ttu *t = arg;

	if (t->tail - t->head >= sizeof(t->q) / sizeof(t->q[0])) {
		fprintf(stderr, "ttu: queue full, event dropped\n");
		redum_stack_event_release(tu, ev);
		return;
	}

	t->q[t->tail++ % (sizeof(t->q) / sizeof(t->q[0]))] = ev;
}


static void ttu_removedh(struct redum_stack_tu *tu, void *arg)
{
	struct ttu *t = arg;
	(void)tu;

	t->removed = true;
}


int ttu_start_conf(struct ttu *t, struct redum_stack *stack,
		   const struct redum_stack_tu_conf *conf)
{
	struct redum_stack_tu_conf c = *conf;
	int err;

	memset(t, 0, sizeof(*t));
	c.eventh = ttu_eventh;
	c.removedh = ttu_removedh;
	c.arg = t;

	err = redum_stack_tu_alloc(&t->tu, stack, &c);
	if (err)
		return err;

	return redum_stack_tu_attach(t->tu, true, 0);
}


int ttu_start(struct ttu *t, struct redum_stack *stack, uint32_t methods)
{
	struct redum_stack_tu_conf conf = {
		.name = "test",
		.methods = methods,
	};

	return ttu_start_conf(t, stack, &conf);
}


static void ttu_poll(struct ttu *t, int ms)
{
	struct pollfd pfd = {.fd = redum_stack_tu_fd(t->tu),
			     .events = POLLIN};

	if (ms < 0)
		ms = 0;
	(void)poll(&pfd, 1, ms);
	(void)redum_stack_tu_drain(t->tu);
}


struct redum_stack_event *ttu_next(struct ttu *t, int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	for (;;) {
		if (t->head != t->tail)
			return t->q[t->head++ %
				    (sizeof(t->q) / sizeof(t->q[0]))];
		if (t->removed || th_now() >= end)
			return NULL;
		ttu_poll(t, (int)(end - th_now()));
	}
}


struct redum_stack_event *ttu_expect(struct ttu *t,
				     enum redum_stack_ev_type type,
				     int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	for (;;) {
		struct redum_stack_event *ev;
		int left = (int)(end - th_now());

		ev = ttu_next(t, left > 0 ? left : 0);
		if (!ev)
			return NULL;
		if (ev->type == type)
			return ev;
		redum_stack_event_release(t->tu, ev);
	}
}


void ttu_pump(struct ttu *t, int ms)
{
	int64_t end = th_now() + ms;

	while (th_now() < end) {
		struct redum_stack_event *ev = ttu_next(t, (int)(end -
								 th_now()));
		if (ev)
			redum_stack_event_release(t->tu, ev);
		if (t->removed)
			break;
	}
}


/* Releases every queued event. */
static void ttu_release_all(struct ttu *t)
{
	while (t->head != t->tail) {
		struct redum_stack_event *ev =
			t->q[t->head++ % (sizeof(t->q) / sizeof(t->q[0]))];
		redum_stack_event_release(t->tu, ev);
	}
}


bool ttu_finish(struct ttu *t, int timeout_ms)
{
	int64_t end = th_now() + timeout_ms;

	while (!t->removed && th_now() < end) {
		ttu_release_all(t);
		ttu_poll(t, (int)(end - th_now()));
	}
	ttu_release_all(t);

	if (!t->removed)
		return false;

	return redum_stack_tu_free(t->tu) == 0;
}
