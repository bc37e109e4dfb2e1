/**
 * @file config.c  redumd's configuration parser (see config.h)
 *
 * A line parser of its own rather than libre's conf_get(): libre's conf
 * API looks keys up one by one, so it can neither give line numbers nor
 * find the keys nobody asked for (a typo would be ignored). Every byte of
 * the input is bounds-checked (the text need not be NUL-terminated and may
 * hold NULs): it is the fuzzing entry of redumd.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "config.h"

enum key_type {
	KT_BOOL,
	KT_U32,
	KT_STR,      /* any non-empty text                                 */
	KT_URI,      /* sip:/sips: URI with a numeric host                 */
	KT_LISTEN,   /* TRANSPORT:ADDR:PORT, repeatable                    */
	KT_ADDR,     /* ADDR:PORT or "off" (metrics)                       */
	KT_LEVEL,    /* log level                                          */
	KT_REJECT,   /* USER CODE, repeatable                              */
};

struct key {
	const char *name;
	enum key_type type;
	size_t off;
	uint32_t min, max;   /* KT_U32 */
};

#define K(n, t, f) {n, t, offsetof(struct app_config, f), 0, 0}
#define KN(n, f, lo, hi) {n, KT_U32, offsetof(struct app_config, f), lo, hi}

static const struct key keys[] = {
	K("listen", KT_LISTEN, listen),
	K("tls_cert", KT_STR, tls_cert),
	K("software", KT_STR, software),
	KN("overload_delay_ms", overload_delay_ms, 0, 60000),
	KN("overload_interval_ms", overload_interval_ms, 0, 60000),
	KN("overload_pct", overload_pct, 0, 100),
	KN("give_up_ms", give_up_ms, 0, 3600000),
	K("metrics", KT_ADDR, metrics),
	K("log_level", KT_LEVEL, log_level),
	K("log_syslog", KT_BOOL, log_syslog),
	K("uas", KT_BOOL, uas),
	KN("uas_ring_ms", uas_ring_ms, 0, 600000),
	KN("uas_hangup_s", uas_hangup_s, 0, 86400),
	K("uas_reject", KT_REJECT, reject),
	K("registrar", KT_BOOL, registrar),
	K("registrar_realm", KT_STR, registrar_realm),
	K("registrar_domains", KT_STR, registrar_domains),
	K("registrar_users", KT_STR, registrar_users),
	KN("registrar_min_expires", registrar_min_expires, 1, 86400),
	KN("registrar_max_expires", registrar_max_expires, 1, 86400),
	K("presence", KT_BOOL, presence),
	K("message", KT_BOOL, message),
	K("options", KT_BOOL, options),
	K("client_from", KT_URI, client_from),
	K("register_to", KT_URI, register_to),
	K("register_aor", KT_URI, register_aor),
	K("register_user", KT_STR, register_user),
	K("register_password", KT_STR, register_password),
	KN("register_expires", register_expires, 1, 86400),
	K("subscribe_to", KT_URI, subscribe_to),
	K("subscribe_event", KT_STR, subscribe_event),
	KN("subscribe_expires", subscribe_expires, 1, 86400),
	K("call_to", KT_URI, call_to),
};

enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };

/* the per-key bookkeeping arrays must hold every key */
_Static_assert(NKEYS <= 64, "app_config.line_ too small");

/* Where a message comes from: a file line, or a flag. */
struct origin {
	const char *name;   /* file name, or the flag ("--listen")  */
	uint32_t line;      /* 0: a flag                            */
};


static int oprintf(struct re_printf *err, const struct origin *o,
		   const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return 0;

	if (o->line)
		(void)re_hprintf(err, "%s:%u: ", o->name, o->line);
	else
		(void)re_hprintf(err, "%s: ", o->name);
	va_start(ap, fmt);
	(void)re_vhprintf(fmt, ap, err->vph, err->arg);
	va_end(ap);
	(void)re_hprintf(err, "\n");
	return 0;
}


