/* report.c - records of fields rendered as a table, key/value lines or
 * JSON. Sizes are small (streams, routes of one node): plain arrays. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/report.h"

enum report_kind { REPORT_K_STR, REPORT_K_NUM, REPORT_K_BOOL };

struct report_field {
	const char *key;
	enum report_kind kind;
	char *text;             /* the value as printed in text forms */
};

struct report_rec {
	struct report_field *fields;
	size_t nfields;
	char **lines;
	size_t nlines;
};

struct report {
	struct report_rec *recs;
	size_t nrecs;
};

struct report *
report_new(void)
{
	return xcalloc(1, sizeof(struct report));
}

void
report_free(struct report *r)
{
	size_t i, k;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrecs; i++) {
		for (k = 0; k < r->recs[i].nfields; k++)
			free(r->recs[i].fields[k].text);
		for (k = 0; k < r->recs[i].nlines; k++)
			free(r->recs[i].lines[k]);
		free(r->recs[i].fields);
		free(r->recs[i].lines);
	}
	free(r->recs);
	free(r);
}

void
report_record(struct report *r)
{
	r->recs = xreallocarray(r->recs, r->nrecs + 1, sizeof(*r->recs));
	memset(&r->recs[r->nrecs++], 0, sizeof(*r->recs));
}

static struct report_rec *
report_cur(struct report *r)
{
	if (r->nrecs == 0)
		report_record(r);
	return &r->recs[r->nrecs - 1];
}

static void
report_add(struct report *r, const char *key, enum report_kind kind,
           char *text)
{
	struct report_rec *rec = report_cur(r);

	rec->fields = xreallocarray(rec->fields, rec->nfields + 1,
	                            sizeof(*rec->fields));
	rec->fields[rec->nfields].key = key;
	rec->fields[rec->nfields].kind = kind;
	rec->fields[rec->nfields].text = text;
	rec->nfields++;
}

void
report_str(struct report *r, const char *key, const char *value)
{
	report_add(r, key, REPORT_K_STR, xstrdup(value != NULL ? value : ""));
}

void
report_strf(struct report *r, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		s = xstrdup("");
	report_add(r, key, REPORT_K_STR, s);
}

void
report_num(struct report *r, const char *key, int64_t value)
{
	report_add(r, key, REPORT_K_NUM, xasprintf("%lld", (long long)value));
}

void
report_bool(struct report *r, const char *key, bool value)
{
	report_add(r, key, REPORT_K_BOOL, xstrdup(value ? "yes" : "no"));
}

void
report_line(struct report *r, const char *line)
{
	struct report_rec *rec = report_cur(r);

	rec->lines = xreallocarray(rec->lines, rec->nlines + 1,
	                           sizeof(*rec->lines));
	rec->lines[rec->nlines++] = xstrdup(line);
}

size_t
report_count(const struct report *r)
{
	return r->nrecs;
}

