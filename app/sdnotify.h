/**
 * @file sdnotify.h  systemd's readiness protocol without libsystemd
 *
 * When $NOTIFY_SOCKET is set (systemd runs us as Type=notify), each call
 * sends one datagram ("READY=1", "STATUS=...", "STOPPING=1") to that
 * AF_UNIX socket: a path, or an abstract socket when it starts with '@'.
 * Without $NOTIFY_SOCKET every call does nothing and returns 0.
 *
 * Thread: any. Blocking only for the send(2) of one small datagram.
 */
#ifndef APP_SDNOTIFY_H
#define APP_SDNOTIFY_H

/** Sends @p state (e.g. "READY=1\nSTATUS=serving"). @return 0 or errno */
int app_sdnotify(const char *state);

/** Formatted (libre's re_printf format). @return 0 or errno */
int app_sdnotifyf(const char *fmt, ...);

#endif /* APP_SDNOTIFY_H */