/* Prints untrusted text quoted: at most 48 bytes, non-printables as '?'. */
static int print_text(struct re_printf *pf, const struct pl *pl)
{
	char buf[52];
	size_t n = pl->l > 48 ? 48 : pl->l;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pl->p[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (pl->l > n) {
		buf[i++] = '.';
		buf[i++] = '.';
		buf[i++] = '.';
	}
	buf[i] = '\0';
	return re_hprintf(pf, "'%s'", buf);
}


static const struct key *key_find(const struct pl *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (!pl_strcmp(name, keys[i].name))
			return &keys[i];
	}
	return NULL;
}


bool app_config_key_known(const char *key)
{
	struct pl pl;

	if (!key)
		return false;
	pl_set_str(&pl, key);
	return key_find(&pl) != NULL;
}


const char *app_transp_name(enum sip_transp tp)
{
	switch (tp) {
	case SIP_TRANSP_TCP: return "tcp";
	case SIP_TRANSP_TLS: return "tls";
	default:             return "udp";
	}
}


const char *app_log_level_name(enum app_log_level l)
{
	static const char *const names[] = {"error", "warning", "notice",
					    "info", "debug"};

	return (unsigned)l < 5 ? names[l] : "?";
}


void app_config_init(struct app_config *cfg)
{
	if (!cfg)
		return;

	memset(cfg, 0, sizeof(*cfg));
	cfg->give_up_ms = 4000;
	cfg->overload_delay_ms = 200;
	cfg->overload_interval_ms = 100;
	cfg->overload_pct = 50;
	cfg->log_level = APP_LOG_INFO;
	cfg->uas = true;
	cfg->registrar = true;
	cfg->registrar_min_expires = 60;
	cfg->registrar_max_expires = 3600;
	cfg->presence = true;
	cfg->message = true;
	cfg->options = true;
	cfg->register_expires = 600;
	cfg->subscribe_expires = 600;
}


void app_config_reset(struct app_config *cfg)
{
	if (!cfg)
		return;

	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == KT_STR || keys[i].type == KT_URI) {
			char **s = (char **)(void *)((char *)cfg + keys[i].off);
			*s = mem_deref(*s);
		}
	}
	for (uint32_t i = 0; i < cfg->rejectc; i++)
		mem_deref(cfg->reject[i].user);
	mem_deref(cfg->name_);
	app_config_init(cfg);
}


static int parse_u32(const struct pl *v, uint32_t *out)
{
	uint64_t n = 0;

	if (!v->l || v->l > 10)
		return EINVAL;
	for (size_t i = 0; i < v->l; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return EINVAL;
		n = n * 10 + (uint64_t)(v->p[i] - '0');
	}
	if (n > UINT32_MAX)
		return EINVAL;
	*out = (uint32_t)n;
	return 0;
}


