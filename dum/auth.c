/**
 * @file auth.c  Digest authentication (RFC 2617, MD5, qop=auth) for DUM:
 *               the client's answer to a 401/407 and the registrar's
 *               stateless nonces and response check
 *
 * Why the client computes the Authorization itself instead of libre's
 * sip_auth: sip_auth lives with the request on the stack thread, while the
 * credentials, the retry decision (give up on a repeated nonce) and the
 * CSeq belong to the usage on the DUM thread. Computing the header here
 * keeps the stack's request command unchanged (the header goes in with the
 * other extra headers) and costs two MD5s per request.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "reg_int.h"

enum { MAX_TRIES = 3 };

static void hex(char *out, const uint8_t *md, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i]     = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[2 * n] = '\0';
}


/* The digest of RFC 2617 3.2.2.1 over pl's; @p qop empty: RFC 2069. */
static int digest_pl(char out[33], const struct pl *user,
		     const struct pl *realm, const struct pl *password,
		     const struct pl *method, const struct pl *uri,
		     const struct pl *nonce, const struct pl *nc,
		     const struct pl *cnonce, const struct pl *qop)
{
	uint8_t md[MD5_SIZE];
	char ha1[33], ha2[33];
	int err;

	err = md5_printf(md, "%r:%r:%r", user, realm, password);
	if (err)
		return err;
	hex(ha1, md, sizeof(md));

	err = md5_printf(md, "%r:%r", method, uri);
	if (err)
		return err;
	hex(ha2, md, sizeof(md));

	if (pl_isset(qop))
		err = md5_printf(md, "%s:%r:%r:%r:%r:%s", ha1, nonce, nc,
				 cnonce, qop, ha2);
	else
		err = md5_printf(md, "%s:%r:%s", ha1, nonce, ha2);
	if (err)
		return err;

	hex(out, md, sizeof(md));
	return 0;
}


static struct pl pls(const char *s)
{
	struct pl pl = PL_INIT;

	if (s)
		pl_set_str(&pl, s);
	return pl;
}


int redum_digest_response(char out[33], const char *user, const char *realm,
			  const char *password, const char *method,
			  const char *uri, const char *nonce, const char *nc,
			  const char *cnonce, const char *qop)
{
	struct pl u, r, p, m, ur, n, c, cn, q;

	if (!out || !user || !realm || !password || !method || !uri ||
	    !nonce)
		return EINVAL;
	if (qop && *qop && (!nc || !cnonce))
		return EINVAL;

	u = pls(user); r = pls(realm); p = pls(password); m = pls(method);
	ur = pls(uri); n = pls(nonce); c = pls(nc); cn = pls(cnonce);
	q = pls(qop);

	return digest_pl(out, &u, &r, &p, &m, &ur, &n, &c, &cn, &q);
}


/* ---- client ------------------------------------------------------------ */

void dum_auth_reset(struct dum_auth *a)
{
	if (!a)
		return;

	a->realm  = mem_deref(a->realm);
	a->nonce  = mem_deref(a->nonce);
	a->opaque = mem_deref(a->opaque);
	a->qop_auth = false;
	a->nc = 0;
	a->tries = 0;
}


void dum_auth_ok(struct dum_auth *a)
{
	if (a)
		a->tries = 0;
}


/* True if the comma-separated list @p l holds the token "auth". */
static bool has_auth_token(const struct pl *l)
{
	size_t i = 0;

	while (i < l->l) {
		size_t s;

		while (i < l->l && (l->p[i] == ' ' || l->p[i] == '\t' ||
				    l->p[i] == ','))
			++i;
		s = i;
		while (i < l->l && l->p[i] != ',' && l->p[i] != ' ' &&
		       l->p[i] != '\t')
			++i;
		if (i - s == 4 && !strncasecmp(l->p + s, "auth", 4))
			return true;
	}

	return false;
}


