/**
 * @file log.h  redumd's log: leveled lines to stderr, or to syslog
 *
 * Every line is written with one write(2) (so lines of different threads
 * never interleave) as `redumd: [LEVEL: ]message`. libre's own DEBUG_*
 * output is routed here with dbg_handler_set() (its level mapped to ours);
 * libre's direct re_fprintf(stderr) prints cannot be routed and still go to
 * stderr as they are (docs/REDUMD.md, "Logging").
 *
 * Thread: app_log_open()/app_log_close() on the main thread while no
 * other thread logs; app_log() from any thread (lock-free apart from the
 * write itself).
 */
#ifndef APP_LOG_H
#define APP_LOG_H

#include <stdbool.h>
#include "config.h"

/** Sets the level and the sink, and takes libre's debug output. */
void app_log_open(enum app_log_level level, bool use_syslog);

/** Gives libre's debug output back to libre; closes syslog. */
void app_log_close(void);

/** Would a line of @p level be written? */
bool app_log_enabled(enum app_log_level level);

/** Logs one message (libre's re_printf format, %H and %m included). A
 *  multi-line message goes out as one write (stderr) or one syslog
 *  record per line. */
void app_log(enum app_log_level level, const char *fmt, ...);

#endif /* APP_LOG_H */
