/* jid.h - XMPP addresses (RFC 7622 section 3, with the RFC 6122 stringprep
 * profiles from libidn): [node@]domain[/resource].
 *
 * A parsed struct jid is immutable and holds the prepared (canonical) form of
 * each part: the node case-folded by Nodeprep, the resource by Resourceprep
 * (case kept), the domain by Nameprep/IDNA2003 with a trailing dot removed.
 * The canonical domain is in U-label form (UTF-8, every "xn--" label decoded),
 * as RFC 7622 compares domains, so "Bücher.example" and
 * "xn--bcher-kva.example" prepare to the same "bücher.example". IP literals
 * are a dotted quad or a bracketed IPv6 address in inet_ntop's compressed
 * lower-case form ("[2001:db8::1]").
 *
 * Unassigned code points (Unicode 3.2) are accepted in the node and resource,
 * as stringprep "queries": s2sd routes addresses, it does not create
 * accounts, and refusing every character newer than 2002 (emoji resources)
 * would bounce real traffic. They are refused in the domain, which drives DNS,
 * certificate checks and policy (IDNA2003 ToASCII without AllowUnassigned).
 *
 * A part of more than 4 * JID_PART_MAX input bytes is refused before
 * preparation (bounded work on hostile input).
 *
 * Errors are S2SD_EJID with a human reason in WHY (always NUL-terminated when
 * WHYLEN > 0; WHY may be NULL), or -ENOSPC for a caller buffer too small. */
#ifndef S2SD_JID_H
#define S2SD_JID_H

#include <stdbool.h>
#include <stddef.h>

/* Longest node, domain or resource after preparation, in bytes. */
#define JID_PART_MAX 1023

struct jid;

/* Parse and prepare LEN bytes of S (no NUL needed; an embedded NUL is an
 * error). On success *OUT is returned owned (free with jid_free) and the
 * result is 0; on failure *OUT is NULL. Recent results are cached by their
 * input bytes (a process-wide cache, single-threaded use only): a repeated
 * address costs a hash and a compare, and *OUT may be shared with other
 * holders, which is invisible as a jid is immutable. */
int jid_parse(const char *s, size_t len, struct jid **out, char *why,
	      size_t whylen);
void jid_free(struct jid *j); /* drops the reference; NULL ok */

/* Parts, borrowed from J (valid until jid_free), NUL-terminated. The node
 * and resource are NULL when absent; the domain never is. */
const char *jid_node(const struct jid *j);
const char *jid_domain(const struct jid *j);
const char *jid_resource(const struct jid *j);
/* The domain in ASCII (A-label) form for DNS and certificate name checks;
 * the same string as jid_domain() when that is all ASCII (IP literals
 * included, IPv6 still in brackets). Borrowed. */
const char *jid_domain_ascii(const struct jid *j);
/* The full prepared address "node@domain/resource", borrowed. LEN, when not
 * NULL, receives its length. */
const char *jid_str(const struct jid *j, size_t *len);

/* A new jid without the resource; returned owned, never NULL. */
struct jid *jid_bare(const struct jid *j);
/* Equal prepared forms (two NULLs are equal). */
bool jid_equal(const struct jid *a, const struct jid *b);

/* Prepare a bare domain given as a NUL-terminated string (config, policy) to
 * its canonical form in OUT; JID_PART_MAX + 1 bytes always suffice. Returns
 * the length written (without the NUL). */
int jid_domain_prep(const char *in, char *out, size_t outlen, char *why,
		    size_t whylen);
/* Prepare IN like jid_domain_prep() but write the ASCII (A-label) form.
 * Returns the length written (without the NUL). */
int jid_domain_to_ascii(const char *in, char *out, size_t outlen, char *why,
			size_t whylen);

#endif
