"""Test certificates made at run time with certtool (gnutls-bin): one CA, a
certificate per XMPP domain signed by it (SAN: the DNS name; XmppAddr on request), and a
self-signed variant per domain that no peer trusts (scenario 2)."""
import os

from . import procs


class CA:
    """`xmpp_addr`: also put an XmppAddr SAN (id-on-xmppAddr = the domain) in
    leaf certificates. Off by default: ejabberd 23.01 crashes its S2S process
    on a peer certificate holding one (see README, "ejabberd quirks")."""

    def __init__(self, workdir, xmpp_addr=False):
        self.xmpp_addr = xmpp_addr
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.key = self._path("ca.key")
        self.cert = self._path("ca.crt")
        self._genkey(self.key)
        tmpl = self._template("ca", ['cn = "s2sd interop test CA"', "ca",
                                     "cert_signing_key", "crl_signing_key"])
        procs.run(["certtool", "--generate-self-signed", "--load-privkey",
                   self.key, "--template", tmpl, "--outfile", self.cert])

    def _path(self, name):
        return os.path.join(self.dir, name)

    @staticmethod
    def _genkey(path):
        procs.run(["certtool", "--generate-privkey", "--key-type", "ecdsa",
                   "--curve", "secp256r1", "--outfile", path])
        os.chmod(path, 0o600)

    def _template(self, name, lines):
        path = self._path(name + ".tmpl")
        with open(path, "w") as f:
            f.write("\n".join(lines + ["expiration_days = 2"]) + "\n")
        return path

    def _leaf_lines(self, domain):
        lines = ['cn = "%s"' % domain, 'dns_name = "%s"' % domain,
                 "tls_www_server", "tls_www_client", "signing_key"]
        if self.xmpp_addr:
            lines.append('xmpp_name = "%s"' % domain)
        return lines

    def issue(self, domain):
        """A certificate for `domain` signed by the CA: (cert, key) paths."""
        key, cert = self._path(domain + ".key"), self._path(domain + ".crt")
        if not os.path.exists(cert):
            self._genkey(key)
            tmpl = self._template(domain, self._leaf_lines(domain))
            procs.run(["certtool", "--generate-certificate", "--load-privkey", key,
                       "--load-ca-certificate", self.cert, "--load-ca-privkey",
                       self.key, "--template", tmpl, "--outfile", cert])
        return cert, key

    def self_signed(self, domain):
        """A self-signed certificate for `domain` that chains to nothing the
        peers trust (the right names, the wrong issuer): (cert, key)."""
        key = self._path(domain + ".untrusted.key")
        cert = self._path(domain + ".untrusted.crt")
        if not os.path.exists(cert):
            self._genkey(key)
            tmpl = self._template(domain + ".untrusted", self._leaf_lines(domain))
            procs.run(["certtool", "--generate-self-signed", "--load-privkey",
                       key, "--template", tmpl, "--outfile", cert])
        return cert, key

    def pair(self, domain, trusted):
        return self.issue(domain) if trusted else self.self_signed(domain)
