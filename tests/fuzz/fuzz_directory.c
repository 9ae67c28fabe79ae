/* fuzz_directory.c - libFuzzer target for the directory parser and its
 * lookups: any text either parses or says why (every error with a line);
 * a parsed directory answers lookups and email mappings for every word of
 * the input that parses as a JID, and the two email maps agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"
#include "router/directory.h"
#include "xmpp/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
known_odd(void *arg, const char *node)
{
	(void)arg;
	return strlen(node) % 2 == 1;
}

/* The email maps are inverse: user -> email -> the same user. */
static void
check_email(const struct directory *d, const struct jid *j)
{
	const char *email, *user;
	struct jid *e = NULL, *bare;

	if (jid_node(j) == NULL ||
	    (email = directory_email_of(d, jid_node(j), jid_domain(j),
	                                NULL)) == NULL)
		return;
	if (jid_parse(email, strlen(email), &e, NULL, 0) < 0)
		abort();
	user = directory_user_of(d, jid_node(e), jid_domain(e), NULL);
	bare = jid_bare(j);
	if (user == NULL || strcmp(user, jid_str(bare, NULL)) != 0)
		abort();
	jid_free(bare);
	jid_free(e);
}

static void
query(const struct directory *d, const char *word)
{
	struct directory_match m;
	struct jid *j = NULL;

	if (jid_parse(word, strlen(word), &j, NULL, 0) < 0)
		return;
	if (directory_lookup(d, jid_node(j), jid_domain(j), &m) &&
	    (m.node == NULL || m.key == NULL || m.line <= 0))
		abort();
	check_email(d, j);
	jid_free(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct util_buf errors = {0};
	struct directory *d = NULL;
	char *text = xstrndup((const char *)data, size), *w, *save = NULL;

	if (directory_parse("fuzz", text, &d, &errors) == 0) {
		directory_check_nodes(d, known_odd, NULL, &errors);
		directory_check_domains(d, known_odd, NULL, &errors);
		for (w = strtok_r(text, " \t\r\n", &save); w != NULL;
		     w = strtok_r(NULL, " \t\r\n", &save))
			query(d, strncmp(w, "email=", 6) == 0 ? w + 6 : w);
		directory_unref(d);
	} else if (d != NULL || errors.len == 0 ||
	           strncmp(errors.data, "fuzz:", 5) != 0) {
		abort();   /* a failure always says where and returns nothing */
	}
	util_buf_free(&errors);
	free(text);
	return 0;
}
