/* config_params.h - the one table of s2sd.conf settings.
 *
 * X(id, section, name, type, default, min, max, flags, doc)
 * - type: CONFIG_T_* (see config.h); min/max bound numbers (sizes in bytes,
 *   durations in ms, counts); for CONFIG_T_ENUM the choices are in `doc`
 *   before the first ':' ("none|optional|required: ...").
 * - flags: CONFIG_F_RESTART when a change needs a restart (reported on
 *   reload), CONFIG_F_SECRET for files whose content is a secret (read at
 *   load, never printed).
 * The table drives parsing, defaults, `s2sd -n -v` output and the docs. */
#ifndef S2SD_CONFIG_PARAMS_H
#define S2SD_CONFIG_PARAMS_H

#define CONFIG_KIB 1024ULL
#define CONFIG_MIB (1024ULL * 1024)
#define CONFIG_DAY_MS 86400000ULL

#define CONFIG_PARAMS(X)                                                        \
	X(GENERAL_NODE_NAME, "general", "node_name", CONFIG_T_STR, "", 0, 0,   \
	  CONFIG_F_RESTART,                                                    \
	  "this node's name in a cluster (default: the host name)")              \
	X(GENERAL_USER, "general", "user", CONFIG_T_STR, "", 0, 0,             \
	  CONFIG_F_RESTART, "drop root to this user after binding ports")       \
	X(GENERAL_GROUP, "general", "group", CONFIG_T_STR, "", 0, 0,           \
	  CONFIG_F_RESTART, "group to run as (default: the user's group)")      \
	X(GENERAL_PID_FILE, "general", "pid_file", CONFIG_T_PATH, "", 0, 0,    \
	  CONFIG_F_RESTART, "pid file written after start-up (empty: none)")    \
	X(GENERAL_STATE_DIR, "general", "state_dir", CONFIG_T_PATH,            \
	  "/var/lib/s2sd", 0, 0, CONFIG_F_RESTART,                             \
	  "directory for state kept across restarts")                         \
	X(GENERAL_CONTROL_SOCKET, "general", "control_socket", CONFIG_T_PATH,  \
	  "/run/s2sd/control.sock", 0, 0, CONFIG_F_RESTART,                    \
	  "UNIX socket s2sctl talks to")                                       \
	X(GENERAL_CONTROL_GROUP, "general", "control_group", CONFIG_T_STR, "", \
	  0, 0, CONFIG_F_RESTART,                                              \
	  "group allowed to use the control socket (default: root only)")     \
	X(LOG_FILE, "log", "file", CONFIG_T_PATH, "", 0, 0, 0,                 \
	  "log file (empty: stderr in the foreground, else syslog)")          \
	X(LOG_SYSLOG, "log", "syslog", CONFIG_T_BOOL, "no", 0, 0, 0,           \
	  "log to syslog even in the foreground")                             \
	X(LOG_LEVEL, "log", "level", CONFIG_T_LEVEL, "info", 0, 0, 0,          \
	  "error | warn | info | debug | trace")                               \
	X(LOG_LEVELS, "log", "levels", CONFIG_T_LIST, "", 0, 0, 0,             \
	  "per-subsystem levels, e.g. s2s=debug dns=trace")                    \
	X(DOMAINS_IM, "domains", "im", CONFIG_T_DOMAINS, "", 0, 0, 0,          \
	  "local IM domains")                                                  \
	X(DOMAINS_EMAIL, "domains", "email", CONFIG_T_DOMAINS, "", 0, 0, 0,    \
	  "local email domains (email address for federation)")               \
	X(DOMAINS_ALIASES, "domains", "aliases", CONFIG_T_DOMAINS, "", 0, 0, 0, \
	  "service aliases (chat, group chat, file transfer nodes)")          \
	X(DOMAINS_EMAIL_FEDERATION, "domains", "email_federation", CONFIG_T_BOOL, \
	  "no", 0, 0, 0,                                                        \
	  "federate users under their email address (directory mappings)")    \
	X(FED_ENABLED, "federation", "enabled", CONFIG_T_BOOL, "yes", 0, 0,    \
	  CONFIG_F_RESTART, "S2S listener and outbound federation on this node") \
	X(FED_LISTEN, "federation", "listen", CONFIG_T_ADDRS,                  \
	  "0.0.0.0:5269 [::]:5269", 0, 0, CONFIG_F_RESTART,                   \
	  "S2S listen addresses (default port 5269)")                         \
	X(FED_DIRECT_TLS_LISTEN, "federation", "direct_tls_listen",            \
	  CONFIG_T_ADDRS, "", 0, 0, CONFIG_F_RESTART,                          \
	  "XEP-0368 direct TLS listen addresses (empty: none)")               \
	X(FED_SECURITY, "federation", "security", CONFIG_T_ENUM, "optional", 0, \
	  0, 0, "none|optional|required: TLS on S2S streams")                 \
	X(FED_REQUIRE_VALID_CERTS, "federation", "require_valid_certs",        \
	  CONFIG_T_BOOL, "yes", 0, 0, 0,                                       \
	  "peer certificates must chain to the trust store and match")        \
	X(FED_SASL_EXTERNAL_IN, "federation", "sasl_external_in",              \
	  CONFIG_T_BOOL, "yes", 0, 0, 0, "offer SASL EXTERNAL on inbound streams") \
	X(FED_SASL_EXTERNAL_OUT, "federation", "sasl_external_out",            \
	  CONFIG_T_BOOL, "yes", 0, 0, 0,                                       \
	  "use SASL EXTERNAL on outbound streams when offered")               \
	X(FED_DIALBACK_SECRET_FILE, "federation", "dialback_secret_file",      \
	  CONFIG_T_PATH, "", 0, 0, CONFIG_F_SECRET,                            \
	  "file holding the dialback secret (empty: dialback off)")          \
	X(FED_STREAM_MANAGEMENT, "federation", "stream_management",            \
	  CONFIG_T_BOOL, "yes", 0, 0, 0,                                       \
	  "XEP-0198 acks and resumption on S2S streams")                      \
	X(FED_BIDI, "federation", "bidi", CONFIG_T_BOOL, "yes", 0, 0, 0,       \
	  "XEP-0288: one S2S connection carries both directions")             \
	X(TLS_CERT_FILES, "tls", "cert_files", CONFIG_T_PATHS, "", 0, 0, 0,    \
	  "PEM certificate chains, one per domain or one multi-SAN")          \
	X(TLS_KEY_FILES, "tls", "key_files", CONFIG_T_PATHS, "", 0, 0, 0,      \
	  "PEM private keys, paired with cert_files")                          \
	X(TLS_TRUST_DIR, "tls", "trust_dir", CONFIG_T_PATH, "", 0, 0, 0,       \
	  "directory of trusted CA and pinned peer certificates (PEM)")       \
	X(TLS_TRUST_SYSTEM, "tls", "trust_system", CONFIG_T_BOOL, "no", 0, 0, 0, \
	  "also trust the system CA bundle")                                   \
	X(TLS_PRIORITY, "tls", "priority", CONFIG_T_STR,                       \
	  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", 0, 0, 0,               \
	  "GnuTLS priority string")                                            \
	X(DNS_SERVERS, "dns", "servers", CONFIG_T_ADDRS, "", 0, 0,             \
	  CONFIG_F_RESTART,                                                    \
	  "DNS servers host:port (empty: /etc/resolv.conf)")                   \
	X(DNS_TIMEOUT, "dns", "timeout", CONFIG_T_DURATION, "5s", 100, 60000, \
	  CONFIG_F_RESTART, "time-out of one DNS query")                      \
	X(DNS_TRIES, "dns", "tries", CONFIG_T_COUNT, "2", 1, 10,               \
	  CONFIG_F_RESTART,                                                    \
	  "tries per DNS server")                                              \
	X(DNS_CACHE_SIZE, "dns", "cache_size", CONFIG_T_COUNT, "10000", 0,     \
	  10000000, CONFIG_F_RESTART, "DNS cache entries")                    \
	X(COMP_LISTEN, "components", "listen", CONFIG_T_ADDRS,                 \
	  "127.0.0.1:5347", 0, 0, CONFIG_F_RESTART,                            \
	  "XEP-0114 listen addresses for home nodes")                         \
	X(COMP_ON_CONFLICT, "components", "on_conflict", CONFIG_T_ENUM,         \
	  "replace", 0, 0, 0,                                                  \
	  "replace|refuse: a second link for an attached home node")         \
	X(CLUSTER_LISTEN, "cluster", "listen", CONFIG_T_ADDRS, "", 0, 0,       \
	  CONFIG_F_RESTART, "router-to-router listen addresses")              \
	X(CLUSTER_PEERS, "cluster", "peers", CONFIG_T_LIST, "", 0, 0,          \
	  CONFIG_F_RESTART, "other nodes as name=ip:port")                     \
	X(CLUSTER_SECRET_FILE, "cluster", "secret_file", CONFIG_T_PATH, "", 0, \
	  0, CONFIG_F_SECRET | CONFIG_F_RESTART,                               \
	  "file holding the cluster secret")                                   \
	X(METRICS_LISTEN, "metrics", "listen", CONFIG_T_ADDRS,                 \
	  "127.0.0.1:9269", 0, 0, CONFIG_F_RESTART,                            \
	  "Prometheus /metrics HTTP listen addresses (empty: none)")          \
	X(FILES_POLICY, "files", "policy", CONFIG_T_PATH, "policy", 0, 0, 0,   \
	  "federation policy file")                                           \
	X(FILES_DIRECTORY, "files", "directory", CONFIG_T_PATH, "directory", 0, \
	  0, 0, "directory file (users and domains to home nodes)")          \
	X(LIM_MAX_STANZA_SIZE, "limits", "max_stanza_size", CONFIG_T_SIZE,     \
	  "512k", 10 * CONFIG_KIB, 64 * CONFIG_MIB, 0, "largest stanza accepted") \
	X(LIM_MAX_DEPTH, "limits", "max_depth", CONFIG_T_COUNT, "64", 4, 1024, \
	  0, "deepest XML nesting in a stanza")                               \
	X(LIM_MAX_ATTRS, "limits", "max_attrs", CONFIG_T_COUNT, "64", 4, 1024, \
	  0, "most attributes on one element")                                \
	X(LIM_MAX_ATTR_LEN, "limits", "max_attr_len", CONFIG_T_SIZE, "4k",     \
	  CONFIG_KIB, CONFIG_MIB, 0, "longest attribute value (decoded)")     \
	X(LIM_MAX_TEXT_LEN, "limits", "max_text_len", CONFIG_T_SIZE, "256k",   \
	  CONFIG_KIB, 64 * CONFIG_MIB, 0,                                      \
	  "most text in one element (decoded, all its pieces)")              \
	X(LIM_MAX_CONNECTIONS, "limits", "max_connections", CONFIG_T_COUNT,    \
	  "10000", 1, 1000000, 0, "S2S connections in total")                  \
	X(LIM_MAX_CONN_PER_ADDR, "limits", "max_connections_per_addr",         \
	  CONFIG_T_COUNT, "64", 1, 100000, 0,                                  \
	  "inbound S2S connections from one address")                         \
	X(LIM_MAX_STREAMS_PER_DOMAIN, "limits", "max_streams_per_domain",      \
	  CONFIG_T_COUNT, "16", 1, 100000, 0,                                  \
	  "authenticated inbound streams from one remote domain")            \
	X(LIM_IN_RATE_STANZAS, "limits", "in_rate_stanzas", CONFIG_T_COUNT,    \
	  "500", 0, 10000000, 0,                                               \
	  "stanzas per second from one remote domain (0: no limit)")         \
	X(LIM_IN_RATE_BYTES, "limits", "in_rate_bytes", CONFIG_T_SIZE, "2m",   \
	  0, 1024 * CONFIG_MIB, 0,                                             \
	  "stanza bytes per second from one remote domain (0: no limit)")    \
	X(LIM_IN_RATE_BURST, "limits", "in_rate_burst", CONFIG_T_DURATION,     \
	  "5s", 1000, 3600000, 0,                                              \
	  "burst allowed above the rates, in time at the rate")              \
	X(LIM_IN_RATE_GRACE, "limits", "in_rate_grace", CONFIG_T_DURATION,     \
	  "30s", 1000, 3600000, 0,                                             \
	  "reads paused this long, still over: policy-violation")            \
	X(LIM_QUEUE_STANZAS, "limits", "queue_max_stanzas", CONFIG_T_COUNT,    \
	  "1000", 1, 10000000, 0, "stanzas waiting for one route")             \
	X(LIM_QUEUE_BYTES, "limits", "queue_max_bytes", CONFIG_T_SIZE, "4m",   \
	  CONFIG_KIB, 1024 * CONFIG_MIB, 0, "bytes waiting for one route")     \
	X(LIM_QUEUE_TOTAL_BYTES, "limits", "queue_total_bytes", CONFIG_T_SIZE, \
	  "256m", CONFIG_KIB, 64 * 1024 * CONFIG_MIB, 0,                       \
	  "bytes waiting in all outbound routes together")                   \
	X(LIM_SEND_HIGH_WATER, "limits", "send_high_water", CONFIG_T_SIZE,    \
	  "256k", 0, 1024 * CONFIG_MIB, 0,                                     \
	  "unwritten bytes on an S2S stream or home node link that stop "     \
	  "its senders from being read (0: no back-pressure)")                \
	X(LIM_SEND_LOW_WATER, "limits", "send_low_water", CONFIG_T_SIZE, "64k", \
	  0, 1024 * CONFIG_MIB, 0,                                             \
	  "unwritten bytes down to which the senders are read again")        \
	X(LIM_SEND_STALL_TIMEOUT, "limits", "send_stall_timeout",              \
	  CONFIG_T_DURATION, "5s", 0, 3600000, 0,                              \
	  "a congested stream or link that writes nothing this long no "      \
	  "longer holds its senders back (0: never)")                         \
	X(LIM_CONNECT_TIMEOUT, "limits", "connect_timeout", CONFIG_T_DURATION, \
	  "30s", 1000, 600000, 0, "time to connect to one remote address")     \
	X(LIM_NEGOTIATION_TIMEOUT, "limits", "negotiation_timeout",            \
	  CONFIG_T_DURATION, "30s", 1000, 600000, 0,                           \
	  "time for each negotiation step of a stream")                       \
	X(LIM_DIALBACK_TIMEOUT, "limits", "dialback_timeout",                  \
	  CONFIG_T_DURATION, "30s", 1000, 600000, 0,                           \
	  "time for a dialback verification")                                 \
	X(LIM_IDLE_TIMEOUT, "limits", "idle_timeout", CONFIG_T_DURATION, "10m", \
	  10000, CONFIG_DAY_MS, 0, "close S2S streams idle this long")         \
	X(LIM_KEEPALIVE, "limits", "keepalive_interval", CONFIG_T_DURATION,    \
	  "60s", 1000, CONFIG_DAY_MS, 0, "whitespace keepalive on idle streams") \
	X(LIM_SM_ACK_EVERY, "limits", "sm_ack_every", CONFIG_T_COUNT, "20", 1, \
	  100000, 0, "XEP-0198: request an ack after this many stanzas")      \
	X(LIM_SM_ACK_INTERVAL, "limits", "sm_ack_interval", CONFIG_T_DURATION, \
	  "1s", 100, 600000, 0,                                                \
	  "XEP-0198: request an ack for stanzas unacked this long")          \
	X(LIM_SM_ACK_TIMEOUT, "limits", "sm_ack_timeout", CONFIG_T_DURATION,   \
	  "30s", 1000, 3600000, 0,                                             \
	  "XEP-0198: a peer that does not ack this long is dead")            \
	X(LIM_SM_RESUME_TIMEOUT, "limits", "sm_resume_timeout",                \
	  CONFIG_T_DURATION, "5m", 0, CONFIG_DAY_MS, 0,                        \
	  "XEP-0198: sessions are resumable this long (0: no resumption)")   \
	X(LIM_BACKOFF_MIN, "limits", "backoff_min", CONFIG_T_DURATION, "2s",   \
	  0, 3600000, 0, "first back-off after a failed route")                \
	X(LIM_BACKOFF_MAX, "limits", "backoff_max", CONFIG_T_DURATION, "5m",   \
	  0, CONFIG_DAY_MS, 0, "longest back-off after repeated failures")     \
	X(LIM_HOME_GRACE, "limits", "home_node_grace", CONFIG_T_DURATION,      \
	  "30s", 0, 3600000, 0,                                                \
	  "how long stanzas wait for a detached home node")                  \
	X(LIM_SHUTDOWN_DRAIN, "limits", "shutdown_drain", CONFIG_T_DURATION,   \
	  "10s", 0, 600000, 0, "time to drain queues on shutdown")

#endif
