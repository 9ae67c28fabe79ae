/* fuzz_s2s_stream.c - libFuzzer target for the inbound S2S negotiation: the
 * input is what a hostile peer sends, cut into reads at points taken from
 * its first bytes. TLS "completes" as soon as it is asked for, a dialback
 * verification is answered from an input bit, and the certificate verdict
 * comes from another, so every state of the receiving role is reachable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "s2s/dialback.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream.h"
#include "xmpp/stanza.h"
#include "tests/fuzz/fuzz_s2s_peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_locals[] = {"b.test", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {.locals = fz_locals};
	struct s2s_stream_opts o = {.role = S2S_ROLE_IN, .sasl_external = true,
	                            .dialback = true, .tls_available = true,
	                            .require_valid_certs = true, .sm = true,
	                            .sm_opts = {2, 1000, 5000}};
	size_t pos, chunk;
	uint64_t now = 1;

	fz_init_once();
	if (size < 2)
		return 0;
	f.flags = data[0];
	o.security = (enum s2s_security)(data[0] >> 2 & 3) % 3;
	o.require_valid_certs = data[0] & 0x10;
	chunk = 1 + data[1] % 64;
	f.secret = dialback_secret_new("fuzz");
	f.st = s2s_stream_new(&o, &fz_cbs, &f, now);
	s2s_stream_start(f.st, now);
	for (pos = 2; pos < size && !s2s_stream_is_closed(f.st); pos += chunk) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		s2s_stream_input(f.st, data + pos, n, ++now);
		if (f.tls_pending) {
			f.tls_pending = 0;
			s2s_stream_tls_done(f.st, (f.flags & 0x20) ? -1 : 0, now);
		}
		if (f.verify_pending) {
			f.verify_pending = 0;
			s2s_stream_dialback_verified(f.st, f.vlocal, f.vremote,
			                             f.flags & 0x40, 0, now);
		}
	}
	s2s_stream_tick(f.st, now + 60000);
	s2s_stream_free(f.st);
	dialback_secret_free(f.secret);
	return 0;
}
