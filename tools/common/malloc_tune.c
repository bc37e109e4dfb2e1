/**
 * @file malloc_tune.c  glibc's malloc tuned for a fast-growing heap
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "malloc_tune.h"

static void malloc_thp(char *argv[])
{
	const char *t = getenv("GLIBC_TUNABLES");
	char buf[512], exe[4096];
	ssize_t n;

	if (getenv("REDUM_NO_THP") || (t && strstr(t, "malloc.hugetlb")))
		return;

	if (snprintf(buf, sizeof(buf), "%s%sglibc.malloc.hugetlb=1",
		     t ? t : "", t ? ":" : "") >= (int)sizeof(buf))
		return;
	if (setenv("GLIBC_TUNABLES", buf, 1))
		return;

	/* the real path, so that the process keeps its name (comm) */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(exe) - 1)
		return;
	exe[n] = '\0';

	(void)execv(exe, argv);
	/* exec failed: run on without */
}


void redum_tool_malloc_tune(char *argv[])
{
	malloc_thp(argv);

	if (!getenv("REDUM_NO_MALLOPT")) {
		(void)mallopt(M_TOP_PAD, 64 << 20);
		(void)mallopt(M_TRIM_THRESHOLD, 512 << 20);
	}
}