void
report_json_string(struct util_buf *out, const char *s)
{
	const unsigned char *p;

	util_buf_puts(out, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			util_buf_printf(out, "\\%c", *p);
		else if (*p == '\n')
			util_buf_puts(out, "\\n");
		else if (*p == '\t')
			util_buf_puts(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			util_buf_printf(out, "\\u%04x", *p);
		else
			util_buf_append(out, p, 1);
	}
	util_buf_puts(out, "\"");
}

static void
report_json_rec(const struct report_rec *rec, struct util_buf *out)
{
	const struct report_field *f;
	size_t k;

	util_buf_puts(out, "{");
	for (k = 0; k < rec->nfields; k++) {
		f = &rec->fields[k];
		util_buf_puts(out, k > 0 ? ", " : "");
		report_json_string(out, f->key);
		util_buf_puts(out, ": ");
		if (f->kind == REPORT_K_NUM)
			util_buf_puts(out, f->text);
		else if (f->kind == REPORT_K_BOOL)
			util_buf_puts(out, f->text[0] == 'y' ? "true" : "false");
		else
			report_json_string(out, f->text);
	}
	if (rec->nlines > 0) {
		util_buf_puts(out, rec->nfields > 0 ? ", " : "");
		util_buf_puts(out, "\"transcript\": [");
		for (k = 0; k < rec->nlines; k++) {
			util_buf_puts(out, k > 0 ? ", " : "");
			report_json_string(out, rec->lines[k]);
		}
		util_buf_puts(out, "]");
	}
	util_buf_puts(out, "}");
}

static void
report_lines(const struct report_rec *rec, struct util_buf *out)
{
	size_t k;

	for (k = 0; k < rec->nlines; k++)
		util_buf_printf(out, "  %s\n", rec->lines[k]);
}

static void
report_list(const struct report *r, struct util_buf *out)
{
	size_t i, k, w;

	for (i = 0; i < r->nrecs; i++) {
		const struct report_rec *rec = &r->recs[i];

		if (i > 0)
			util_buf_puts(out, "\n");
		for (w = 0, k = 0; k < rec->nfields; k++)
			if (strlen(rec->fields[k].key) > w)
				w = strlen(rec->fields[k].key);
		for (k = 0; k < rec->nfields; k++)
			util_buf_printf(out, "%s:%*s %s\n", rec->fields[k].key,
			                (int)(w - strlen(rec->fields[k].key)), "",
			                rec->fields[k].text);
		report_lines(rec, out);
	}
}

/* Columns: every key in the order it first appears. */
static size_t
report_columns(const struct report *r, const char **keys, size_t max)
{
	size_t i, k, c, n = 0;

	for (i = 0; i < r->nrecs; i++) {
		for (k = 0; k < r->recs[i].nfields; k++) {
			for (c = 0; c < n; c++)
				if (strcmp(keys[c], r->recs[i].fields[k].key) == 0)
					break;
			if (c == n && n < max)
				keys[n++] = r->recs[i].fields[k].key;
		}
	}
	return n;
}

static const char *
report_get(const struct report_rec *rec, const char *key)
{
	size_t k;

	for (k = 0; k < rec->nfields; k++)
		if (strcmp(rec->fields[k].key, key) == 0)
			return rec->fields[k].text;
	return "-";
}

static void
report_cell(struct util_buf *out, const char *text, size_t width, bool last)
{
	if (last)
		util_buf_printf(out, "%s\n", text);
	else
		util_buf_printf(out, "%-*s  ", (int)width, text);
}

static void
report_table(const struct report *r, struct util_buf *out)
{
	const char *keys[64];
	size_t width[64], n = report_columns(r, keys, 64), i, c, len;
	char up[64];

	for (c = 0; c < n; c++) {
		width[c] = strlen(keys[c]);
		for (i = 0; i < r->nrecs; i++)
			if ((len = strlen(report_get(&r->recs[i], keys[c]))) >
			    width[c])
				width[c] = len;
	}
	for (c = 0; c < n; c++) {
		for (i = 0; keys[c][i] != '\0' && i < sizeof(up) - 1; i++)
			up[i] = (char)(keys[c][i] >= 'a' && keys[c][i] <= 'z'
			               ? keys[c][i] - 'a' + 'A' : keys[c][i]);
		up[i] = '\0';
		report_cell(out, up, width[c], c + 1 == n);
	}
	for (i = 0; i < r->nrecs; i++) {
		for (c = 0; c < n; c++)
			report_cell(out, report_get(&r->recs[i], keys[c]),
			            width[c], c + 1 == n);
		report_lines(&r->recs[i], out);
	}
}

void
report_render(const struct report *r, enum report_format f,
              struct util_buf *out)
{
	size_t i;

	switch (f) {
	case REPORT_TABLE:
		if (r->nrecs > 0)
			report_table(r, out);
		break;
	case REPORT_LIST:
		report_list(r, out);
		break;
	case REPORT_JSON_OBJECT:
		if (r->nrecs > 0) {
			report_json_rec(&r->recs[0], out);
			util_buf_puts(out, "\n");
			break;
		}
		util_buf_puts(out, "{}\n");
		break;
	case REPORT_JSON:
		util_buf_puts(out, "[");
		for (i = 0; i < r->nrecs; i++) {
			util_buf_puts(out, i > 0 ? ",\n " : "");
			report_json_rec(&r->recs[i], out);
		}
		util_buf_puts(out, "]\n");
		break;
	}
}
