/**
 * @file metrics.h  redumd's status over HTTP: /metrics and /status
 *
 * A thread of its own owns a libre HTTP server on a loopback address and
 * answers GET /metrics (Prometheus text format 0.0.4) and GET /status (one
 * JSON object). It reads only the "Thread: any" statistics of the stack and
 * the DUM (atomics), so it never touches an object of another thread.
 * See docs/METRICS.md for every metric.
 */
#ifndef APP_METRICS_H
#define APP_METRICS_H

struct app_metrics;
struct redum_stack; struct redum_dum; struct sa; struct re_printf;

/**
 * Extra Prometheus lines, appended to /metrics.
 *
 * Thread: called on the metrics thread; it must read only atomics (or
 * immutable data) and print complete "# HELP/# TYPE/sample" lines.
 */
typedef int (app_metrics_extra_h)(struct re_printf *pf, void *arg); /* called on the metrics thread: read only atomics; appends Prometheus lines */

/**
 * Start the metrics thread and its HTTP server bound to laddr (port 0 asks
 * the kernel for a free port; read it back with app_metrics_laddr()).
 *
 * Only loopback addresses (127.0.0.0/8, ::1) are accepted: any other laddr
 * fails with EADDRNOTAVAIL unless the environment variable
 * REDUMD_METRICS_ALLOW_REMOTE is set to 1 (the endpoints have no
 * authentication, so exposing them is an explicit decision).
 *
 * stack and dum may be NULL (their metrics are then left out). They must
 * outlive the metrics server: call app_metrics_stop() before
 * redum_dum_free() and redum_stack_join() (in redumd: right after the
 * application loop returns on on_dum_can_be_deleted). Scrapes keep working
 * during the whole staged shutdown until then. libre must be initialised
 * (libre_init(), or redum_stack_start() which does it). Returns once the
 * server is bound (or failed to bind), so the port is known on return.
 *
 * @return 0, EINVAL, EADDRNOTAVAIL (not loopback), ENOMEM, or the errno of
 *         the listen (EADDRINUSE...) or of pthread_create()
 *
 * Thread: the thread that owns redumd's startup (the one that will call
 * app_metrics_stop()). Blocking: waits for the new thread to bind.
 */
int  app_metrics_start(struct app_metrics **mp, const struct sa *laddr, struct redum_stack *stack, struct redum_dum *dum, app_metrics_extra_h *extrah, void *arg);

/**
 * The bound local address of the HTTP server.
 *
 * Thread: any (the address is written once before app_metrics_start()
 * returns and never changes). Wait-free.
 */
int  app_metrics_laddr(const struct app_metrics *m, struct sa *laddr);

/**
 * Stop the HTTP server, join the metrics thread and free everything.
 * NULL is a no-op. Everything libre allocated for the server is freed on the
 * metrics thread before it exits.
 *
 * Thread: the thread that called app_metrics_start(). Blocking (joins).
 */
void app_metrics_stop(struct app_metrics *m);   /* joins its thread, frees */

#endif
