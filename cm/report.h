/* report.h - what s2sctl shows, built once and rendered three ways: an
 * aligned table with a header (many records), "key: value" lines (one
 * record), or JSON for scripts.
 *
 * A report is a list of records; a record is an ordered list of fields,
 * each a key and a string or number value. Every record of a table should
 * have the same keys (missing ones print "-"). Keys are borrowed (string
 * literals); string values are copied. A record may also carry a list of
 * lines (a transcript), rendered after the record's fields in text and as
 * the array "transcript" in JSON. */
#ifndef S2SD_REPORT_H
#define S2SD_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "cm/util.h"

enum report_format {
	REPORT_TABLE,   /* header + one aligned row per record */
	REPORT_LIST,    /* "key: value" per field, records separated by a blank */
	REPORT_JSON,    /* an array of objects, one per record */
	REPORT_JSON_OBJECT,     /* the first record as one object */
};

struct report;

struct report *report_new(void);
void report_free(struct report *r);                       /* NULL ok */
/* Start a new record; the field calls below go to the last record. */
void report_record(struct report *r);
void report_str(struct report *r, const char *key, const char *value);
void report_strf(struct report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_num(struct report *r, const char *key, int64_t value);
void report_bool(struct report *r, const char *key, bool value);
/* Append a line of text to the current record's transcript. */
void report_line(struct report *r, const char *line);
size_t report_count(const struct report *r);

/* Render R. In JSON numbers are numbers and booleans true/false. */
void report_render(const struct report *r, enum report_format f,
                   struct util_buf *out);
/* Append S as a JSON string literal (quotes included). */
void report_json_string(struct util_buf *out, const char *s);

#endif
