"""Prosody 0.12 (Debian 12) as a federated peer, with its config, data and
log in the harness's temporary directory; run as root in the foreground."""
import os
import re
import secrets
import time

from . import procs
from .server import Server, Stream
from .xmpp import C2SUser, HomeNode

COMPONENT_PORT = 5347

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
-- XEP-0198 on S2S (scenario 7): Prosody 0.12 offers <sm/> on s2sin and
-- answers <r/>; on s2sout it enables it when the features after
-- authentication offer it (SASL EXTERNAL: tls-valid mode). It resumes c2s
-- sessions only: <enabled resume='true'/> on S2S comes without an id.
smacks_enabled_s2s = true
-- lua-unbound treats .test as a local zone unless told otherwise
unbound = {{ options = {{ ["local-zone:"] = "test. transparent" }} }}
ssl = {{ certificate = "{cert}", key = "{key}", cafile = "{ca}" }}

component_ports = {{ {cport} }}
component_interfaces = {{ "{ip4}" }}

VirtualHost "{domain}"
    ssl = {{ certificate = "{cert}", key = "{key}", cafile = "{ca}" }}

-- a home node (XEP-0114) validating the harness's HomeNode against a real
-- server, exactly as it will attach to s2sd
Component "{hdomain}"
    component_secret = "{hsecret}"
    ssl = {{ certificate = "{hcert}", key = "{hkey}", cafile = "{ca}" }}

-- always presents a certificate nobody trusts: scenario 0 checks that the
-- harness recognises a peer's deliberate refusal
Component "{bdomain}"
    component_secret = "{hsecret}"
    ssl = {{ certificate = "{bcert}", key = "{bkey}", cafile = "{ca}" }}
"""

# Prosody's file log: "Nov 22 16:02:03 source<TAB>level<TAB>message"
LINE = re.compile(r"^\w{3} +\d+ [\d:]{8} (\S+)\s+(\w+)\s+(.*)$")


class Prosody(Server):
    kind = "prosody"
    # Seen in scenario 5 (README): a stanza that reaches Prosody after its
    # SIGTERM, before it closed the stream, is neither delivered nor bounced
    # (its log never mentions the id); a stanza it routes to an s2sout
    # session whose peer is closing is logged as "Sending[s2sout]" but never
    # reaches the wire, and is not bounced.
    known_losses = {"restart-loss", "sender-loss"}

    def __init__(self, ctx, domain, n):
        super().__init__(ctx, domain, n)
        self.conf = os.path.join(self.dir, "prosody.cfg.lua")
        self.log = procs.LogFile(os.path.join(ctx.logdir, "prosody.log"))
        self.logs = [self.log]
        self.registered = set()
        self.wanted = set()
        self.home_secret = secrets.token_hex(16)
        # mod_s2s_bidi (XEP-0288): scenario 8 only, the others expect one
        # stream per direction
        self.bidi = False
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)

    @property
    def home_domain(self):
        return "home." + self.domain

    @property
    def bad_domain(self):
        return "untrusted." + self.domain

    def configure(self, mode):
        cert, key = self.ctx.ca.pair(self.domain, mode.valid_certs)
        hcert, hkey = self.ctx.ca.pair(self.home_domain, mode.valid_certs)
        bcert, bkey = self.ctx.ca.self_signed(self.bad_domain)
        modules = ["roster", "saslauth", "disco", "ping", "admin_shell",
                   "admin_socket", "smacks"]
        if mode.tls:
            modules.append("tls")
        if not mode.valid_certs:    # TLS-valid mode: SASL EXTERNAL or nothing
            modules.append("dialback")
        if self.bidi:               # XEP-0288, scenario 8 only
            modules.append("s2s_bidi")
        with open(self.conf, "w") as f:
            f.write(CONFIG.format(
                mode=mode.key, dir=self.dir, log=self.log.path, ip4=self.ip4,
                ip6=self.ip6, domain=self.domain, cert=cert, key=key,
                ca=self.ctx.ca.cert, cport=COMPONENT_PORT,
                hdomain=self.home_domain, hsecret=self.home_secret, hcert=hcert,
                hkey=hkey, bdomain=self.bad_domain, bcert=bcert, bkey=bkey,
                modules=", ".join('"%s"' % m for m in modules),
                require_encryption=str(mode.tls).lower(),
                secure_auth=str(mode.valid_certs).lower()))

    def _start(self):
        for name in sorted(self.wanted | set(self.users)):
            self._register(name)
        self.started_mono = time.monotonic()
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

    def streams(self, peer, local=None):
        """Streams with `peer` completed since the mark. Prosody logs per
        session (source = session id): "Stream encrypted (TLSv1.3 with ...)",
        "Outgoing|Incoming s2s connection A->B complete"; the mechanism comes
        from "SASL EXTERNAL with PEER succeeded" (out), "Accepting SASL
        EXTERNAL identity from PEER" (in), "sent dialback key" (out) and
        "asking PEER if key ... belongs to them" (in)."""
        local = local or self.domain
        by_session, ext_in, ext_out, out = {}, False, False, []
        for src, _lvl, msg, raw in self._lines():
            if ":" in src and not src.startswith(local + ":"):
                continue            # another host's module
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
                mine = m.group(2) if d == "out" else m.group(3)
                if other != peer or mine != local:
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

    refusal_patterns = {
        "untrusted-cert": r"Forbidding insecure connection to/from %(peer)s "
                          r"because its certificate",
        "tls-required": r"Encrypted server-to-server communication is required",
        "no-dialback": r"No SASL EXTERNAL offer and Dialback",
    }


class ProsodyHome(Server):
    """Users of Prosody's component domain home.DOMAIN, held by a HomeNode
    attached to Prosody's component port: the same code that plays s2sd's
    home node, checked here against a real XEP-0114 server. Runs inside the
    Prosody process: start/stop only attach/leave."""
    kind = "prosody-home"
    wire_label = "prosody"

    def __init__(self, ctx, prosody):
        self.ctx, self.prosody = ctx, prosody
        self.domain, self.n = prosody.home_domain, prosody.n
        self.ip4, self.ip6 = prosody.ip4, prosody.ip6
        self.mode, self.users, self.logs = None, {}, prosody.logs
        self.home = HomeNode(ctx.loop, self.domain, prosody.home_secret,
                             (prosody.ip4, COMPONENT_PORT), self.domain,
                             "prosody-home")

    @property
    def proc(self):
        return self.prosody.proc

    def configure(self, mode):
        pass

    def start(self, mode):
        self.mode = mode
        if self.home._task is None:
            self.home.start()
        # attached to this Prosody process: after a restart the event may
        # still be set until the old link's loss is noticed
        since = getattr(self.prosody, "started_mono", 0.0)
        if not self.home.wait_attached_since(since, 10):
            raise RuntimeError("home node could not attach to Prosody's component "
                               "port: %s" % self.home.last_problem())

    def stop(self):
        return None

    def resume(self):
        self.start(self.mode)

    def shutdown(self):
        self.home.stop()

    def running(self):
        return self.prosody.running() and self.home.attached.is_set()

    def user(self, name):
        if name not in self.users:
            self.users[name] = self.home.user(name)
        return self.users[name]

    def streams(self, peer):
        return self.prosody.streams(peer, local=self.domain)

    def refusals(self, peer):
        return self.prosody.refusals(peer)