int dum_auth_challenge(struct dum_auth *a, const struct sip_msg *msg)
{
	struct httpauth_digest_chall ch;
	const struct sip_hdr *hdr;
	bool proxy = msg->scode == 407;
	bool stale, same;
	int err;

	hdr = sip_msg_hdr(msg, proxy ? SIP_HDR_PROXY_AUTHENTICATE :
			  SIP_HDR_WWW_AUTHENTICATE);
	if (!hdr)
		return EPROTO;

	if (httpauth_digest_challenge_decode(&ch, &hdr->val))
		return EPROTO;

	if (pl_isset(&ch.algorithm) && pl_strcasecmp(&ch.algorithm, "MD5"))
		return EPROTO;

	stale = pl_isset(&ch.stale) && !pl_strcasecmp(&ch.stale, "true");
	same  = a->nonce && !pl_strcmp(&ch.nonce, a->nonce);

	/* our answer to this very nonce was refused: the credentials are
	 * wrong (a stale nonce is the server's clock, not our fault) */
	if (same && !stale)
		return EACCES;
	if (++a->tries > MAX_TRIES)
		return EACCES;

	a->realm  = mem_deref(a->realm);
	a->nonce  = mem_deref(a->nonce);
	a->opaque = mem_deref(a->opaque);
	err  = pl_strdup(&a->realm, &ch.realm);
	err |= pl_strdup(&a->nonce, &ch.nonce);
	if (pl_isset(&ch.opaque))
		err |= pl_strdup(&a->opaque, &ch.opaque);
	if (err)
		return ENOMEM;

	a->qop_auth = pl_isset(&ch.qop) && has_auth_token(&ch.qop);
	a->proxy = proxy;
	a->nc = 0;

	return 0;
}


int dum_auth_header(struct dum_auth *a, char **hdrp, const char *method,
		    const char *uri, const char *user, const char *password)
{
	char resp[33], nc[9], cnonce[17];
	int err;

	if (!a || !hdrp || !method || !uri)
		return EINVAL;

	if (!a->nonce || !user || !password)
		return re_sdprintf(hdrp, "");

	++a->nc;
	re_snprintf(nc, sizeof(nc), "%08x", a->nc);
	re_snprintf(cnonce, sizeof(cnonce), "%016llx", rand_u64());

	err = redum_digest_response(resp, user, a->realm, password, method,
				    uri, a->nonce, nc, cnonce,
				    a->qop_auth ? "auth" : NULL);
	if (err)
		return err;

	return re_sdprintf(hdrp,
			   "%s: Digest username=\"%s\", realm=\"%s\", "
			   "nonce=\"%s\", uri=\"%s\", response=\"%s\", "
			   "algorithm=MD5%s%s%s%s%s%s%s%s\r\n",
			   a->proxy ? "Proxy-Authorization" : "Authorization",
			   user, a->realm, a->nonce, uri, resp,
			   a->qop_auth ? ", qop=auth, nc=" : "",
			   a->qop_auth ? nc : "",
			   a->qop_auth ? ", cnonce=\"" : "",
			   a->qop_auth ? cnonce : "",
			   a->qop_auth ? "\"" : "",
			   a->opaque ? ", opaque=\"" : "",
			   a->opaque ? a->opaque : "",
			   a->opaque ? "\"" : "");
}


/* ---- the credential store ---------------------------------------------- */

/* One allocation: the entries, then their strings. [imm] after alloc. */
struct dum_creds {
	uint32_t n;
	struct redum_dum_cred c[];
};


static size_t csz(const char *s)
{
	return s ? strlen(s) + 1 : 1;
}


static const char *cput(char **pp, const char *s)
{
	size_t l = s ? strlen(s) : 0;
	char *d = *pp;

	if (l)
		memcpy(d, s, l);
	d[l] = '\0';
	*pp += l + 1;

	return d;
}


int dum_creds_alloc(struct redum_dum *dum, const struct redum_dum_conf *conf)
{
	struct dum_creds *cs;
	size_t sz;
	uint32_t i;
	char *p;

	dum->creds = NULL;
	if (!conf || !conf->creds || !conf->ncreds)
		return 0;

	sz = sizeof(*cs) + conf->ncreds * sizeof(cs->c[0]);
	for (i = 0; i < conf->ncreds; i++) {
		const struct redum_dum_cred *c = &conf->creds[i];

		if (!c->user || !c->password)
			return EINVAL;
		sz += csz(c->realm) + csz(c->user) + csz(c->password);
	}

	cs = mem_zalloc(sz, NULL);
	if (!cs)
		return ENOMEM;

	cs->n = conf->ncreds;
	p = (char *)&cs->c[cs->n];
	for (i = 0; i < cs->n; i++) {
		cs->c[i].realm    = cput(&p, conf->creds[i].realm);
		cs->c[i].user     = cput(&p, conf->creds[i].user);
		cs->c[i].password = cput(&p, conf->creds[i].password);
	}

	dum->creds = cs;
	return 0;
}


