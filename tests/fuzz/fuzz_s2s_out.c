/* fuzz_s2s_out.c - libFuzzer target for the outbound S2S negotiation and
 * the originating side of dialback: the input is what the server we connect
 * to answers (features, <proceed/>, SASL results, <db:result/> and
 * <db:verify/> answers, stream errors, stanzas), cut into reads at points
 * taken from its first bytes. Flags from the first byte choose the
 * security mode, the certificate verdict, a verification-only stream, a
 * piggybacked second pair and a <db:verify/> sent on the stream. */
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

static const char *const fz_locals[] = {"a.test", "c.test", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {.locals = fz_locals};
	struct s2s_stream_opts o = {.role = S2S_ROLE_OUT, .sasl_external = true,
	                            .dialback = true, .local = "a.test",
	                            .remote = "b.test", .sm = true,
	                            .sm_opts = {2, 1000, 5000}};
	size_t pos, chunk;
	uint64_t now = 1;
	bool extra_sent = false;

	fz_init_once();
	if (size < 2)
		return 0;
	f.flags = data[0];
	o.security = (enum s2s_security)(data[0] >> 2 & 3) % 3;
	o.require_valid_certs = data[0] & 0x10;
	o.verify_only = (data[1] & 0xc0) == 0xc0;
	chunk = 1 + data[1] % 64;
	f.secret = dialback_secret_new("fuzz");
	f.st = s2s_stream_new(&o, &fz_cbs, &f, now);
	s2s_stream_start(f.st, now);
	if (o.verify_only)
		s2s_stream_send_verify(f.st, "a.test", "b.test", "id1",
		                       "0123456789abcdef");
	for (pos = 2; pos < size && !s2s_stream_is_closed(f.st); pos += chunk) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		s2s_stream_input(f.st, data + pos, n, ++now);
		if (f.tls_pending) {
			f.tls_pending = 0;
			s2s_stream_tls_done(f.st, (f.flags & 0x20) ? -1 : 0, now);
		}
		/* Once ready: a second local domain, a verification request. */
		if (!extra_sent && s2s_stream_is_ready(f.st)) {
			extra_sent = true;
			if ((f.flags & 0x40) && s2s_stream_can_add_pair(f.st))
				s2s_stream_add_pair(f.st, "c.test");
			if (f.flags & 0x80)
				s2s_stream_send_verify(f.st, "a.test", "b.test",
				                       "id2", "fedcba9876543210");
		}
	}
	s2s_stream_tick(f.st, now + 60000);
	s2s_stream_free(f.st);
	dialback_secret_free(f.secret);
	return 0;
}
