/**
 * @file presence.c  The presence agent: state PUBLISHed for a resource
 *                   (event package "presence") is NOTIFYed to the server
 *                   subscriptions of the same resource
 *
 * Runs on the DUM thread. On (conf.sub->presence_agent) it is called by the
 * store (publication.c) after each PUBLISH that set or removed a presence
 * body, and by the expiry of an entry. The latest published body of the
 * resource wins (the store keeps the publication order); bodies are opaque
 * (no PIDF composition). Each subscription's own rate bound applies, so a
 * burst of PUBLISHes costs each subscriber at most one NOTIFY per
 * conf.notify_min_ms.
 */
#include <stdatomic.h>
#include <string.h>
#include <re.h>
#include "sub_int.h"


void dum_presence_changed(struct redum_dum *dum, const char *resource)
{
	const uint8_t *body = NULL;
	const char *ctype = NULL;
	size_t len = 0;
	struct le *le;

	if (!dum_presence_current(dum, resource, &ctype, &body, &len)) {
		/* nothing published any more: an empty active state */
		ctype = NULL;
		body = NULL;
		len = 0;
	}

	le = dum->subs->ssubl.head;
	while (le) {
		struct dum_usage *u = le->data;
		le = le->next;   /* a NOTIFY that fails at once frees u */

		if (!dum_ssub_matches(u, "presence", resource))
			continue;

		atomic_fetch_add_explicit(&dum->subs->presence_fanout, 1,
					  memory_order_relaxed);
		dum_ssub_set_state(u, "active", ctype, body, len);
	}
}