void dum_creds_free(struct redum_dum *dum)
{
	if (dum)
		dum->creds = mem_deref(dum->creds);
}


/* The entry for @p realm: an exact (case-sensitive, RFC 2617) realm
 * first, else the first "any realm" entry. */
static const struct redum_dum_cred *cred_find(const struct redum_dum *dum,
					      const char *realm)
{
	const struct redum_dum_cred *any = NULL;
	uint32_t i;

	if (!dum->creds || !realm)
		return NULL;

	for (i = 0; i < dum->creds->n; i++) {
		const struct redum_dum_cred *c = &dum->creds->c[i];

		if (!*c->realm) {
			if (!any)
				any = c;
		}
		else if (!strcmp(c->realm, realm)) {
			return c;
		}
	}

	return any;
}


int dum_auth_retry(struct redum_dum *dum, struct dum_auth *a,
		   const struct sip_msg *msg)
{
	int err;

	if (!dum || !a || !msg)
		return EINVAL;

	if (!dum->creds)
		return EACCES;

	err = dum_auth_challenge(a, msg);
	if (err)
		return err;

	return cred_find(dum, a->realm) ? 0 : EACCES;
}


int dum_auth_hdr(struct redum_dum *dum, struct dum_auth *a, char **hdrp,
		 const char *method, const char *uri)
{
	const struct redum_dum_cred *c = a ? cred_find(dum, a->realm) : NULL;

	return dum_auth_header(a, hdrp, method, uri, c ? c->user : NULL,
			       c ? c->password : NULL);
}


/* ---- server ------------------------------------------------------------ */

static void nonce_mac(char out[17], const uint8_t secret[16], uint64_t t)
{
	uint8_t md[MD5_SIZE];

	(void)md5_printf(md, "%w:%016llx", secret, (size_t)16,
			 (unsigned long long)t);
	hex(out, md, 8);
}


int dum_auth_nonce(char *buf, size_t sz, const uint8_t secret[16],
		   uint64_t now_ms)
{
	char mac[17];

	if (!buf || sz < 33)
		return EINVAL;

	nonce_mac(mac, secret, now_ms);
	re_snprintf(buf, sz, "%016llx%s", (unsigned long long)now_ms, mac);

	return 0;
}


int dum_auth_nonce_check(const struct pl *nonce, const uint8_t secret[16],
			 uint64_t now_ms, uint64_t ttl_ms)
{
	char mac[17];
	struct pl t, m;
	uint64_t issued;

	if (!nonce || nonce->l != 32)
		return EACCES;

	t.p = nonce->p;
	t.l = 16;
	m.p = nonce->p + 16;
	m.l = 16;
	issued = pl_x64(&t);
	nonce_mac(mac, secret, issued);
	if (pl_strcasecmp(&m, mac))
		return EACCES;

	if (now_ms < issued || now_ms - issued > ttl_ms)
		return ETIMEDOUT;

	return 0;
}


int dum_auth_verify(const struct httpauth_digest_resp *resp,
		    const char *method, const char *password)
{
	struct pl m, p;
	char expect[33];

	if (!resp || !method || !password)
		return EACCES;

	/* qop=auth needs its nc and cnonce; other qops are not offered */
	if (pl_isset(&resp->qop) &&
	    (pl_strcasecmp(&resp->qop, "auth") || !pl_isset(&resp->nc) ||
	     !pl_isset(&resp->cnonce)))
		return EACCES;

	m = pls(method);
	p = pls(password);
	if (digest_pl(expect, &resp->username, &resp->realm, &p, &m,
		      &resp->uri, &resp->nonce, &resp->nc, &resp->cnonce,
		      &resp->qop))
		return EACCES;

	return pl_strcasecmp(&resp->response, expect) ? EACCES : 0;
}
