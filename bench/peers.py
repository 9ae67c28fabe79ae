"""The servers `make bench` measures, built on the interop harness
(tests/interop/harness): its namespace, DNS, CA, process handling and each
server's configuration for the TLS-valid mode (STARTTLS required, CA-signed
certificates, SASL EXTERNAL, no dialback). What the benchmark changes:

- two instances of one kind run side by side (X = x.test, Y = y.test), so
  each gets its own directory, logs and (ejabberd) Erlang node and port;
- logging at warning level (debug logging per stanza would be measured);
- every server has a XEP-0114 component port with a component the load tool
  attaches to (s2sd: home node `home1`, routed the whole IM domain;
  Prosody and ejabberd: the component `home.DOMAIN`);
- connection limits sized for 10,000 inbound streams.

Prosody's mod_limits (the inbound S2S rate limit, ~135 stanzas/s by
default) is not loaded at all in the harness's configuration; ejabberd's
listeners have no shaper (none is configured). Both peers therefore run with
their limits raised (removed), which the table says.

Each server reports `pid`, its component address, the name and secret the
tool attaches with, and `stanza_domain` (the domain the component's JIDs
are in)."""
import os
import shutil

from harness import modes, procs
from harness.ejabberd import Ejabberd
from harness.prosody import Prosody
from harness.s2sd import S2sd, HOME, COMPONENT_PORT as S2SD_CPORT
from harness.prosody import COMPONENT_PORT as PROSODY_CPORT

MODE = modes.TLS_VALID
EJABBERD_CPORT = 5347

# s2sd settings for the benchmark: appended to the harness's [limits]. Like
# the peers' rate limits, s2sd's per-domain inbound rate limit (500
# stanzas/s by default) is lifted: the relay measures the server, not it.
S2SD_LIMITS = """max_connections = 30000
max_connections_per_addr = 2000
in_rate_stanzas = 0
in_rate_bytes = 0
"""


def _patch(text, old, new, what):
    """Replace OLD by NEW in a harness-written config; loud when the harness
    changed under us (the benchmark would otherwise measure something else)."""
    if old not in text:
        raise RuntimeError("bench: cannot adapt the harness's %s config: %r "
                           "not found" % (what, old))
    return text.replace(old, new, 1)


def _rewrite(path, edits, what):
    with open(path) as f:
        text = f.read()
    for old, new in edits:
        text = _patch(text, old, new, what)
    with open(path, "w") as f:
        f.write(text)


class BenchS2sd(S2sd):
    label = "s2sd"

    def __init__(self, ctx, domain, n, tag):
        self.kind = "s2sd-" + tag
        super().__init__(ctx, domain, n)
        self.log = procs.LogFile(os.path.join(ctx.logdir, self.kind + ".log"))
        self.logs = [self.log]
        self.comp_name, self.comp_secret = HOME, self.home_secret
        self.comp_addr = "%s:%d" % (self.ip4, S2SD_CPORT)
        self.stanza_domain = domain

    def configure(self, mode):
        super().configure(mode)
        level = os.environ.get("BENCH_S2SD_LOG", "warn")
        _rewrite(self.conf, [("level = debug", "level = " + level),
                             ("shutdown_drain = 5s\n",
                              "shutdown_drain = 5s\n" + S2SD_LIMITS)], "s2sd")
        cp = procs.run([self.binary, "-n", "-c", self.conf], check=False)
        if cp.returncode != 0:
            raise RuntimeError("s2sd -n refuses the bench config:\n%s%s"
                               % (cp.stdout, cp.stderr))

    def start(self, mode=MODE):
        # the harness's slixmpp home node stays away: the load tool attaches
        self.mode = mode
        self.configure(mode)
        self._start()

    def shutdown(self):
        return self.stop()


