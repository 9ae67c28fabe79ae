/* err.c - lookups in the S2SD_E* table; see err.h. */
#include "cm/err.h"

#include <errno.h>
#include <stddef.h>
#include <uv.h>

struct err_row {
	int code;
	bool temporary;
	const char *name;
	const char *condition;
	const char *message;
};

static const struct err_row err_rows[] = {
#define S2SD_ERR_ROW(nm, value, temp, cond, msg)                               \
	{(value), (temp), "S2SD_" #nm, (cond), (msg)},
    S2SD_ERR_MAP(S2SD_ERR_ROW)
#undef S2SD_ERR_ROW
};

static const struct err_row *
err_find(int code)
{
	size_t i;

	for (i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++)
		if (err_rows[i].code == code)
			return &err_rows[i];
	return NULL;
}

const char *
err_str(int code)
{
	const struct err_row *row = err_find(code);

	if (row != NULL)
		return row->message;
	if (code == 0)
		return "success";
	/* libuv knows -errno, UV_EOF and UV_EAI_* alike. */
	return uv_strerror(code);
}

const char *
err_name(int code)
{
	const struct err_row *row = err_find(code);

	if (row != NULL)
		return row->name;
	if (code == 0)
		return "OK";
	return uv_err_name(code);
}

/* Network errors from the kernel that say "try later", not "never". */
static bool
err_is_temporary_errno(int code)
{
	switch (code) {
	case UV_ECONNREFUSED:
	case UV_ECONNRESET:
	case UV_ETIMEDOUT:
	case UV_EHOSTUNREACH:
	case UV_ENETUNREACH:
	case UV_ENETDOWN:
	case UV_EPIPE:
	case UV_EOF:
	case UV_EAGAIN:
	case UV_ENOBUFS:
	case UV_EMFILE:
	case UV_ENFILE:
	case UV_EADDRNOTAVAIL:
	case UV_ECANCELED:
	case UV_EAI_AGAIN:
		return true;
	default:
		return false;
	}
}

bool
err_is_temporary(int code)
{
	const struct err_row *row = err_find(code);

	if (row != NULL)
		return row->temporary;
	return err_is_temporary_errno(code);
}

const char *
err_condition(int code)
{
	const struct err_row *row = err_find(code);

	if (row != NULL)
		return row->condition;
	if (code == UV_ETIMEDOUT)
		return "remote-server-timeout";
	if (err_is_temporary_errno(code))
		return "remote-server-not-found";
	return "undefined-condition";
}