static int parse_bool(const struct pl *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (!pl_strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!pl_strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return EINVAL;
}


/* "ADDR:PORT" with a numeric IPv4 address or a bracketed IPv6 one. */
static int parse_addr(const struct pl *v, struct sa *sa)
{
	struct pl host, port;
	uint32_t p;

	if (!v->l)
		return EINVAL;

	if (v->p[0] == '[') {
		const char *close = memchr(v->p, ']', v->l);

		if (!close || (size_t)(close - v->p) + 2 > v->l ||
		    close[1] != ':')
			return EINVAL;
		host.p = v->p + 1;
		host.l = (size_t)(close - v->p) - 1;
		port.p = close + 2;
		port.l = v->l - (size_t)(port.p - v->p);
	}
	else {
		const char *colon = NULL;

		for (size_t i = 0; i < v->l; i++) {
			if (v->p[i] == ':') {
				if (colon)
					return EINVAL; /* IPv6 needs [] */
				colon = v->p + i;
			}
		}
		if (!colon)
			return EINVAL;
		host.p = v->p;
		host.l = (size_t)(colon - v->p);
		port.p = colon + 1;
		port.l = v->l - host.l - 1;
	}

	if (!host.l || host.l > 64 || parse_u32(&port, &p) || p > 65535)
		return EINVAL;

	return sa_set(sa, &host, (uint16_t)p);
}


static int parse_listen(const struct pl *v, struct app_listen *l)
{
	struct pl tp, rest;
	const char *colon = memchr(v->p, ':', v->l);

	if (!colon)
		return EINVAL;
	tp.p = v->p;
	tp.l = (size_t)(colon - v->p);
	rest.p = colon + 1;
	rest.l = v->l - tp.l - 1;

	if (!pl_strcasecmp(&tp, "udp"))
		l->tp = SIP_TRANSP_UDP;
	else if (!pl_strcasecmp(&tp, "tcp"))
		l->tp = SIP_TRANSP_TCP;
	else if (!pl_strcasecmp(&tp, "tls"))
		l->tp = SIP_TRANSP_TLS;
	else
		return EINVAL;

	return parse_addr(&rest, &l->addr);
}


/* A SIP URI whose host is a numeric address (redum has no DNS client). */
static int check_uri(const struct pl *v)
{
	struct uri uri;
	struct sa sa;

	if (v->l > 512 || memchr(v->p, ' ', v->l) ||
	    memchr(v->p, '\t', v->l))
		return EINVAL;
	if (uri_decode(&uri, v))
		return EINVAL;
	if (pl_strcasecmp(&uri.scheme, "sip") &&
	    pl_strcasecmp(&uri.scheme, "sips"))
		return EINVAL;
	if (!uri.host.l || sa_set(&sa, &uri.host, 0))
		return EINVAL;
	return 0;
}


static bool scode_ok(uint32_t c)
{
	return c >= 300 && c <= 699;
}


static int parse_reject(const struct pl *v, struct pl *user, uint32_t *code)
{
	size_t i = 0;
	struct pl c;

	while (i < v->l && v->p[i] != ' ' && v->p[i] != '\t')
		i++;
	user->p = v->p;
	user->l = i;
	while (i < v->l && (v->p[i] == ' ' || v->p[i] == '\t'))
		i++;
	c.p = v->p + i;
	c.l = v->l - i;

	if (!user->l || user->l > 64 || parse_u32(&c, code) || !scode_ok(*code))
		return EINVAL;
	return 0;
}


/* Sets one key. @p o names where it comes from; @p fresh: a flag's first
 * value of a repeatable key (the file's entries are dropped). */
static int set_key(struct app_config *cfg, const struct key *k,
		   const struct pl *v, const struct origin *o,
		   struct re_printf *err)
{
	void *field = (char *)cfg + k->off;
	size_t ki = (size_t)(k - keys);
	int e = 0;

	if (!v->l) {
		oprintf(err, o, "'%s' needs a value", k->name);
		return EINVAL;
	}

	/* a flag overrides: its first value of a repeatable key replaces
	 * the file's list */
	if (!o->line && !cfg->flag_[ki]) {
		if (k->type == KT_LISTEN)
			cfg->listenc = 0;
		if (k->type == KT_REJECT) {
			for (uint32_t i = 0; i < cfg->rejectc; i++)
				cfg->reject[i].user =
					mem_deref(cfg->reject[i].user);
			cfg->rejectc = 0;
		}
	}

	switch (k->type) {

	case KT_BOOL:
		if (parse_bool(v, field)) {
			oprintf(err, o, "%s: %H is not a boolean (yes or no)",
				k->name, print_text, v);
			return EINVAL;
		}
		break;

	case KT_U32: {
		uint32_t n;

		if (parse_u32(v, &n) || n < k->min || n > k->max) {
			oprintf(err, o, "%s: %H is not a number in %u..%u",
				k->name, print_text, v, k->min, k->max);
			return EINVAL;
		}
		*(uint32_t *)field = n;
		break;
	}

	case KT_URI:
		if (check_uri(v)) {
			oprintf(err, o, "%s: %H is not a sip: URI with a "
				"numeric host (redum does not resolve names)",
				k->name, print_text, v);
			return EINVAL;
		}
		/* fall through */
	case KT_STR: {
		char **s = field;
		char *n;

		if (memchr(v->p, '\0', v->l)) {
			oprintf(err, o, "%s: NUL byte in the value", k->name);
			return EINVAL;
		}
		e = pl_strdup(&n, v);
		if (e) {
			oprintf(err, o, "%s: %m", k->name, e);
			return e;
		}
		mem_deref(*s);
		*s = n;
		break;
	}

	case KT_LISTEN: {
		struct app_listen l;

		if (parse_listen(v, &l)) {
			oprintf(err, o, "listen: %H: expected udp|tcp|tls:"
				"ADDR:PORT with a numeric address (IPv6 in "
				"brackets: tcp:[::1]:5060)", print_text, v);
			return EINVAL;
		}
		for (uint32_t i = 0; i < cfg->listenc; i++) {
			if (cfg->listen[i].tp == l.tp &&
			    sa_cmp(&cfg->listen[i].addr, &l.addr, SA_ALL) &&
			    sa_port(&l.addr)) {
				oprintf(err, o, "listen: %H given twice",
					print_text, v);
				return EINVAL;
			}
		}
		if (cfg->listenc >= APP_CONFIG_MAX_LISTEN) {
			oprintf(err, o, "listen: more than %u listeners",
				APP_CONFIG_MAX_LISTEN);
			return EINVAL;
		}
		cfg->listen[cfg->listenc++] = l;
		break;
	}

	case KT_ADDR:
		if (!pl_strcasecmp(v, "off") || !pl_strcasecmp(v, "no")) {
			cfg->metrics_on = false;
			break;
		}
		if (parse_addr(v, &cfg->metrics)) {
			oprintf(err, o, "%s: %H: expected ADDR:PORT with a "
				"numeric address (IPv6 in brackets), or off",
				k->name, print_text, v);
			return EINVAL;
		}
		cfg->metrics_on = true;
		break;

	case KT_LEVEL: {
		bool found = false;

		for (int l = APP_LOG_ERROR; l <= APP_LOG_DEBUG; l++) {
			if (!pl_strcasecmp(v, app_log_level_name(l))) {
				cfg->log_level = (enum app_log_level)l;
				found = true;
			}
		}
		if (!found) {
			oprintf(err, o, "%s: %H: expected error, warning, "
				"notice, info or debug", k->name, print_text,
				v);
			return EINVAL;
		}
		break;
	}

	case KT_REJECT: {
		struct pl user;
		uint32_t code;
		struct app_reject *r;

		if (parse_reject(v, &user, &code)) {
			oprintf(err, o, "uas_reject: %H: expected USER CODE "
				"(USER a request-URI user or *, CODE "
				"300..699)", print_text, v);
			return EINVAL;
		}
		if (cfg->rejectc >= APP_CONFIG_MAX_REJECT) {
			oprintf(err, o, "uas_reject: more than %u rules",
				APP_CONFIG_MAX_REJECT);
			return EINVAL;
		}
		r = &cfg->reject[cfg->rejectc];
		e = pl_strdup(&r->user, &user);
		if (e) {
			oprintf(err, o, "uas_reject: %m", e);
			return e;
		}
		r->code = (uint16_t)code;
		cfg->rejectc++;
		break;
	}
	}

	cfg->line_[ki] = o->line;
	if (!o->line)
		cfg->flag_[ki] = true;
	return 0;
}


static bool repeatable(const struct key *k)
{
	return k->type == KT_LISTEN || k->type == KT_REJECT;
}


static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}


