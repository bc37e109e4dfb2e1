/**
 * @file test_config.c  redumd's configuration parser (app/config.c):
 *                      errors with file:line, flags over the file, and
 *                      robustness against arbitrary bytes
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "config.h"

static struct mbuf *errmb;

static int mb_vph(const char *p, size_t size, void *arg)
{
	return mbuf_write_mem(arg, (const uint8_t *)p, size);
}

static struct re_printf errpf;
static struct app_config cfg;
static char errtext[8192];

static void setup(void)
{
	errmb = mbuf_alloc(256);
	cr_assert_not_null(errmb);
	errpf.vph = mb_vph;
	errpf.arg = errmb;
	app_config_init(&cfg);
}

static void teardown(void)
{
	app_config_reset(&cfg);
	errmb = mem_deref(errmb);
}

/* Parses @p text (as file "t.conf"); the messages land in errtext. */
static int parse(const char *text)
{
	int err = app_config_parse(&cfg, "t.conf", text, strlen(text),
				   &errpf);
	size_t n = errmb->end < sizeof(errtext) - 1 ? errmb->end :
		sizeof(errtext) - 1;

	memcpy(errtext, errmb->buf, n);
	errtext[n] = '\0';
	return err;
}

#define assert_msg(s) cr_assert(strstr(errtext, s), \
	"expected '%s' in the messages, got:\n%s", s, errtext)

TestSuite(app_config, .init = setup, .fini = teardown, .timeout = 60);

Test(app_config, reference_config_parses)
{
	FILE *f = fopen(REFERENCE_CONF, "rb");
	static char buf[65536];
	size_t n;

	cr_assert_not_null(f, "cannot open %s", REFERENCE_CONF);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cr_assert_eq(parse(buf), 0, "%s", errtext);
	cr_assert_eq(errmb->end, 0);
	/* its uncommented lines are the built-in defaults */
	cr_assert_eq(cfg.listenc, 2);
	cr_assert_eq(cfg.give_up_ms, 4000);
	cr_assert(cfg.uas && cfg.registrar && cfg.presence && cfg.message);
	cr_assert(!cfg.metrics_on);
}

Test(app_config, defaults_without_text)
{
	cr_assert_eq(parse(""), 0);
	cr_assert_eq(cfg.listenc, 0);
	cr_assert_eq(cfg.give_up_ms, 4000);
	cr_assert_eq(cfg.log_level, APP_LOG_INFO);
}

Test(app_config, keys_comments_blank_lines_crlf_no_final_newline)
{
	cr_assert_eq(parse("# comment\r\n\r\n  give_up_ms   2500  # why\r\n"
			   "listen udp:127.0.0.1:0\n"
			   "listen tcp:[::1]:5070\n"
			   "uas_reject busy 486\nuas_reject * 603\n"
			   "uas_ring_ms 100\nlog_level debug\n"
			   "metrics 127.0.0.1:0\n"
			   "register_to sip:127.0.0.1:5070\n"
			   "register_user u\nregister_password p\n"
			   "call_to sip:bob@[::1]:5070\n"
			   "uas no"), EINVAL, "uas no conflicts with the rules");
	assert_msg("t.conf:7: uas_reject with 'uas no'");

	app_config_reset(&cfg);
	mbuf_rewind(errmb);
	cr_assert_eq(parse("give_up_ms 2500\nlisten udp:127.0.0.1:0\n"
			   "listen tcp:[::1]:5070\nuas_reject busy 486\n"
			   "metrics [::1]:9100\nuas no\nuas yes"), EINVAL);
	assert_msg("t.conf:7: 'uas' given twice (first at line 6)");

	app_config_reset(&cfg);
	mbuf_rewind(errmb);
	cr_assert_eq(parse("give_up_ms 2500\nlisten udp:127.0.0.1:0\n"
			   "listen tcp:[::1]:5070\nuas_reject busy 486\n"
			   "metrics [::1]:9100\nuas_hangup_s 3"), 0, "%s",
		     errtext);
	cr_assert_eq(cfg.give_up_ms, 2500);
	cr_assert_eq(cfg.listenc, 2);
	cr_assert_eq(cfg.listen[1].tp, SIP_TRANSP_TCP);
	cr_assert_eq(sa_af(&cfg.listen[1].addr), AF_INET6);
	cr_assert_eq(sa_port(&cfg.listen[1].addr), 5070);
	cr_assert_eq(cfg.rejectc, 1);
	cr_assert_str_eq(cfg.reject[0].user, "busy");
	cr_assert_eq(cfg.reject[0].code, 486);
	cr_assert(cfg.metrics_on);
	cr_assert_eq(sa_port(&cfg.metrics), 9100);
	cr_assert_eq(cfg.uas_hangup_s, 3);
}

