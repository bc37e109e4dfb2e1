/**
 * @file registrar.c  The registrar (RFC 3261 10.3): an in-memory binding
 *                    store owned by the DUM thread
 *
 * A REGISTER is handled at once on the DUM thread (no usage object: the
 * request needs no application decision), in the RFC's order: domain,
 * authentication, Contact validity (wildcard rules), intervals (423),
 * Call-ID/CSeq ordering; nothing is changed unless the whole request is
 * accepted; the 200 lists every current binding with its expires.
 *
 * Threads: conf and users [imm] (copied in redum_dum_alloc()), store and
 * timers [dum], counters [atomic] (read by redum_registrar_stats()).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "reg_int.h"

enum {
	AOR_HSIZE = 256,           /* buckets at start                      */
	AOR_HSIZE_MAX = 1u << 20,  /* growth stops here (8 MiB of heads)    */
	MAX_CONTACTS = 32,
};

struct user {
	char *name, *pass;           /* point into dum_reg.userbuf        */
};

struct dum_reg {
	/* [imm] */
	struct redum_registrar_conf conf;
	char *realm, *domains, *userbuf;
	struct user *users;
	size_t userc;
	uint8_t secret[16];

	/* [atomic] */
	_Atomic uint64_t aors, bindings, registers, ok, challenged, stale,
		rejected, expired;

	/* [dum] */
	struct hash *ht_aor;
	uint32_t hsize;              /* ht_aor's buckets                 */
	struct list aorl;
};

struct aor {
	struct le he, le;
	struct dum_reg *reg;
	char *key;                   /* "user@host", host lower-cased     */
	struct list bl;              /* struct binding                    */
};

struct binding {
	struct le le;
	struct aor *aor;
	char *contact;               /* addr-spec                         */
	char *callid;
	uint32_t cseq;
	uint64_t expires_at;         /* tmr_jiffies() ms                  */
	struct tmr tmr;
};


static void on_register(struct redum_dum *dum, struct redum_stack_event *ev);


void redum_registrar_conf_init(struct redum_registrar_conf *conf)
{
	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	conf->realm           = "redum";
	conf->min_expires     = 60;
	conf->max_expires     = 3600;
	conf->default_expires = 3600;
	conf->nonce_ttl       = 300;
	conf->max_bindings    = 16;
}


/* ---- allocation (any thread, in redum_dum_alloc) ---------------------- */

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}


