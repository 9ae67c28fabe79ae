"""s2sd as the organisation's federation node for `cm.test`, with a slixmpp
home node (XEP-0114) holding the local users.

The harness writes, per security mode, into its temporary directory:
  s2sd.conf   [domains] im = cm.test; listen on 127.0.0.N and ULA::N; the
              security mode; certificate (valid or untrusted); trust_dir with
              the test CA; dialback secret file (not in tls-valid mode: there
              SASL EXTERNAL is the only way); the test DNS as resolver;
              a component listener and one [home home1] with a secret file
  policy      "default allow" (scenario 4 writes deny rules and sends SIGHUP)
  directory   "cm.test home1"
and runs `BUILD/s2sd -f -c s2sd.conf` in the namespace, logging to stderr
(kept in logs/s2sd.log). What the harness reads back from the log is
documented in README.md ("How s2sd plugs in")."""
import json
import os
import re
import secrets
import signal

from . import procs
from .server import Server, Stream
from .xmpp import HomeNode

HOME = "home1"
COMPONENT_PORT = 5347

CONFIG = """; written by the s2sd interop harness; mode {mode}
[general]
node_name = interop
; the harness runs as root in its own network namespace: keep root explicitly
user = root
state_dir = {dir}/state
control_socket = {dir}/control.sock

[log]
level = debug

[domains]
im = {domain}

[federation]
enabled = yes
listen = {ip4}:5269 [{ip6}]:5269
security = {security}
require_valid_certs = {valid}
sasl_external_in = yes
sasl_external_out = yes
; XEP-0288 (scenario 8c turns it off)
bidi = {bidi}
{dialback}
[tls]
cert_files = {cert}
key_files = {key}
trust_dir = {trust}

[dns]
servers = 127.0.0.1:53
timeout = 2s
tries = 1

[components]
listen = {ip4}:{cport}

[metrics]
listen = {ip4}:9269

[home {home}]
secret_file = {dir}/{home}.secret

[files]
policy = {dir}/policy
directory = {dir}/directory

[limits]
connect_timeout = 5s
negotiation_timeout = 10s
dialback_timeout = 10s
backoff_min = 1s
backoff_max = 5s
home_node_grace = 5s
shutdown_drain = 5s
"""

# The line s2sd is asked to log when a stream (or a domain pair on it) is
# ready for stanzas, e.g.
#   ... info  s2s    00000000000000a3 stream ready dir=out local=cm.test
#       remote=prosody.test auth=external tls=TLS1.3 addr=[127.0.0.2]:5269
READY = re.compile(r"\bready\b.*\bdir=(in|out)\b")
KV = re.compile(r"(\w+)=(\S+)")


def _secret_file(path):
    with open(path, "w") as f:
        f.write(secrets.token_hex(24) + "\n")
    os.chmod(path, 0o600)