Test(app_config, unknown_key_has_file_and_line)
{
	cr_assert_eq(parse("listen udp:127.0.0.1:0\n\ngive_up_sm 10\n"),
		     EINVAL);
	assert_msg("t.conf:3: unknown key 'give_up_sm'");
}

Test(app_config, bad_values)
{
	cr_assert_eq(parse("give_up_ms ten\n"
			   "uas maybe\n"
			   "give_up_ms 99999999999\n"
			   "log_level loud\n"
			   "uas_reject busy 200\n"
			   "call_to sip:bob@example.com\n"
			   "registrar_max_expires 0\n"
			   "metrics localhost:80\n"
			   "uas_ring_ms\n"), EINVAL);
	assert_msg("t.conf:1: give_up_ms: 'ten' is not a number");
	assert_msg("t.conf:2: uas: 'maybe' is not a boolean");
	/* the same key again is reported as such, not re-parsed */
	assert_msg("t.conf:3: 'give_up_ms' given twice (first at line");
	assert_msg("t.conf:4: log_level: 'loud'");
	assert_msg("t.conf:5: uas_reject: 'busy 200'");
	assert_msg("t.conf:6: call_to: 'sip:bob@example.com' is not a sip: "
		   "URI with a numeric host");
	assert_msg("t.conf:7: registrar_max_expires: '0' is not a number in "
		   "1..86400");
	assert_msg("t.conf:8: metrics: 'localhost:80'");
	assert_msg("t.conf:9: 'uas_ring_ms' needs a value");
}

Test(app_config, bad_listen)
{
	cr_assert_eq(parse("listen sctp:127.0.0.1:5060\n"
			   "listen udp:::1:5060\n"
			   "listen udp:[::1]:70000\n"
			   "listen udp:127.0.0.1\n"
			   "listen udp:127.0.0.1:5060\n"
			   "listen udp:127.0.0.1:5060\n"
			   "listen tls:127.0.0.1:5061\n"), EINVAL);
	assert_msg("t.conf:1: listen: 'sctp:127.0.0.1:5060'");
	assert_msg("t.conf:2: listen: 'udp:::1:5060'");
	assert_msg("t.conf:3: listen: 'udp:[::1]:70000'");
	assert_msg("t.conf:4: listen: 'udp:127.0.0.1'");
	assert_msg("t.conf:6: listen: 'udp:127.0.0.1:5060' given twice");
	assert_msg("t.conf:7: a tls listener needs tls_cert");
}

Test(app_config, conflicting_keys)
{
	cr_assert_eq(parse("registrar no\nregistrar_users a:b\n"
			   "register_user x\n"
			   "registrar_min_expires 600\n"
			   "registrar_max_expires 60\n"), EINVAL);
	assert_msg("t.conf:2: registrar settings with 'registrar no'");
	assert_msg("t.conf:3: register_* settings without register_to");
	assert_msg("t.conf:3: register_user and register_password go "
		   "together");
	assert_msg("t.conf:4: registrar_min_expires is above");
}

Test(app_config, nul_bytes_and_huge_lines)
{
	static char buf[8192];
	int err;

	memcpy(buf, "uas no\nlisten udp:127.\0.0.1:0\n", 30);
	memset(buf + 30, 'x', 3000);
	memcpy(buf + 3030, "\ngive_up_ms 7", 13);
	err = app_config_parse(&cfg, "t.conf", buf, 3043, &errpf);
	cr_assert_eq(err, EINVAL);
	mbuf_write_u8(errmb, 0);
	cr_assert(strstr((char *)errmb->buf, "t.conf:2: NUL byte"),
		  "%s", errmb->buf);
	cr_assert(strstr((char *)errmb->buf, "t.conf:3: line too long"),
		  "%s", errmb->buf);
	/* the good lines around the bad ones still count */
	cr_assert(!cfg.uas);
	cr_assert_eq(cfg.give_up_ms, 7);
}

