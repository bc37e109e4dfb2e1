/**
 * @file sub_int.h  Internals of subscriptions, publications and pager
 *                  (dum/sub_client.c, sub_server.c, publication.c,
 *                  presence.c, pager.c). Everything runs on the DUM thread
 *                  except the counters ([atomic]) and the command
 *                  functions of the public API (any thread).
 */
#ifndef REDUM_SUB_INT_H
#define REDUM_SUB_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include <redum/sub.h>
#include "dum_int.h"

struct dum_subs {
	/* [imm] */
	struct redum_sub_conf conf;  /* conf.events points to events      */
	char *events;                /* malloc'ed copy                    */
	bool configured;             /* redum_dum_conf.sub was given      */

	/* [dum] */
	struct list ssubl;           /* server subscriptions (struct ssub) */
	struct list publ;            /* the publication store (pent)       */
	uint64_t next_etag;

	/* [atomic] */
	_Atomic uint64_t notifies_in, notifies_out, notifies_coalesced;
	_Atomic uint64_t sub_timeouts, sub_expired;
	_Atomic uint64_t publish_in, pub_412, pub_489, pub_expired;
	_Atomic uint64_t pub_entries, messages_in, messages_auto200;
	_Atomic uint64_t presence_fanout, notify_481_retries;
};

extern const struct dum_class dum_subc_class;   /* sub_client.c */
extern const struct dum_class dum_ssub_class;   /* sub_server.c */
extern const struct dum_class dum_pubc_class;   /* publication.c */
extern const struct dum_class dum_pager_class;  /* pager.c */

/* an event with a copy of @p msg's parts (or of @p ctype/@p body when
 * @p msg is NULL) and of @p info (may be NULL) in ev->sub */
struct redum_dum_event *dum_sub_ev(struct redum_dum *dum,
				   enum redum_usage_type ut,
				   redum_dum_handle h,
				   enum redum_dum_ev_type type,
				   const struct sip_msg *msg,
				   const struct redum_sub_info *info,
				   const char *ctype, const void *body,
				   size_t body_len);

/* helpers (sub_client.c) */
bool dum_sub_event_ok(const struct dum_subs *s, const struct pl *event);
int  dum_sub_resource(char *buf, size_t sz, const struct sip_msg *msg);
uint64_t dum_sub_refresh_ms(uint32_t granted);
int  dum_sub_sdup(char **dst, const char *s);
struct dum_cmd *dum_sub_cmd_alloc(enum dum_cmd_type type, redum_dum_handle h,
				  const struct redum_sub_req *req,
				  const char *s1, const char *s2,
				  const char *ctype, const void *body,
				  size_t body_len);

/* creating commands and new requests */
void dum_subc_new(struct redum_dum *dum, struct dum_cmd *cmd);
void dum_pubc_new(struct redum_dum *dum, struct dum_cmd *cmd);
void dum_pager_new(struct redum_dum *dum, struct dum_cmd *cmd);
void dum_ssub_request(struct redum_dum *dum, struct redum_stack_event *ev);
void dum_pubs_request(struct redum_dum *dum, struct redum_stack_event *ev);
void dum_pager_request(struct redum_dum *dum, struct redum_stack_event *ev);
void dum_pubs_teardown(struct redum_dum *dum);

/* presence agent (presence.c) */
void dum_presence_changed(struct redum_dum *dum, const char *resource);
bool dum_presence_current(struct redum_dum *dum, const char *resource,
			  const char **ctype, const uint8_t **body,
			  size_t *len);
/* sub_server.c: a new state for server subscription @p u (the app's
 * notify command and the presence agent) */
struct dum_usage;
void dum_ssub_set_state(struct dum_usage *u, const char *state,
			const char *ctype, const void *body, size_t len);
bool dum_ssub_matches(const struct dum_usage *u, const char *event,
		      const char *resource);

#endif