class BenchProsody(Prosody):
    label = "prosody"

    def __init__(self, ctx, domain, n, tag):
        self.kind = "prosody-" + tag
        super().__init__(ctx, domain, n)
        self.log = procs.LogFile(os.path.join(ctx.logdir, self.kind + ".log"))
        self.logs = [self.log]
        self.comp_name, self.comp_secret = self.home_domain, self.home_secret
        self.comp_addr = "%s:%d" % (self.ip4, PROSODY_CPORT)
        self.stanza_domain = self.home_domain

    def configure(self, mode):
        super().configure(mode)
        _rewrite(self.conf, [('levels = { min = "debug" }',
                              'levels = { min = "warn" }')], "prosody")

    def _start(self):
        self.proc = procs.Proc(self.kind, ["prosody", "--config", self.conf,
                                           "-F"],
                               os.path.join(self.ctx.logdir, self.kind + ".out"),
                               netns=self.ctx.net.name).start()
        self.wait_ports([(self.ip4, 5269), (self.ip4, PROSODY_CPORT)], 20,
                        "s2s/component")

    def start(self, mode=MODE):
        super().start(mode)


EJABBERD_SERVICE = """  - port: {port}
    ip: "{ip4}"
    module: ejabberd_service
    hosts:
      "{comp}":
        password: "{secret}"
"""


class BenchEjabberd(Ejabberd):
    label = "ejabberd"

    def __init__(self, ctx, domain, n, tag, dist_port):
        self.kind = "ejabberd-" + tag
        super().__init__(ctx, domain, n)
        self.node = "%s@localhost" % self.kind
        self.dist_port = str(dist_port)
        self.logdir = os.path.join(ctx.logdir, self.kind)
        os.makedirs(self.logdir, exist_ok=True)
        os.chown(self.logdir, self.uid, self.gid)
        self.log = procs.LogFile(os.path.join(self.logdir, "ejabberd.log"))
        self.logs = [self.log]
        self.comp_name = "home." + domain
        self.comp_secret = self.cookie[:16]
        self.comp_addr = "%s:%d" % (self.ip4, EJABBERD_CPORT)
        self.stanza_domain = self.comp_name

    def configure(self, mode):
        super().configure(mode)
        ccert, ckey = self.ctx.ca.pair(self.comp_name, mode.valid_certs)
        service = EJABBERD_SERVICE.format(port=EJABBERD_CPORT, ip4=self.ip4,
                                          comp=self.comp_name,
                                          secret=self.comp_secret)
        _rewrite(self.conf, [
            ("loglevel: debug", "loglevel: warning"),
            ("certfiles:\n", 'certfiles:\n  - "%s"\n  - "%s"\n' % (
                self._own_copy(ccert, "comp-cert.pem"),
                self._own_copy(ckey, "comp-key.pem"))),
            ("listen:\n", "listen:\n" + service)], "ejabberd")
        # its accept queue (backlog) is small by default: with 100
        # handshakes in flight, connections wait in SYN retransmission
        with open(self.conf) as f:
            text = f.read()
        text = text.replace("    module: ejabberd_s2s_in\n",
                            "    module: ejabberd_s2s_in\n    backlog: 1024\n")
        with open(self.conf, "w") as f:
            f.write(text)

    def _erl(self, *args):
        argv = super()._erl(*args)
        return [self.dist_port if a == "5210" else a for a in argv]

    def _start(self):
        argv = self._erl("-sname", self.node, "-noinput", "+K", "true",
                         "-mnesia", "dir", '"%s"' % self.spool, "-s", "ejabberd")
        self.proc = procs.Proc(self.kind, argv,
                               os.path.join(self.logdir, "ejabberd.out"),
                               netns=self.ctx.net.name, env=self._env(),
                               cwd=self.spool).start()
        self.wait_ports([(self.ip4, 5269), (self.ip4, EJABBERD_CPORT)], 40,
                        "s2s/component")

    def start(self, mode=MODE):
        super().start(mode)

    def stop(self):
        rc = super().stop()
        # a fresh Mnesia spool per start: nothing carried between runs
        shutil.rmtree(self.spool, ignore_errors=True)
        os.makedirs(self.spool, exist_ok=True)
        os.chown(self.spool, self.uid, self.gid)
        return rc


KINDS = {"s2sd": BenchS2sd, "prosody": BenchProsody, "ejabberd": BenchEjabberd}


def make(kind, ctx, domain, n, tag):
    if kind == "ejabberd":
        return BenchEjabberd(ctx, domain, n, tag, 5210 + n)
    return KINDS[kind](ctx, domain, n, tag)