/* Splits "u1:p1,u2:p2" in place. */
static int parse_users(struct dum_reg *reg)
{
	char *p, *save = NULL, *tok;
	size_t n = 1;

	for (p = reg->userbuf; *p; p++)
		n += *p == ',';

	reg->users = calloc(n, sizeof(*reg->users));
	if (!reg->users)
		return ENOMEM;

	for (tok = strtok_r(reg->userbuf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *c;

		while (*tok == ' ')
			++tok;
		c = strchr(tok, ':');
		if (!c || c == tok)
			return EINVAL;
		*c = '\0';
		reg->users[reg->userc].name = tok;
		reg->users[reg->userc].pass = c + 1;
		++reg->userc;
	}

	return 0;
}


int dum_registrar_alloc(struct redum_dum *dum,
			const struct redum_dum_conf *conf)
{
	const struct redum_registrar_conf *rc = conf ? conf->registrar : NULL;
	struct dum_reg *reg;
	int err;

	dum->conf.registrar = NULL;
	if (!rc)
		return 0;

	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return ENOMEM;

	reg->conf = *rc;
	reg->realm   = strdup(rc->realm && *rc->realm ? rc->realm : "redum");
	reg->domains = dupstr(rc->domains && *rc->domains ? rc->domains :
			      NULL);
	reg->userbuf = dupstr(rc->users && *rc->users ? rc->users : NULL);
	if (!reg->realm || (rc->domains && *rc->domains && !reg->domains) ||
	    (rc->users && *rc->users && !reg->userbuf)) {
		err = ENOMEM;
		goto out;
	}

	if (reg->userbuf) {
		err = parse_users(reg);
		if (err)
			goto out;
	}

	if (!reg->conf.max_expires)
		reg->conf.max_expires = 3600;
	if (!reg->conf.default_expires)
		reg->conf.default_expires = 3600;
	if (reg->conf.default_expires > reg->conf.max_expires)
		reg->conf.default_expires = reg->conf.max_expires;
	if (!reg->conf.nonce_ttl)
		reg->conf.nonce_ttl = 300;
	if (!reg->conf.max_bindings)
		reg->conf.max_bindings = 16;

	reg->conf.realm   = reg->realm;
	reg->conf.domains = reg->domains;
	reg->conf.users   = NULL;
	rand_bytes(reg->secret, sizeof(reg->secret));

	dum->reg = reg;
	dum->conf.registrar = &reg->conf;
	return 0;

 out:
	free(reg->users);
	free(reg->realm);
	free(reg->domains);
	free(reg->userbuf);
	free(reg);
	return err;
}


void dum_registrar_free(struct redum_dum *dum)
{
	struct dum_reg *reg = dum ? dum->reg : NULL;

	if (!reg)
		return;

	free(reg->users);
	free(reg->realm);
	free(reg->domains);
	free(reg->userbuf);
	free(reg);
	dum->reg = NULL;
	dum->conf.registrar = NULL;
}


void redum_registrar_stats(const struct redum_dum *dum,
			   struct redum_registrar_stats *st)
{
	const struct dum_reg *reg;

	if (!st)
		return;

	memset(st, 0, sizeof(*st));
	reg = dum ? dum->reg : NULL;
	if (!reg)
		return;

#define LD(x) atomic_load_explicit(&reg->x, memory_order_relaxed)
	st->aors       = LD(aors);
	st->bindings   = LD(bindings);
	st->registers  = LD(registers);
	st->ok         = LD(ok);
	st->challenged = LD(challenged);
	st->stale      = LD(stale);
	st->rejected   = LD(rejected);
	st->expired    = LD(expired);
#undef LD
}


/* ---- the store (DUM thread) ------------------------------------------ */

static void binding_destructor(void *arg)
{
	struct binding *b = arg;

	tmr_cancel(&b->tmr);
	list_unlink(&b->le);
	mem_deref(b->contact);
	mem_deref(b->callid);
}


static void aor_destructor(void *arg)
{
	struct aor *a = arg;

	list_flush(&a->bl);
	hash_unlink(&a->he);
	list_unlink(&a->le);
	mem_deref(a->key);
}


static void binding_remove(struct binding *b)
{
	struct aor *a = b->aor;
	struct dum_reg *reg = a->reg;

	mem_deref(b);
	DCNT_DEC(reg->bindings);

	if (!a->bl.head) {
		mem_deref(a);
		DCNT_DEC(reg->aors);
	}
}


static void binding_expired(void *arg)
{
	struct binding *b = arg;

	DCNT_INC(b->aor->reg->expired);
	binding_remove(b);
}


/* "user@host" of @p uri, host lower-cased (the user is case-sensitive). */
static int aor_key(char **keyp, const struct uri *uri)
{
	char *k;
	size_t i;
	int err;

	err = re_sdprintf(&k, "%r@%r", &uri->user, &uri->host);
	if (err)
		return err;

	for (i = uri->user.l + 1; k[i]; i++)
		if (k[i] >= 'A' && k[i] <= 'Z')
			k[i] = (char)(k[i] - 'A' + 'a');

	*keyp = k;
	return 0;
}


static bool aor_cmp(struct le *le, void *arg)
{
	const struct aor *a = le->data;
	return !strcmp(a->key, arg);
}


/* A fixed table made every lookup walk AORs/256 entries: with 100k
 * bindings the registrar's cost per REGISTER grew during a run (62 ->
 * 112 µs within 60 s at 5,600/s, docs/BENCHMARKS.md). It grows 4x when
 * it holds twice as many AORs as buckets; the AOR list gives every entry
 * to move. A failed allocation keeps the old table (slower, correct). */
static void aor_hash_grow(struct dum_reg *reg)
{
	struct hash *ht;
	uint32_t size = reg->hsize * 4;
	struct le *le;

	if (atomic_load_explicit(&reg->aors, memory_order_relaxed) <=
	    2u * reg->hsize ||
	    reg->hsize >= AOR_HSIZE_MAX)
		return;

	if (hash_alloc(&ht, size))
		return;

	for (le = reg->aorl.head; le; le = le->next) {
		struct aor *a = le->data;

		hash_unlink(&a->he);
		hash_append(ht, hash_joaat_str(a->key), &a->he, a);
	}

	mem_deref(reg->ht_aor);
	reg->ht_aor = ht;
	reg->hsize  = size;
}


static struct aor *aor_find(struct dum_reg *reg, const char *key)
{
	return list_ledata(hash_lookup(reg->ht_aor, hash_joaat_str(key),
				       aor_cmp, (void *)key));
}


static struct binding *binding_find(struct aor *a, const struct pl *contact)
{
	struct le *le;

	if (!a)
		return NULL;

	for (le = a->bl.head; le; le = le->next) {
		struct binding *b = le->data;

		if (!pl_strcasecmp(contact, b->contact))
			return b;
	}

	return NULL;
}


static uint32_t secs_left(const struct binding *b, uint64_t now)
{
	return b->expires_at > now ?
		(uint32_t)((b->expires_at - now + 999) / 1000) : 0;
}


void dum_registrar_init(struct redum_dum *dum)
{
	struct dum_reg *reg = dum->reg;

	if (!reg)
		return;

	if (hash_alloc(&reg->ht_aor, AOR_HSIZE))
		return;   /* REGISTER then finds no route: the stack's 501 */
	reg->hsize = AOR_HSIZE;

	dum_route_method(dum, REDUM_STACK_M_REGISTER, on_register);
}


void dum_registrar_teardown(struct redum_dum *dum)
{
	struct dum_reg *reg = dum->reg;

	if (!reg)
		return;

	while (reg->aorl.head) {
		struct aor *a = reg->aorl.head->data;

		while (a->bl.head) {
			mem_deref(a->bl.head->data);
			DCNT_DEC(reg->bindings);
		}
		mem_deref(a);
		DCNT_DEC(reg->aors);
	}

	reg->ht_aor = mem_deref(reg->ht_aor);
}


/* ---- REGISTER --------------------------------------------------------- */

struct contact {
	struct pl auri;
	uint32_t expires;
	struct binding *b;           /* existing binding, or NULL          */
};

struct regreq {
	struct redum_dum *dum;
	struct dum_reg *reg;
	struct redum_stack_event *ev;
	const struct sip_msg *msg;
	struct contact c[MAX_CONTACTS];
	uint32_t n;
	bool star, bad, toomany;
};


static void reply(struct regreq *rq, uint16_t scode, const char *reason,
		  const char *hdrs)
{
	struct redum_dum *dum = rq->dum;

	if (scode == 401)
		DCNT_INC(rq->reg->challenged);
	else if (scode >= 300)
		DCNT_INC(rq->reg->rejected);
	else
		DCNT_INC(rq->reg->ok);

	dum_stack_err(dum, dum_ops->reply(dum->tu, rq->ev->id, scode, reason,
					     0, hdrs, NULL, 0));
	dum_ops->event_release(dum->tu, rq->ev);
}


static void challenge(struct regreq *rq, bool stale)
{
	char nonce[40], hdr[256];

	(void)dum_auth_nonce(nonce, sizeof(nonce), rq->reg->secret,
			     tmr_jiffies());
	re_snprintf(hdr, sizeof(hdr),
		    "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", "
		    "qop=\"auth\", algorithm=MD5%s\r\n",
		    rq->reg->realm, nonce, stale ? ", stale=true" : "");
	if (stale)
		DCNT_INC(rq->reg->stale);
	reply(rq, 401, "Unauthorized", hdr);
}


struct authctx {
	struct dum_reg *reg;
	struct httpauth_digest_resp resp;
	bool found;
};


static bool auth_hdr(const struct sip_hdr *hdr, const struct sip_msg *msg,
		     void *arg)
{
	struct authctx *ac = arg;
	struct httpauth_digest_resp r;
	(void)msg;

	if (httpauth_digest_response_decode(&r, &hdr->val))
		return false;
	if (pl_strcmp(&r.realm, ac->reg->realm))
		return false;

	ac->resp = r;
	ac->found = true;
	return true;
}


static const char *user_pass(const struct dum_reg *reg, const struct pl *u)
{
	size_t i;

	for (i = 0; i < reg->userc; i++)
		if (!pl_strcmp(u, reg->users[i].name))
			return reg->users[i].pass;

	return NULL;
}


/* 0: authenticated; otherwise the reply was sent. */
static int authenticate(struct regreq *rq, const struct uri *to)
{
	struct authctx ac = {.reg = rq->reg};
	const char *pass;
	int err;

	if (!rq->reg->userc)
		return 0;

	(void)sip_msg_hdr_apply(rq->msg, true, SIP_HDR_AUTHORIZATION,
				auth_hdr, &ac);
	if (!ac.found) {
		challenge(rq, false);
		return EACCES;
	}

	err = dum_auth_nonce_check(&ac.resp.nonce, rq->reg->secret,
				   tmr_jiffies(),
				   (uint64_t)rq->reg->conf.nonce_ttl * 1000);
	if (err) {
		challenge(rq, err == ETIMEDOUT);
		return err;
	}

	pass = user_pass(rq->reg, &ac.resp.username);
	if (!pass || dum_auth_verify(&ac.resp, "REGISTER", pass)) {
		challenge(rq, false);
		return EACCES;
	}

	/* a user registers its own AOR only */
	if (pl_cmp(&ac.resp.username, &to->user)) {
		reply(rq, 403, "Forbidden", NULL);
		return EPERM;
	}

	return 0;
}


static bool domain_ok(const struct dum_reg *reg, const struct pl *host)
{
	const char *p = reg->domains;

	if (!p)
		return true;

	while (*p) {
		size_t l;

		while (*p == ' ' || *p == ',')
			++p;
		l = strcspn(p, ", ");
		if (l && l == host->l && !strncasecmp(p, host->p, l))
			return true;
		p += l;
	}

	return false;
}


static bool contact_hdr(const struct sip_hdr *hdr, const struct sip_msg *msg,
			void *arg)
{
	struct regreq *rq = arg;
	struct sip_addr addr;
	struct pl v = hdr->val, e;
	(void)msg;

	while (v.l && (*v.p == ' ' || *v.p == '\t'))
		pl_advance(&v, 1);
	while (v.l && (v.p[v.l - 1] == ' ' || v.p[v.l - 1] == '\t'))
		--v.l;

	if (v.l == 1 && *v.p == '*') {
		rq->star = true;
		return false;
	}

	if (rq->n >= MAX_CONTACTS) {
		rq->toomany = true;
		return true;
	}

	if (sip_addr_decode(&addr, &v)) {
		rq->bad = true;
		return true;
	}

	rq->c[rq->n].auri = addr.auri;
	rq->c[rq->n].expires = UINT32_MAX;
	if (!msg_param_decode(&addr.params, "expires", &e))
		rq->c[rq->n].expires = pl_u32(&e);
	++rq->n;

	return false;
}


/* The 200: every current binding of @p a. */
static void reply_ok(struct regreq *rq, struct aor *a)
{
	struct mbuf *mb = mbuf_alloc(256);
	uint64_t now = tmr_jiffies();
	struct le *le;
	int err = 0;

	if (!mb) {
		reply(rq, 500, "Server Internal Error", NULL);
		return;
	}

	for (le = a ? a->bl.head : NULL; le; le = le->next) {
		const struct binding *b = le->data;

		err |= mbuf_printf(mb, "Contact: <%s>;expires=%u\r\n",
				   b->contact, secs_left(b, now));
	}
	err |= mbuf_write_u8(mb, 0);

	if (err)
		reply(rq, 500, "Server Internal Error", NULL);
	else
		reply(rq, 200, "OK", (const char *)mb->buf);

	mem_deref(mb);
}


static int binding_set(struct aor *a, struct binding *b,
		       const struct pl *auri, const struct pl *callid,
		       uint32_t cseq, uint32_t expires)
{
	struct dum_reg *reg = a->reg;
	char *cid = NULL;

	if (pl_strdup(&cid, callid))
		return ENOMEM;

	if (!b) {
		b = mem_zalloc(sizeof(*b), binding_destructor);
		if (!b || pl_strdup(&b->contact, auri)) {
			mem_deref(b);
			mem_deref(cid);
			return ENOMEM;
		}
		b->aor = a;
		tmr_init(&b->tmr);
		list_append(&a->bl, &b->le, b);
		DCNT_INC(reg->bindings);
	}

	mem_deref(b->callid);
	b->callid = cid;
	b->cseq = cseq;
	b->expires_at = tmr_jiffies() + (uint64_t)expires * 1000;
	tmr_start(&b->tmr, (uint64_t)expires * 1000, binding_expired, b);

	return 0;
}


static void on_register(struct redum_dum *dum, struct redum_stack_event *ev)
{
	struct regreq *rq;
	struct dum_reg *reg = dum->reg;
	const struct sip_msg *msg = ev->msg;
	struct aor *a;
	char *key = NULL, hdr[48];
	uint32_t hexp = UINT32_MAX, i, newc = 0;

	DCNT_INC(reg->registers);

	rq = mem_zalloc(sizeof(*rq), NULL);
	if (!rq) {
		dum_stack_err(dum, dum_ops->reply(dum->tu, ev->id, 500,
						     "Server Internal Error",
						     0, NULL, NULL, 0));
		dum_ops->event_release(dum->tu, ev);
		return;
	}
	rq->dum = dum;
	rq->reg = reg;
	rq->ev  = ev;
	rq->msg = msg;

	if (!pl_isset(&msg->to.uri.user) || !pl_isset(&msg->to.uri.host)) {
		reply(rq, 400, "Bad Request (no user in To)", NULL);
		goto out;
	}

	if (!domain_ok(reg, &msg->to.uri.host)) {
		reply(rq, 404, "Not Found", NULL);
		goto out;
	}

	if (authenticate(rq, &msg->to.uri))
		goto out;

	if (aor_key(&key, &msg->to.uri)) {
		reply(rq, 500, "Server Internal Error", NULL);
		goto out;
	}
	a = aor_find(reg, key);

	(void)sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, contact_hdr, rq);
	if (pl_isset(&msg->expires))
		hexp = pl_u32(&msg->expires);

	if (rq->bad || rq->toomany) {
		reply(rq, 400, "Bad Request (Contact)", NULL);
		goto out;
	}

	if (rq->star) {
		struct le *le;

		/* RFC 3261 10.3 step 6: alone, with Expires: 0 */
		if (rq->n || hexp != 0) {
			reply(rq, 400, "Bad Request (wildcard Contact)",
			      NULL);
			goto out;
		}

		for (le = a ? a->bl.head : NULL; le; le = le->next) {
			const struct binding *b = le->data;

			if (!pl_strcmp(&msg->callid, b->callid) &&
			    msg->cseq.num <= b->cseq) {
				reply(rq, 500, "Server Internal Error "
				      "(CSeq out of order)", NULL);
				goto out;
			}
		}

		while (a && a->bl.head) {
			struct binding *b = a->bl.head->data;
			bool last = a->bl.head == a->bl.tail;

			binding_remove(b);
			if (last)
				a = NULL;
		}

		reply_ok(rq, NULL);
		goto out;
	}

	/* validate everything before changing anything */
	for (i = 0; i < rq->n; i++) {
		struct contact *c = &rq->c[i];
		struct binding *b;

		if (c->expires == UINT32_MAX)
			c->expires = hexp != UINT32_MAX ? hexp :
				reg->conf.default_expires;

		if (c->expires && c->expires < reg->conf.min_expires) {
			re_snprintf(hdr, sizeof(hdr), "Min-Expires: %u\r\n",
				    reg->conf.min_expires);
			reply(rq, 423, "Interval Too Brief", hdr);
			goto out;
		}
		if (c->expires > reg->conf.max_expires)
			c->expires = reg->conf.max_expires;

		b = binding_find(a, &c->auri);
		c->b = b;
		if (b && !pl_strcmp(&msg->callid, b->callid) &&
		    msg->cseq.num <= b->cseq) {
			reply(rq, 500, "Server Internal Error "
			      "(CSeq out of order)", NULL);
			goto out;
		}
		if (!b && c->expires)
			++newc;
	}

	if (newc && (a ? list_count(&a->bl) : 0) + newc >
	    reg->conf.max_bindings) {
		reply(rq, 403, "Forbidden (too many bindings)", NULL);
		goto out;
	}

	for (i = 0; i < rq->n; i++) {
		struct contact *c = &rq->c[i];
		uint32_t j;
		bool dup = false;

		/* the same contact twice: the first one rules */
		for (j = 0; j < i; j++)
			dup |= !pl_cmp(&rq->c[j].auri, &c->auri);
		if (dup)
			continue;

		if (!c->expires) {
			if (c->b) {
				bool last = a->bl.head == a->bl.tail;

				binding_remove(c->b);
				if (last)
					a = NULL;
			}
			continue;
		}

		if (!a) {
			a = mem_zalloc(sizeof(*a), aor_destructor);
			if (!a) {
				reply(rq, 500, "Server Internal Error", NULL);
				goto out;
			}
			a->reg = reg;
			a->key = key;
			key = NULL;
			hash_append(reg->ht_aor, hash_joaat_str(a->key),
				    &a->he, a);
			list_append(&reg->aorl, &a->le, a);
			DCNT_INC(reg->aors);
			aor_hash_grow(reg);
		}

		if (binding_set(a, c->b, &c->auri, &msg->callid,
				msg->cseq.num, c->expires)) {
			reply(rq, 500, "Server Internal Error", NULL);
			goto out;
		}
	}

	reply_ok(rq, a);

 out:
	mem_deref(key);
	mem_deref(rq);
}


