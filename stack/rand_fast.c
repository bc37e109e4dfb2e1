/**
 * @file rand_fast.c  libre's rand_* from a per-thread getrandom() pool
 *
 * libre 1.1.0 (built with OpenSSL) draws every random number with
 * RAND_bytes(), and OpenSSL 3's DRBG calls getpid() on each draw to notice a
 * fork: a system call per number. sip_msg_decode() draws a 64-bit tag for
 * every message it decodes (two rand_u32, so two getpid), and branches,
 * tags and Call-IDs draw more: measured ~5% of the stack thread at 3000
 * calls/s on this paravirtualised VM, where a system call costs a
 * microsecond or more.
 *
 * libre.so calls rand_u16/u32/u64/rand_bytes through its PLT, so these
 * definitions replace libre's for the whole process (as tmr_* in
 * tmr_wheel.c). The numbers come from the kernel's CSPRNG (getrandom(2),
 * the same source OpenSSL seeds from), 256 bytes per system call, kept in a
 * per-thread pool. A forked child must not replay its parent's pool:
 * pthread_atfork() empties the pool of the forking thread in the child (the
 * only thread there). If getrandom() fails (it should not after boot),
 * libre's own rand_bytes() (dlsym RTLD_NEXT) is used.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <re.h>

enum { POOL = 256 };

struct pool {
	uint8_t b[POOL];
	size_t pos;              /* bytes used; POOL: empty                 */
	bool init;
};

static __thread struct pool tls_pool
	__attribute__((tls_model("initial-exec")));
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

typedef void (rand_bytes_f)(uint8_t *, size_t);


static void child_reset(void)
{
	tls_pool.pos = POOL;
	explicit_bzero(tls_pool.b, sizeof(tls_pool.b));
}


static void atfork_init(void)
{
	(void)pthread_atfork(NULL, NULL, child_reset);
}


static rand_bytes_f *next_bytes;   /* libre's, for fallback()        */
static pthread_once_t next_once = PTHREAD_ONCE_INIT;


static void next_init(void)
{
	next_bytes = (rand_bytes_f *)dlsym(RTLD_NEXT, "rand_bytes");
}


static void fallback(uint8_t *p, size_t n)
{
	(void)pthread_once(&next_once, next_init);
	if (next_bytes)
		next_bytes(p, n);
}


/* Fills @p p from the pool, refilling it as needed. */
static void draw(void *p, size_t n)
{
	struct pool *pl = &tls_pool;
	uint8_t *out = p;

	if (!pl->init) {
		(void)pthread_once(&atfork_once, atfork_init);
		pl->pos  = POOL;
		pl->init = true;
	}

	while (n) {
		size_t k;

		if (pl->pos == POOL) {
			ssize_t r = getrandom(pl->b, POOL, 0);

			if (r != POOL) {
				fallback(out, n);
				return;
			}
			pl->pos = 0;
		}

		k = POOL - pl->pos;
		if (k > n)
			k = n;
		memcpy(out, pl->b + pl->pos, k);
		/* used bytes are not kept */
		memset(pl->b + pl->pos, 0, k);
		pl->pos += k;
		out += k;
		n -= k;
	}
}


uint16_t rand_u16(void)
{
	uint16_t v;

	draw(&v, sizeof(v));
	return v;
}


uint32_t rand_u32(void)
{
	uint32_t v;

	draw(&v, sizeof(v));
	return v;
}


uint64_t rand_u64(void)
{
	uint64_t v;

	draw(&v, sizeof(v));
	return v;
}


void rand_bytes(uint8_t *p, size_t size)
{
	if (!p)
		return;

	draw(p, size);
}