static void trim(struct pl *pl)
{
	while (pl->l && is_space(pl->p[0])) {
		pl->p++;
		pl->l--;
	}
	while (pl->l && is_space(pl->p[pl->l - 1]))
		pl->l--;
}


static int parse_line(struct app_config *cfg, struct pl line,
		      const struct origin *o, uint32_t seen[],
		      struct re_printf *err)
{
	const struct key *k;
	struct pl key, val;
	size_t i;

	/* a comment starts with # at the start of the line or after a
	 * blank (a value holds no blank-# pair) */
	for (i = 0; i < line.l; i++) {
		if (line.p[i] == '#' && (i == 0 || is_space(line.p[i - 1]))) {
			line.l = i;
			break;
		}
	}
	trim(&line);
	if (!line.l)
		return 0;

	if (memchr(line.p, '\0', line.l)) {
		oprintf(err, o, "NUL byte in the line");
		return EINVAL;
	}

	for (i = 0; i < line.l && !is_space(line.p[i]); i++)
		;
	key.p = line.p;
	key.l = i;
	val.p = line.p + i;
	val.l = line.l - i;
	trim(&val);

	k = key_find(&key);
	if (!k) {
		oprintf(err, o, "unknown key %H", print_text, &key);
		return EINVAL;
	}

	if (!repeatable(k) && seen[k - keys]) {
		oprintf(err, o, "'%s' given twice (first at line %u)",
			k->name, seen[k - keys]);
		return EINVAL;
	}
	seen[k - keys] = o->line;

