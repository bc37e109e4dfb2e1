/**
 * @file config.h  redumd's configuration: the file (libre's `conf` format:
 *                 `key value` lines, `#` comments) and the command-line
 *                 flags that override it
 *
 * Every key is listed, with its default, in app/redumd.conf and
 * docs/REDUMD.md. The parser reports every error as `NAME:LINE: message`
 * (or `--flag: message` for a flag); an unknown key, a bad value, a
 * non-repeatable key given twice in one file, and conflicting keys are all
 * errors, so a typo is never silently ignored.
 *
 * The parser is built into the static library `redumd_config` (no main,
 * no thread, no global state) so that a fuzz harness can link it: it never
 * crashes on arbitrary bytes (NULs, huge lines, no final newline) and
 * app_config_reset() frees all it allocated.
 *
 * Thread: every function here works on the caller's struct only; any
 * thread, one at a time per struct.
 */
#ifndef APP_CONFIG_H
#define APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>

enum {
	APP_CONFIG_MAX_LISTEN = 8,   /* = REDUM_STACK_MAX_LISTEN */
	APP_CONFIG_MAX_REJECT = 32,  /* uas_reject rules            */
	APP_CONFIG_MAX_LINE   = 1024 /* bytes in a line, without EOL */
};

/** Log levels (syslog's order; each includes the ones before). */
enum app_log_level {
	APP_LOG_ERROR = 0,
	APP_LOG_WARNING,
	APP_LOG_NOTICE,
	APP_LOG_INFO,
	APP_LOG_DEBUG,
};

/** One listener: transport and numeric address (port 0: the kernel's). */
struct app_listen {
	enum sip_transp tp;
	struct sa addr;
};

/** A UAS reject rule: calls whose request-URI user is @p user ("*": any)
 *  get @p code. */
struct app_reject {
	char *user;
	uint16_t code;
};

/** The configuration. Strings are owned (mem_deref'd by
 *  app_config_reset()); NULL means "the default", applied where used. */
struct app_config {
	/* transport */
	struct app_listen listen[APP_CONFIG_MAX_LISTEN];
	uint32_t listenc;          /* 0: udp and tcp on 127.0.0.1:5060     */
	char *tls_cert;
	char *software;            /* NULL: "redumd VERSION"               */
	uint32_t overload_delay_ms; /* shed after this queueing delay (200) */
	uint32_t overload_interval_ms; /* ... standing this long (100)     */
	uint32_t overload_pct;     /* shed above this receive-queue fill (50) */

	/* process */
	uint32_t give_up_ms;       /* graceful shutdown deadline (4000)    */
	bool metrics_on;           /* default off                          */
	struct sa metrics;         /* HTTP /metrics address                */
	enum app_log_level log_level;  /* info                             */
	bool log_syslog;           /* no                                   */

	/* roles */
	bool uas;                  /* yes                                  */
	uint32_t uas_ring_ms;      /* 0: 200 right after the 180           */
	uint32_t uas_hangup_s;     /* 0: wait for the caller's BYE         */
	struct app_reject reject[APP_CONFIG_MAX_REJECT];
	uint32_t rejectc;
	bool registrar;            /* yes                                  */
	char *registrar_realm;     /* NULL: "redum"                        */
	char *registrar_domains;   /* NULL: any                            */
	char *registrar_users;     /* NULL: no authentication              */
	uint32_t registrar_min_expires, registrar_max_expires; /* 60, 3600 */
	bool presence;             /* yes: SUBSCRIBE/NOTIFY + PUBLISH      */
	bool message;              /* yes: MESSAGE sink                    */
	bool options;              /* yes: 200 to OPTIONS (else 405)       */

	/* client usages made at start */
	char *client_from;         /* NULL: sip:redumd@127.0.0.1           */
	char *register_to;
	char *register_aor;        /* NULL: sip:redumd@HOST of register_to */
	char *register_user, *register_password;
	uint32_t register_expires; /* 600                                  */
	char *subscribe_to;
	char *subscribe_event;     /* NULL: presence                       */
	uint32_t subscribe_expires;/* 600                                  */
	char *call_to;

	/* private: where each key was last set (line; 0 = a flag or the
	 * default), which keys a flag set, the file name for messages */
	uint32_t line_[64];
	bool flag_[64];
	char *name_;
};

/** Fills the defaults (allocates nothing). */
void app_config_init(struct app_config *cfg);

/** Frees every string and resets to the defaults. */
void app_config_reset(struct app_config *cfg);

/**
 * Parses a whole config text (@p buf, @p len bytes, any bytes) into
 * @p cfg (app_config_init()ed, or holding an earlier parse), on top of
 * what it holds, then checks the keys against each
 * other. Each error is printed as `NAME:LINE: message` (one a line) to
 * @p err (NULL: not printed); parsing goes on after an error so that all
 * are reported.
 *
 * @return 0, or EINVAL (at least one error; cfg holds what did parse and
 *         must still be app_config_reset())
 *
 * A fuzz harness: app_config_init(&c); app_config_parse(&c, "fuzz", data,
 * size, NULL); app_config_reset(&c); — link the library redumd_config.
 */
int app_config_parse(struct app_config *cfg, const char *name,
		     const char *buf, size_t len, struct re_printf *err);

/**
 * Reads file @p path and app_config_parse()s it. A file that cannot be
 * read is an error `PATH: <strerror>`.
 *
 * @return 0, EINVAL (parse errors), or the errno of the read
 */
int app_config_load(struct app_config *cfg, const char *path,
		    struct re_printf *err);

/**
 * Sets key @p key to @p value from a command-line flag (@p flag, e.g.
 * "--listen", names it in messages). A flag overrides the file: a
 * repeatable key (listen, uas_reject) given by flags replaces the file's
 * entries at its first flag, later flags add to it.
 *
 * @return 0 or EINVAL (printed as `FLAG: message`)
 */
int app_config_set_flag(struct app_config *cfg, const char *flag,
			const char *key, const char *value,
			struct re_printf *err);

/**
 * Checks keys against each other (also done by app_config_parse(); call
 * again after flags). @return 0 or EINVAL (each problem printed)
 */
int app_config_check(struct app_config *cfg, struct re_printf *err);

/** Is @p key a config key? (for `--set KEY=VALUE`) */
bool app_config_key_known(const char *key);

/** Prints the effective configuration in the file format (for
 *  --check-config). */
int app_config_print(struct re_printf *pf, const struct app_config *cfg);

/** "udp", "tcp", "tls" */
const char *app_transp_name(enum sip_transp tp);

/** Name of a log level ("info"). */
const char *app_log_level_name(enum app_log_level l);

#endif /* APP_CONFIG_H */
