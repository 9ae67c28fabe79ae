/* fuzz_config.c - libFuzzer target for the configuration parser: the input
 * is an s2sd.conf (an admin's typo, a file from somewhere else). It must be
 * either accepted or refused with FILE:LINE errors, never crash, and a
 * configuration it accepts must dump and peek without trouble. Secret files
 * named by the input are not followed: paths point nowhere readable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cm/config.h"
#include "cm/log.h"
#include "cm/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct util_buf errors = {0}, warnings = {0}, dump = {0};
	struct config *cfg = NULL;
	char path[64], peek[256];

	if (fd < 0) {
		log_set_level(-1, LOG_LEVEL_ERROR);
		if ((fd = memfd_create("fuzz_config", 0)) < 0)
			abort();
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, NULL, &cfg, &errors, &warnings) == 0) {
		config_dump(cfg, &dump);
		config_unref(cfg);
	} else if (errors.data == NULL || strstr(errors.data, ":") == NULL) {
		abort();        /* a refusal always says FILE:LINE */
	}
	config_peek(path, "general.control_socket", peek, sizeof(peek));
	config_peek(path, "limits.max_stanza_size", peek, sizeof(peek));
	util_buf_free(&errors);
	util_buf_free(&warnings);
	util_buf_free(&dump);
	return 0;
}