Test(app_config, flags_override_the_file)
{
	cr_assert_eq(parse("listen udp:127.0.0.1:5060\n"
			   "listen tcp:127.0.0.1:5060\ngive_up_ms 100\n"), 0);
	cr_assert_eq(app_config_set_flag(&cfg, "--listen", "listen",
					 "udp:127.0.0.1:0", &errpf), 0);
	cr_assert_eq(app_config_set_flag(&cfg, "--listen", "listen",
					 "tcp:127.0.0.1:0", &errpf), 0);
	cr_assert_eq(app_config_set_flag(&cfg, "--give-up-ms", "give_up_ms",
					 "200", &errpf), 0);
	cr_assert_eq(cfg.listenc, 2, "the flags replace the file's list");
	cr_assert_eq(sa_port(&cfg.listen[0].addr), 0);
	cr_assert_eq(cfg.give_up_ms, 200);

	cr_assert_eq(app_config_set_flag(&cfg, "--give-up-ms", "give_up_ms",
					 "-1", &errpf), EINVAL);
	cr_assert_eq(app_config_set_flag(&cfg, "--set nope", "nope", "1",
					 &errpf), EINVAL);
	mbuf_write_u8(errmb, 0);
	cr_assert(strstr((char *)errmb->buf, "--give-up-ms: give_up_ms: "
			 "'-1' is not a number"), "%s", errmb->buf);
	cr_assert(strstr((char *)errmb->buf, "--set nope: unknown key "
			 "'nope'"), "%s", errmb->buf);
	cr_assert(app_config_key_known("uas_ring_ms"));
	cr_assert(!app_config_key_known("uas_ring"));
}

Test(app_config, print_round_trips)
{
	struct mbuf *mb = mbuf_alloc(1024);
	struct re_printf pf = {mb_vph, mb};
	struct app_config again;

	cr_assert_eq(parse("listen udp:[::1]:0\nuas_reject busy 486\n"
			   "metrics 127.0.0.1:9\nlog_level warning\n"
			   "call_to sip:bob@127.0.0.1:5070\n"), 0);
	cr_assert_eq(app_config_print(&pf, &cfg), 0);
	app_config_init(&again);
	cr_assert_eq(app_config_parse(&again, "printed", (char *)mb->buf,
				      mb->end, &errpf), 0, "%b", mb->buf,
		     mb->end);
	cr_assert_eq(again.rejectc, 1);
	cr_assert_eq(again.log_level, APP_LOG_WARNING);
	cr_assert_str_eq(again.call_to, "sip:bob@127.0.0.1:5070");
	app_config_reset(&again);
	mem_deref(mb);
}

/* Arbitrary bytes: never a crash, never a leak (ASan/LSan watch), every
 * result 0 or EINVAL. Bounded: 20000 inputs of up to 300 bytes, mixing
 * random bytes with fragments of real keys. */
Test(app_config, random_bytes)
{
	static const char *const frags[] = {
		"listen ", "udp:", "tcp:[", "::1]", ":5060", "127.0.0.1",
		"uas_reject ", "* ", "486", "\n", "#", " ", "\0", "\r",
		"register_to sip:", "call_to ", "metrics ", "off", "yes",
		"give_up_ms ", "99999", "registrar no\n", "[", "]", "@",
	};
	static char buf[400];
	unsigned seed = 12345;

	for (int i = 0; i < 20000; i++) {
		size_t n = 0, want = (size_t)(rand_r(&seed) % 300);
		int err;

		while (n < want) {
			if (rand_r(&seed) % 2) {
				buf[n++] = (char)(rand_r(&seed) & 0xff);
			}
			else {
				const char *f = frags[rand_r(&seed) %
					(sizeof(frags) / sizeof(frags[0]))];
				size_t l = strlen(f) ? strlen(f) : 1;

				if (n + l > sizeof(buf))
					break;
				memcpy(buf + n, f, l);
				n += l;
			}
		}
		mbuf_rewind(errmb);
		err = app_config_parse(&cfg, "fuzz", buf, n,
				       i % 2 ? &errpf : NULL);
		cr_assert(err == 0 || err == EINVAL, "err %d", err);
		app_config_reset(&cfg);
	}
}
