/**
 * @file main.c  redumd: the redum server binary (entry point)
 *
 * For now redumd knows --version and --help; the server itself (config file,
 * roles, signals, metrics) is built in app/ by a later issue.
 */
#include <stdio.h>
#include <string.h>
#include <redum/version.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: redumd [--version] [--help]\n"
		"  --version   print the version and exit\n"
		"  --help      print this help and exit\n");
}

int main(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("redumd %s\n", REDUM_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "redumd: unknown argument '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}

	fprintf(stderr, "redumd: no server role is built yet\n");
	return 1;
}