	return set_key(cfg, k, &val, o, err);
}


int app_config_parse(struct app_config *cfg, const char *name,
		     const char *buf, size_t len, struct re_printf *err)
{
	uint32_t seen[NKEYS] = {0};   /* line of each key's first use */
	struct origin o;
	size_t pos = 0;
	bool bad = false;

	if (!cfg || (!buf && len))
		return EINVAL;

	o.name = name ? name : "config";
	o.line = 0;

	if (!cfg->name_ && str_dup(&cfg->name_, o.name))
		return ENOMEM;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct pl line;

		if (o.line == UINT32_MAX) {
			oprintf(err, &o, "too many lines");
			bad = true;
			break;
		}
		o.line++;

		line.p = buf + pos;
		line.l = end - pos;
		pos = nl ? end + 1 : len;

		if (line.l > APP_CONFIG_MAX_LINE) {
			oprintf(err, &o, "line too long (%zu bytes, at most "
				"%u)", line.l, APP_CONFIG_MAX_LINE);
			bad = true;
			continue;
		}

		if (parse_line(cfg, line, &o, seen, err))
			bad = true;
	}

	if (app_config_check(cfg, err))
		bad = true;

	return bad ? EINVAL : 0;
}


int app_config_load(struct app_config *cfg, const char *path,
		    struct re_printf *err)
{
	int e;

	if (!cfg || !path)
		return EINVAL;

	{
		FILE *f = fopen(path, "rb");
		char *text = NULL;
		size_t n = 0, cap = 0;

		if (!f) {
			e = errno;
			if (err)
				re_hprintf(err, "%s: %m\n", path, e);
			return e;
		}
		for (;;) {
			char chunk[4096];
			size_t r = fread(chunk, 1, sizeof(chunk), f);

			if (!r)
				break;
			if (n + r > 16u * 1024 * 1024) {
				fclose(f);
				mem_deref(text);
				if (err)
					re_hprintf(err, "%s: file too large "
						   "(more than 16 MiB)\n",
						   path);
				return EFBIG;
			}
			if (n + r > cap) {
				char *t;

				cap = (n + r) * 2;
				/* libre's mem_realloc() takes no NULL */
				t = text ? mem_realloc(text, cap) :
					mem_alloc(cap, NULL);
				if (!t) {
					fclose(f);
					mem_deref(text);
					return ENOMEM;
				}
				text = t;
			}
			memcpy(text + n, chunk, r);
			n += r;
		}
		e = ferror(f) ? EIO : 0;
		fclose(f);
		if (e) {
			mem_deref(text);
			if (err)
				re_hprintf(err, "%s: read error\n", path);
			return e;
		}

		e = app_config_parse(cfg, path, text, n, err);
		mem_deref(text);
	}

	return e;
}


int app_config_set_flag(struct app_config *cfg, const char *flag,
			const char *key, const char *value,
			struct re_printf *err)
{
	struct origin o = {.name = flag ? flag : "flag", .line = 0};
	const struct key *k;
	struct pl kpl, v;

	if (!cfg || !key || !value)
		return EINVAL;

	pl_set_str(&kpl, key);
	k = key_find(&kpl);
	if (!k) {
		oprintf(err, &o, "unknown key %H", print_text, &kpl);
		return EINVAL;
	}
	pl_set_str(&v, value);
	trim(&v);
	return set_key(cfg, k, &v, &o, err);
}


/* Prints a check error at the line where @p key was set. */
static void check_fail(const struct app_config *cfg, const char *key,
		       struct re_printf *err, const char *msg)
{
	struct origin o = {.name = cfg->name_ ? cfg->name_ : "config"};
	struct pl kpl;
	const struct key *k;

