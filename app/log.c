/**
 * @file log.c  redumd's log (see log.h)
 */
#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <re.h>
#define DEBUG_MODULE "redumd"
#define DEBUG_LEVEL 0
#include <re_dbg.h>   /* not in re.h: dbg_init, dbg_handler_set */
#include "log.h"

/* Written by app_log_open() before any other thread starts, read-only
 * afterwards. */
static enum app_log_level log_level = APP_LOG_INFO;
static bool log_syslog;


static int syslog_prio(enum app_log_level l)
{
	switch (l) {
	case APP_LOG_ERROR:   return LOG_ERR;
	case APP_LOG_WARNING: return LOG_WARNING;
	case APP_LOG_NOTICE:  return LOG_NOTICE;
	case APP_LOG_INFO:    return LOG_INFO;
	default:              return LOG_DEBUG;
	}
}


static void emit(enum app_log_level level, const char *msg, size_t len)
{
	static const char *const tag[] = {"error: ", "warning: ", "", "",
					  "debug: "};

	while (len && msg[len - 1] == '\n')
		len--;

	if (log_syslog) {
		/* one record per line: syslog has no multi-line records */
		const char *p = msg, *end = msg + len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			syslog(syslog_prio(level), "%.*s", (int)n, p);
			p += n + 1;
		}
		return;
	}

	{
		char head[32];
		struct iovec_like { const char *p; size_t l; } part[3];
		char *line;
		size_t hl, total;

		hl = (size_t)re_snprintf(head, sizeof(head), "redumd: %s",
					 tag[level]);
		part[0].p = head; part[0].l = hl;
		part[1].p = msg;  part[1].l = len;
		part[2].p = "\n"; part[2].l = 1;
		total = hl + len + 1;

		/* one write: lines of different threads never interleave */
		line = mem_alloc(total, NULL);
		if (!line) {
			for (int i = 0; i < 3; i++)
				(void)!write(STDERR_FILENO, part[i].p,
					     part[i].l);
			return;
		}
		memcpy(line, head, hl);
		memcpy(line + hl, msg, len);
		line[total - 1] = '\n';
		(void)!write(STDERR_FILENO, line, total);
		mem_deref(line);
	}
}


bool app_log_enabled(enum app_log_level level)
{
	return level <= log_level;
}


void app_log(enum app_log_level level, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	if (!app_log_enabled(level))
		return;

	va_start(ap, fmt);
	(void)re_vsdprintf(&msg, fmt, ap);
	va_end(ap);

	if (msg)
		emit(level, msg, strlen(msg));
	mem_deref(msg);
}


/* libre's DEBUG_* lines (any thread, under libre's debug lock: nothing
 * here calls back into libre's dbg) */
static void dbg_handler(int level, const char *p, size_t len, void *arg)
{
	enum app_log_level l;
	(void)arg;

	if (level <= DBG_ERR)
		l = APP_LOG_ERROR;
	else if (level == DBG_WARNING)
		l = APP_LOG_WARNING;
	else if (level == DBG_NOTICE)
		l = APP_LOG_NOTICE;
	else if (level == DBG_INFO)
		l = APP_LOG_INFO;
	else
		l = APP_LOG_DEBUG;

	if (app_log_enabled(l))
		emit(l, p, len);
}


void app_log_open(enum app_log_level level, bool use_syslog)
{
	static const int dbg_levels[] = {DBG_ERR, DBG_WARNING, DBG_NOTICE,
					 DBG_INFO, DBG_DEBUG};

	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog("redumd", LOG_PID, LOG_DAEMON);

	/* libre filters by its own level first; ours then decides */
	dbg_init(dbg_levels[level], DBG_NONE);
	dbg_handler_set(dbg_handler, NULL);
}


void app_log_close(void)
{
	dbg_handler_set(NULL, NULL);
	if (log_syslog)
		closelog();
	log_syslog = false;
}
