/* libFuzzer target: the INI configuration reader (config_load_text) and
 * the cross-field checks. A text that loads must write back (config_write_
 * text) to a text that loads to the same configuration. */
#include <stdint.h>
#include <stdlib.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static Config a, b;
	char err[1024];
	char *text;
	size_t len;

	config_defaults(&a);
	if (config_load_text(&a, (const char *)data, size, "/fuzz/run.ini", err, sizeof(err)) < 0)
		return 0;
	(void)config_validate(&a, err, sizeof(err));
	text = config_write_text(&a, &len);
	if (!text)
		return 0;
	config_defaults(&b);
	if (config_load_text(&b, text, len, "/fuzz/again.ini", err, sizeof(err)) < 0 ||
	    !config_equal(&a, &b))
		abort();
	free(text);
	return 0;
}