	pl_set_str(&kpl, key);
	k = key_find(&kpl);
	if (k) {
		o.line = cfg->line_[k - keys];
		if (!o.line)
			o.name = "command line";
	}
	oprintf(err, &o, "%s", msg);
}


int app_config_check(struct app_config *cfg, struct re_printf *err)
{
	bool bad = false;

	if (!cfg)
		return EINVAL;

	for (uint32_t i = 0; i < cfg->listenc; i++) {
		if (cfg->listen[i].tp == SIP_TRANSP_TLS && !cfg->tls_cert) {
			check_fail(cfg, "listen", err, "a tls listener needs "
				   "tls_cert (a PEM file with the certificate "
				   "and its key)");
			bad = true;
			break;
		}
	}
	if (cfg->registrar_min_expires > cfg->registrar_max_expires) {
		check_fail(cfg, "registrar_min_expires", err,
			   "registrar_min_expires is above "
			   "registrar_max_expires");
		bad = true;
	}
	if (!cfg->registrar &&
	    (cfg->registrar_users || cfg->registrar_realm ||
	     cfg->registrar_domains)) {
		check_fail(cfg, cfg->registrar_users ? "registrar_users" :
			   cfg->registrar_realm ? "registrar_realm" :
			   "registrar_domains", err,
			   "registrar settings with 'registrar no' "
			   "(conflicting keys)");
		bad = true;
	}
	if (!cfg->register_to &&
	    (cfg->register_aor || cfg->register_user ||
	     cfg->register_password)) {
		check_fail(cfg, cfg->register_aor ? "register_aor" :
			   cfg->register_user ? "register_user" :
			   "register_password", err,
			   "register_* settings without register_to");
		bad = true;
	}
	if (!cfg->register_user != !cfg->register_password) {
		check_fail(cfg, cfg->register_user ? "register_user" :
			   "register_password", err,
			   "register_user and register_password go together");
		bad = true;
	}
	if (!cfg->subscribe_to && cfg->subscribe_event) {
		check_fail(cfg, "subscribe_event", err,
			   "subscribe_event without subscribe_to");
		bad = true;
	}
	if (!cfg->uas && cfg->rejectc) {
		check_fail(cfg, "uas_reject", err,
			   "uas_reject with 'uas no' (conflicting keys)");
		bad = true;
	}

	return bad ? EINVAL : 0;
}


int app_config_print(struct re_printf *pf, const struct app_config *cfg)
{
	int err = 0;

	if (!cfg)
		return EINVAL;

	for (uint32_t i = 0; i < cfg->listenc; i++)
		err |= re_hprintf(pf, "listen %s:%J\n",
				  app_transp_name(cfg->listen[i].tp),
				  &cfg->listen[i].addr);
	if (!cfg->listenc)
		err |= re_hprintf(pf, "listen udp:127.0.0.1:5060\n"
				  "listen tcp:127.0.0.1:5060\n");

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const void *f = (const char *)cfg + k->off;

		switch (k->type) {

		case KT_BOOL:
			err |= re_hprintf(pf, "%s %s\n", k->name,
					  *(const bool *)f ? "yes" : "no");
			break;

		case KT_U32:
			err |= re_hprintf(pf, "%s %u\n", k->name,
					  *(const uint32_t *)f);
			break;

		case KT_STR:
		case KT_URI: {
			const char *s = *(char *const *)f;

			if (s)
				err |= re_hprintf(pf, "%s %s\n", k->name,
						  strstr(k->name, "password") ?
						  "(set)" : s);
			break;
		}

		case KT_ADDR:
			if (cfg->metrics_on)
				err |= re_hprintf(pf, "metrics %J\n",
						  &cfg->metrics);
			else
				err |= re_hprintf(pf, "metrics off\n");
			break;

		case KT_LEVEL:
			err |= re_hprintf(pf, "log_level %s\n",
					  app_log_level_name(cfg->log_level));
			break;

		case KT_REJECT:
			for (uint32_t r = 0; r < cfg->rejectc; r++)
				err |= re_hprintf(pf, "uas_reject %s %u\n",
						  cfg->reject[r].user,
						  cfg->reject[r].code);
			break;

		case KT_LISTEN:
			break;
		}
	}

	return err;
}
