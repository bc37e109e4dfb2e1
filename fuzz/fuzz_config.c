/**
 * @file fuzz_config.c  libFuzzer harness: bytes -> redumd's config parser
 *
 * app_config_parse() (app/config.h, library redumd_config) takes any bytes
 * as a config file: each input is parsed into a fresh struct with the
 * error printer on (every error message is formatted), the result printed
 * (app_config_print), then freed (app_config_reset): a leak shows up in
 * libFuzzer's leak check, a bad read/write under ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <re.h>
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Formats, then discards: the messages' arguments are still read. */
static int discard(const char *p, size_t size, void *arg)
{
	size_t *n = arg;
	(void)p;

	*n += size;
	return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct app_config cfg;
	size_t n = 0;
	struct re_printf pf = {discard, &n};

	app_config_init(&cfg);
	if (!app_config_parse(&cfg, "fuzz.conf", (const char *)data, size,
			      &pf))
		(void)app_config_print(&pf, &cfg);
	app_config_reset(&cfg);

	return 0;
}
