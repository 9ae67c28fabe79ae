/* directory.h - the directory file: which home node serves which users and
 * domains, and the users' email addresses for federation (s2sd-directory(5)).
 *
 *   DOMAIN        NODE                    the domain default (also aliases)
 *   USER@DOMAIN   NODE [email=ADDRESS]    one user; beats the domain default
 *   USER@DOMAIN   email=ADDRESS           a user on the domain default's node
 *
 * '#' at the start of a word starts a comment. Addresses are prepared like
 * JIDs (jid.h: case-folded node, IDNA domain in U-label form) and node names
 * (letters, digits, '.', '-', '_') are lower-cased, so lookups take the
 * prepared parts of a parsed jid. A lookup is one hash probe for the user and
 * one for the domain; there are no wildcards.
 *
 * A parsed directory is immutable and refcounted; strings returned by
 * lookups are borrowed from it and valid while a reference is held. */
#ifndef S2SD_DIRECTORY_H
#define S2SD_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/util.h"

struct directory;

struct directory_match {
	const char *node;       /* home node name, lower case */
	const char *key;        /* the line's address: "a@example.com" */
	bool by_user;           /* a user line, not the domain default */
	const char *file;
	int line;
};

/* Parse TEXT; NAME is used in messages ("NAME:LINE: message\n" appended to
 * ERRORS for every error of the text). Returns 0 with *OUT (one reference)
 * or S2SD_ECONFIG and *OUT untouched. */
int directory_parse(const char *name, const char *text, struct directory **out,
                    struct util_buf *errors);
/* Read and parse PATH (start-up and reload only: it blocks). */
int directory_load(const char *path, struct directory **out,
                   struct util_buf *errors);
struct directory *directory_ref(struct directory *d);
void directory_unref(struct directory *d);      /* NULL ok */

/* The home node for NODE@DOMAIN (prepared parts; NODE NULL for the domain
 * itself): the user's line, else the domain's. False when neither. */
bool directory_lookup(const struct directory *d, const char *node,
                      const char *domain, struct directory_match *out);
/* Email address for federation of user NODE@DOMAIN ("u@mail.example"),
 * or NULL; *LINE (may be NULL) gets the line that sets it. */
const char *directory_email_of(const struct directory *d, const char *node,
                               const char *domain, int *line);
/* The internal bare JID of email address NODE@DOMAIN, or NULL. */
const char *directory_user_of(const struct directory *d, const char *node,
                              const char *domain, int *line);

/* Append "FILE:LINE: ..." to ERRORS for every line naming a node for which
 * KNOWN returns false; returns the number of such lines. */
int directory_check_nodes(const struct directory *d,
                          bool (*known)(void *arg, const char *node),
                          void *arg, struct util_buf *errors);
/* Append "FILE:LINE: ..." for every line whose address or email address
 * is not in a domain for which IS_LOCAL (prepared domain) returns true;
 * returns the number of such problems. For checks (s2sd -n, s2sctl check):
 * the router never routes such a domain anyway. */
int directory_check_domains(const struct directory *d,
                            bool (*is_local)(void *arg, const char *domain),
                            void *arg, struct util_buf *errors);
const char *directory_file(const struct directory *d);
/* Lines that map something (users and domains). */
size_t directory_count(const struct directory *d);

#endif