/* ---- lookup ------------------------------------------------------------ */

void dum_registrar_lookup(struct redum_dum *dum, struct dum_cmd *cmd)
{
	struct dum_reg *reg = dum->reg;
	struct redum_reg_binding bs[MAX_CONTACTS];
	struct redum_reg_info info;
	struct redum_dum_event *ev;
	struct uri uri;
	struct pl pl;
	struct aor *a = NULL;
	char *key = NULL;
	uint64_t now = tmr_jiffies();

	memset(&info, 0, sizeof(info));
	info.aor = cmd->uri;
	info.reason = "";

	if (!reg || !reg->ht_aor) {
		ev = dum_reg_ev_new(dum, REDUM_USAGE_REGISTRAR, cmd->h,
				    REDUM_DUM_EV_REG_BINDINGS, &info);
		if (ev)
			ev->err = ENODEV;
		dum_ev_post(dum, ev);
		return;
	}

	pl_set_str(&pl, cmd->uri);
	if (!uri_decode(&uri, &pl) && !aor_key(&key, &uri))
		a = aor_find(reg, key);
	mem_deref(key);

	if (a) {
		struct le *le;

		for (le = a->bl.head; le && info.bindingc < MAX_CONTACTS;
		     le = le->next) {
			const struct binding *b = le->data;
			struct redum_reg_binding *o = &bs[info.bindingc++];

			o->contact = b->contact;
			o->expires = secs_left(b, now);
			o->call_id = b->callid;
			o->cseq    = b->cseq;
		}
		info.bindings = bs;
	}

	dum_ev_post(dum, dum_reg_ev_new(dum, REDUM_USAGE_REGISTRAR, cmd->h,
					REDUM_DUM_EV_REG_BINDINGS, &info));
}


int redum_registrar_lookup(struct redum_dum *dum, redum_dum_handle *hp,
			   const char *aor)
{
	struct dum_cmd s = {0}, *cmd;
	int err;

	if (!dum || !hp || !aor)
		return EINVAL;

	s.uri = aor;
	cmd = dum_cmd_new(DCMD_REG_LOOKUP, dum_new_handle(dum), &s, NULL, 0);
	if (!cmd)
		return ENOMEM;

	*hp = cmd->h;
	err = dum_cmd_push(dum, cmd);
	if (err)
		*hp = 0;

	return err;
}
