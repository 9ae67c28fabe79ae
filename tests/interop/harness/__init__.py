"""Interop harness for s2sd: real Prosody and ejabberd peers, dnsmasq, a test
CA and slixmpp users in a private network namespace (see ../README.md)."""
