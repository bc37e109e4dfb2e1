/**
 * @file test_reg_check.c  Registrations between two stack+DUM instances in
 *                         one process (one a registrar with digest auth),
 *                         with registrar lookups posted from a second
 *                         application thread meanwhile.
 *
 * A plain executable (runs under TSan: commands from two threads, two DUM
 * threads, two stack threads, events on this thread).
 * Usage: check_reg_two [rounds]   Prints "N passed, N failed" last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dumtest.h"
#include "test_reg_app.h"
#include "check.h"

static struct rapp R, C;
static atomic_bool stop_lookups;
static atomic_uint lookups_posted;

enum { T = 5000, MAX_LOOKUPS = 2000 };


/* A second application thread: commands are MPSC, any thread may post. */
static void *lookup_thread(void *arg)
{
	struct redum_registrar_stats st;
	redum_dum_handle h;
	(void)arg;

	while (!atomic_load(&stop_lookups) &&
	       atomic_load(&lookups_posted) < MAX_LOOKUPS) {
		if (!redum_registrar_lookup(R.dum, &h,
					    "sip:alice@example.com"))
			atomic_fetch_add(&lookups_posted, 1);
		redum_registrar_stats(R.dum, &st);
		sys_msleep(2);
	}

	return NULL;
}


static void one_round(unsigned i)
{
	char ruri[64], contact[80];
	struct redum_reg_req q;
	const struct rev *t;
	redum_dum_handle h;
	int err;

	snprintf(ruri, sizeof(ruri), "sip:127.0.0.1:%u", R.port);
	snprintf(contact, sizeof(contact), "sip:alice-%u@127.0.0.1:%u", i,
		 C.port);
	memset(&q, 0, sizeof(q));
	q.registrar = ruri;
	q.aor = "sip:alice@example.com";
	q.contact = contact;
	q.user = "alice";
	q.password = "secret";
	q.expires = 60;

	err = redum_reg_register(C.dum, &h, &q);
	CHECK(err == 0, "register: %d", err);
	if (err)
		return;

	t = rapp_expect(&C, REDUM_DUM_EV_REGISTERED, T);
	CHECK(t && t->h == h && t->expires == 60 && t->bindingc == 1 &&
	      !strcmp(t->contact[0], contact), "round %u: registered", i);

	err = redum_reg_unregister(C.dum, h);
	CHECK(err == 0, "unregister: %d", err);
	t = rapp_expect(&C, REDUM_DUM_EV_UNREGISTERED, T);
	CHECK(t && t->h == h && t->scode == 200, "round %u: unregistered",
	      i);
}


int main(int argc, char *argv[])
{
	struct redum_registrar_conf rc;
	struct redum_registrar_stats st;
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 10, i;
	unsigned answers = 0;
	pthread_t thr;
	int64_t end;
	int err;

	err = libre_init();
	if (err) {
		fprintf(stderr, "libre_init: %d\n", err);
		return 1;
	}

	redum_registrar_conf_init(&rc);
	rc.realm = "redum.test";
	rc.users = "alice:secret";
	rc.min_expires = 1;

	CHECK(rapp_start(&R, 100, &rc) == 0, "registrar start");
	CHECK(rapp_start(&C, 100, NULL) == 0, "client start");
	if (atomic_load(&rtest_failed))
		goto out;

	CHECK(pthread_create(&thr, NULL, lookup_thread, NULL) == 0,
	      "thread");

	for (i = 0; i < rounds; i++)
		one_round(i);

	atomic_store(&stop_lookups, true);
	pthread_join(thr, NULL);

	/* every lookup is answered exactly once (bounded wait) */
	end = tt_now() + T;
	while (answers < atomic_load(&lookups_posted) && tt_now() < end) {
		const struct rev *t = rapp_next(&R, 50);

		if (t && t->type == REDUM_DUM_EV_REG_BINDINGS)
			++answers;
	}
	CHECK(answers == atomic_load(&lookups_posted),
	      "lookups %u answered %u", atomic_load(&lookups_posted),
	      answers);

	redum_registrar_stats(R.dum, &st);
	CHECK(st.bindings == 0 && st.aors == 0, "bindings left %llu",
	      (unsigned long long)st.bindings);
	CHECK(st.ok == 2ull * rounds, "200s %llu", (unsigned long long)st.ok);

	CHECK(rapp_stop(&C, 10000), "client stop");
	CHECK(rapp_stop(&R, 10000), "registrar stop");

 out:
	libre_close();
	return rtest_check_report();
}
