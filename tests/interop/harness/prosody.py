"""Prosody 0.12 (Debian 12) as a federated peer, with its config, data and
log in the harness's temporary directory; run as root in the foreground."""
import os
import re

from . import procs
from .server import Server, Stream
from .xmpp import C2SUser

CONFIG = """-- written by the s2sd interop harness; mode {mode}
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{log}" }} }}
interfaces = {{ "{ip4}", "{ip6}" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
admin_socket = "{dir}/admin.sock"
modules_enabled = {{ {modules} }}
authentication = "internal_plain"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = {require_encryption}
s2s_secure_auth = {secure_auth}
-- lua-unbound treats .test as a local zone unless told otherwise
unbound = {{ options = {{ ["local-zone:"] = "test. transparent" }} }}
ssl = {{ certificate = "{cert}", key = "{key}", cafile = "{ca}" }}

VirtualHost "{domain}"
    ssl = {{ certificate = "{cert}", key = "{key}", cafile = "{ca}" }}
"""

# Prosody's file log: "Nov 22 16:02:03 source<TAB>level<TAB>message"
LINE = re.compile(r"^\w{3} +\d+ [\d:]{8} (\S+)\s+(\w+)\s+(.*)$")


class Prosody(Server):
    kind = "prosody"

    def __init__(self, ctx, domain, n):
        super().__init__(ctx, domain, n)
        self.conf = os.path.join(self.dir, "prosody.cfg.lua")
        self.log = procs.LogFile(os.path.join(ctx.logdir, "prosody.log"))
        self.logs = [self.log]
        self.registered = set()
        self.wanted = set()
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)

    def configure(self, mode):
        cert, key = self.ctx.ca.pair(self.domain, mode.valid_certs)
        modules = ["roster", "saslauth", "dialback", "disco", "ping",
                   "admin_shell", "admin_socket"]
        if mode.tls:
            modules.append("tls")
        with open(self.conf, "w") as f:
            f.write(CONFIG.format(
                mode=mode.key, dir=self.dir, log=self.log.path, ip4=self.ip4,
                ip6=self.ip6, domain=self.domain, cert=cert, key=key,
                ca=self.ctx.ca.cert,
                modules=", ".join('"%s"' % m for m in modules),
                require_encryption=str(mode.tls).lower(),
                secure_auth=str(mode.valid_certs).lower()))

    def _start(self):
        for name in sorted(self.wanted | set(self.users)):
            self._register(name)
        self.proc = procs.Proc("prosody", ["prosody", "--config", self.conf, "-F"],
                               os.path.join(self.ctx.logdir, "prosody.out"),
                               netns=self.ctx.net.name).start()
        self.wait_ports([(self.ip4, 5222), (self.ip4, 5269), (self.ip6, 5269)],
                        20, "c2s/s2s")

    def prepare(self, names):
        self.wanted.update(names)

    def _register(self, name):
        if name not in self.registered:
            procs.run(["prosodyctl", "--config", self.conf, "register",
                       name, self.domain, self.password_prefix + name])
            self.registered.add(name)

    def user(self, name):
        u = self.users.get(name)
        if u is not None and self.running() and not u.connected():
            u.connect()
        if name not in self.users:
            pw = self.password_prefix + name
            self._register(name)
            u = C2SUser(self.ctx.loop, self.jid(name), pw, (self.ip4, 5222),
                        "%s:%s" % (self.kind, name))
            self.users[name] = u
            if self.running():
                u.connect()
        return self.users[name]

    # -- what the log says about S2S streams --
    def _lines(self):
        for raw in self.since_mark().splitlines():
            m = LINE.match(raw)
            if m:
                yield m.group(1), m.group(2), m.group(3), raw

    def streams(self, peer):
        """Streams with `peer` completed since the mark. Prosody logs per
        session (source = session id): "Stream encrypted (TLSv1.3 with ...)",
        "Outgoing|Incoming s2s connection A->B complete"; the mechanism comes
        from "SASL EXTERNAL with PEER succeeded" (out), "Accepting SASL
        EXTERNAL identity from PEER" (in), "sent dialback key" (out) and
        "asking PEER if key ... belongs to them" (in)."""
        by_session, ext_in, ext_out, out = {}, False, False, []
        for src, _lvl, msg, raw in self._lines():
            s = by_session.setdefault(src, {"tls": "none", "auth": None,
                                            "lines": []})
            m = re.match(r"Stream encrypted \((\S+) with", msg)
            if m:
                s["tls"] = m.group(1).replace("TLSv", "TLS")
                s["lines"].append(raw)
            if msg.startswith("sent dialback key") or \
                    msg.startswith("asking %s if key" % peer):
                s["auth"] = "dialback"
                s["lines"].append(raw)
            if msg == "SASL EXTERNAL with %s succeeded" % peer:
                ext_out = raw
            if msg == "Accepting SASL EXTERNAL identity from %s" % peer:
                ext_in = raw
            m = re.match(r"(Outgoing|Incoming) s2s connection (\S+)->(\S+) complete",
                         msg)
            if m:
                d = "out" if m.group(1) == "Outgoing" else "in"
                other = m.group(3) if d == "out" else m.group(2)
                if other != peer:
                    continue
                ext = ext_out if d == "out" else ext_in
                auth = s["auth"] or ("external" if ext else "?")
                lines = s["lines"] + ([ext] if ext and not s["auth"] else []) + [raw]
                out.append(Stream(d, peer, auth, s["tls"], lines))
        return out

    def refusals(self, peer):
        d = peer.domain
        return [raw for _src, lvl, msg, raw in self._lines()
                if d in msg and (lvl in ("warn", "error") or re.search(
                    r"closed|failed|error|[Ff]orbid", msg))]

    # Prosody refusing on purpose (its s2s security settings)
    refusal_patterns = [r"Forbidding insecure connection",
                        r"Encrypted server-to-server communication is required",
                        r"No SASL EXTERNAL offer and Dialback"]