class S2sd(Server):
    kind = "s2sd"
    supports_policy = True

    def __init__(self, ctx, domain, n):
        super().__init__(ctx, domain, n)
        self.binary = os.path.join(ctx.build, "s2sd")
        self.conf = os.path.join(self.dir, "s2sd.conf")
        self.trust = os.path.join(self.dir, "trust")
        os.makedirs(self.trust, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.log = procs.LogFile(os.path.join(ctx.logdir, "s2sd.log"))
        self.logs = [self.log]
        self.bidi = True            # [federation] bidi (scenario 8)
        _secret_file(os.path.join(self.dir, HOME + ".secret"))
        _secret_file(os.path.join(self.dir, "dialback.secret"))
        with open(os.path.join(self.dir, HOME + ".secret")) as f:
            self.home_secret = f.read().strip()
        with open(os.path.join(self.dir, "directory"), "w") as f:
            f.write("# written by the s2sd interop harness\n%s %s\n"
                    % (domain, HOME))
        self.write_policy([])
        jid = os.environ.get("S2SD_HOME_JID", HOME)
        self.home = HomeNode(ctx.loop, jid, self.home_secret,
                             (self.ip4, COMPONENT_PORT), domain, "s2sd-home")

    def configure(self, mode):
        cert, key = self.ctx.ca.pair(self.domain, mode.valid_certs)
        ca_copy = os.path.join(self.trust, "interop-ca.pem")
        with open(self.ctx.ca.cert) as src, open(ca_copy, "w") as dst:
            dst.write(src.read())
        dialback = "" if mode.valid_certs else \
            "dialback_secret_file = %s/dialback.secret\n" % self.dir
        with open(self.conf, "w") as f:
            f.write(CONFIG.format(
                mode=mode.key, dir=self.dir, domain=self.domain, ip4=self.ip4,
                ip6=self.ip6, cport=COMPONENT_PORT, home=HOME,
                security="required" if mode.tls else "none",
                valid="yes" if mode.valid_certs else "no", dialback=dialback,
                cert=cert, key=key, trust=self.trust,
                bidi="yes" if self.bidi else "no"))
        cp = procs.run([self.binary, "-n", "-c", self.conf], check=False)
        if cp.returncode != 0:
            raise RuntimeError("s2sd refuses the harness's config for mode %s "
                               "(s2sd -n exit %d):\n%s%s" % (
                                   mode.key, cp.returncode, cp.stdout, cp.stderr))

    def _start(self):
        self.proc = procs.Proc("s2sd", [self.binary, "-f", "-c", self.conf],
                               self.log.path, netns=self.ctx.net.name).start()
        self.wait_ports([(self.ip4, 5269), (self.ip6, 5269)], 10, "s2s")

    def start(self, mode):
        super().start(mode)
        if self.home._task is None:
            self.home.start()
        if not self.home.wait_attached(5):
            # not fatal: the peers' side of every scenario still runs and
            # shows what s2sd does; sending from a local user fails loudly
            print("  WARNING: home node %s could not attach to s2sd's component "
                  "port %s:%d as %s: %s" % (HOME, self.ip4, COMPONENT_PORT,
                                           self.home.component_jid,
                                           self.home.last_problem()), flush=True)

    def shutdown(self):
        self.home.stop()
        return self.stop()

    def user(self, name):
        if name not in self.users:
            self.users[name] = self.home.user(name)
        return self.users[name]

    # home users have no connection of their own: the node reattaches itself
    def resume(self):
        self._start()
        if not self.home.wait_attached(10):
            raise RuntimeError("home node did not reattach within 10s after the "
                               "restart: %s" % self.home.last_problem())

    # -- policy (scenario 4) --
    def write_policy(self, rules):
        with open(os.path.join(self.dir, "policy"), "w") as f:
            f.write("# written by the s2sd interop harness\ndefault allow\n")
            for r in rules:
                f.write(r + "\n")

    def reload(self):
        start = self.log.size()         # not mark(): the scenario's mark stays
        self.proc.signal(signal.SIGHUP)

        def done():
            text = self.log.read(start)
            if "reload failed" in text:
                raise RuntimeError("s2sd refused the reload:\n" + text)
            return "reload done" in text
        if not procs.wait_until(done, 5):
            raise RuntimeError("s2sd did not log 'reload done' within 5s")

    def set_policy(self, peer, direction):
        self.write_policy(["deny %s %s" % (peer, direction)])
        self.reload()

    def clear_policy(self):
        self.write_policy([])
        if self.running():
            self.reload()

    # -- what s2sd reports --
    def ctl_streams(self):
        """`s2sctl --json streams`: one dict per stream (dir, remote, bidi,
        in, out, ...)."""
        cp = procs.run([os.path.join(self.ctx.build, "s2sctl"), "-c", self.conf,
                        "-s", os.path.join(self.dir, "control.sock"), "--json",
                        "streams"], check=False)
        if cp.returncode != 0:
            raise RuntimeError("s2sctl streams failed (exit %d): %s%s" % (
                cp.returncode, cp.stdout, cp.stderr))
        data = json.loads(cp.stdout)
        return data if isinstance(data, list) else data.get("records", [])

    def streams(self, peer):
        out = []
        for raw in self.since_mark().splitlines():
            if not READY.search(raw):
                continue
            kv = dict(KV.findall(raw))
            if kv.get("remote") == peer:
                out.append(Stream(kv["dir"], peer, kv.get("auth", "?").lower(),
                                  kv.get("tls", "?"), [raw]))
        return out

    def refusals(self, peer):
        """s2sd's own log is about federation only: every warning or error,
        and every line naming the peer or saying it refused something."""
        return [l for l in self.since_mark().splitlines()
                if re.search(r"\b(warn|error)\b", l) or peer.domain in l or
                re.search(r"refus|deny|denied|bounce|fail", l)]

    def users_ready(self):
        return self.home.attached.is_set()
