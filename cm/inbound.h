/* inbound.h - what s2sd does with an inbound S2S connection while the s2s/
 * stream layer (issue 5) is not built: answer with a stream header and a
 * stream error (<undefined-condition/> with a text saying so) and close
 * properly, so a peer logs a clear reason instead of timing out.
 *
 * inbound_accept() takes CLIENT (from listen.h) and closes and frees it
 * itself. inbound_shutdown() closes every connection still open. */
#ifndef S2SD_INBOUND_H
#define S2SD_INBOUND_H

#include <uv.h>

struct config;

void inbound_accept(uv_tcp_t *client, const char *peer,
                    const struct config *cfg);
void inbound_shutdown(void);

#endif
