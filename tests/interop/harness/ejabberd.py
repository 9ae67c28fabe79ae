"""ejabberd 23.01 (Debian 12) as a federated peer.

Started without ejabberdctl (which keeps a `su` between us and the VM): the
Erlang VM is exec'd as the ejabberd user with `setpriv`, so the PID we hold
is beam.smp itself and SIGTERM stops it cleanly. Distribution on a fixed port
without epmd; a private cookie; config, spool, certificates and logs in the
harness's temporary directory, owned by the ejabberd user."""
import glob
import os
import pwd
import re
import secrets
import shutil

from . import procs
from .server import Server, Stream
from .xmpp import C2SUser

NODE = "ejabberd@localhost"
DIST_PORT = "5210"
LIBS = "/usr/lib/x86_64-linux-gnu"

CONFIG = """# written by the s2sd interop harness; mode {mode}
hosts: ["{domain}"]
loglevel: debug
hide_sensitive_log_data: false
acme:
  auto: false
certfiles:
  - "{cert}"
  - "{key}"
ca_file: "{ca}"
s2s_use_starttls: {starttls}
s2s_dns_timeout: 2
s2s_dns_retries: 1
# connect from our own address, so the harness's capture can tell who connected
outgoing_s2s_ipv4_address: "{ip4}"
outgoing_s2s_ipv6_address: "{ip6}"
auth_method: internal
auth_password_format: plain
listen:
  - port: 5222
    ip: "{ip4}"
    module: ejabberd_c2s
    starttls: false
  - port: 5269
    ip: "{ip4}"
    module: ejabberd_s2s_in
  - port: 5269
    ip: "{ip6}"
    module: ejabberd_s2s_in
modules:
  mod_roster: {{}}
  mod_offline: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
{dialback}"""


def _uid_gid():
    pw = pwd.getpwnam("ejabberd")
    return pw.pw_uid, pw.pw_gid


class Ejabberd(Server):
    kind = "ejabberd"
    binds_source = True         # outgoing S2S from its own addresses
    # Seen in scenario 5 (README): a stanza routed to the ejabberd_s2s_out
    # process that is handling the peer's <system-shutdown/> is dropped
    # without a bounce; stanzas that reach ejabberd after its SIGTERM are
    # dropped too.
    known_losses = {"sender-loss", "restart-loss"}

    def __init__(self, ctx, domain, n):
        super().__init__(ctx, domain, n)
        self.uid, self.gid = _uid_gid()
        self.spool = os.path.join(self.dir, "spool")
        self.logdir = os.path.join(ctx.logdir, "ejabberd")
        for d in (self.spool, self.logdir):
            os.makedirs(d, exist_ok=True)
        for d in (self.dir, self.spool, self.logdir):
            os.chown(d, self.uid, self.gid)
        self.conf = os.path.join(self.dir, "ejabberd.yml")
        self.inetrc = os.path.join(self.dir, "inetrc")
        with open(self.inetrc, "w") as f:
            # resolve through the namespace's resolv.conf (the test DNS)
            f.write('{file, resolv, "/etc/resolv.conf"}.\n'
                    '{file, hosts, "/etc/hosts"}.\n{lookup, [file, dns]}.\n')
        self.cookie = secrets.token_hex(16)
        self.log = procs.LogFile(os.path.join(self.logdir, "ejabberd.log"))
        self.logs = [self.log]
        self.registered = set()
        self.wanted = set()

    def prepare(self, names):
        self.wanted.update(names)

    def _own_copy(self, src, name):
        dst = os.path.join(self.dir, name)
        shutil.copyfile(src, dst)
        os.chown(dst, self.uid, self.gid)
        os.chmod(dst, 0o600)
        return dst

    def configure(self, mode):
        cert, key = self.ctx.ca.pair(self.domain, mode.valid_certs)
        # TLS-valid mode: no dialback at all, so SASL EXTERNAL must work.
        dialback = "" if mode.valid_certs else "  mod_s2s_dialback: {}\n"
        with open(self.conf, "w") as f:
            f.write(CONFIG.format(
                mode=mode.key, domain=self.domain, ip4=self.ip4, ip6=self.ip6,
                cert=self._own_copy(cert, "cert.pem"),
                key=self._own_copy(key, "key.pem"), ca=self.ctx.ca.cert,
                starttls="required" if mode.tls else "false",
                dialback=dialback))

    def _erl(self, *args):
        return ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid),
                "--init-groups", "erl", "-setcookie", self.cookie,
                "-erl_epmd_port", DIST_PORT, "-start_epmd", "false"] + list(args)

    def _env(self):
        return {"EJABBERD_CONFIG_PATH": self.conf,
                "EJABBERD_LOG_PATH": self.log.path,
                "ERL_INETRC": self.inetrc, "ERL_LIBS": LIBS,
                "ERL_CRASH_DUMP": os.path.join(self.logdir, "erl_crash.dump"),
                "ERL_CRASH_DUMP_BYTES": "0", "HOME": self.spool}

    def _start(self):
        argv = self._erl("-sname", NODE, "-noinput", "+K", "true",
                         "-mnesia", "dir", '"%s"' % self.spool, "-s", "ejabberd")
        self.proc = procs.Proc("ejabberd", argv,
                               os.path.join(self.logdir, "ejabberd.out"),
                               netns=self.ctx.net.name, env=self._env(),
                               cwd=self.spool).start()
        self.wait_ports([(self.ip4, 5222), (self.ip4, 5269), (self.ip6, 5269)],
                        40, "c2s/s2s")
        self._register(sorted((self.wanted | set(self.users)) - self.registered))

    def _register(self, names):
        """All users in one Erlang call (each ejabberdctl call costs a VM)."""
        if not names:
            return
        pairs = ",".join('{<<"%s">>,<<"%s">>}' % (n, self.password_prefix + n)
                         for n in names)
        expr = ('R = [rpc:call(\'%s\', ejabberd_auth, try_register, '
                '[U, <<"%s">>, P]) || {U, P} <- [%s]], io:format("~p~n", [R]), '
                'halt().' % (NODE, self.domain, pairs))
        argv = ["erl", "-setcookie", self.cookie, "-erl_epmd_port", DIST_PORT,
                "-start_epmd", "false", "-dist_listen", "false", "-hidden",
                "-sname", "harness-%d@localhost" % os.getpid(), "-noinput",
                "-eval", expr]
        cp = procs.run(argv, netns=self.ctx.net.name, timeout=60,
                       env={"HOME": self.spool})
        results = re.findall(r"ok|\{error,\s*\w+\}|\{badrpc,[^}]*\}", cp.stdout)
        bad = [r for r in results if r not in ("ok", "{error,exists}")]
        if len(results) != len(names) or bad:
            raise RuntimeError("ejabberd user registration failed: %s%s"
                               % (cp.stdout, cp.stderr))
        self.registered.update(names)

    def user(self, name):
        u = self.users.get(name)
        if u is not None and self.running() and not u.connected():
            u.connect()
        if name not in self.users:
            u = C2SUser(self.ctx.loop, self.jid(name), self.password_prefix + name,
                        (self.ip4, 5222), "%s:%s" % (self.kind, name))
            self.users[name] = u
            if self.running():
                if name not in self.registered:
                    self._register([name])
                u.connect()
        return self.users[name]

    refusal_patterns = {
        "untrusted-cert": r"Failed to establish outbound s2s connection \S+ -> "
                          r"%(peer)s: Peer certificate rejected",
        "tls-required": r"s2s connection \S+ -> %(peer)s.*(TLS|STARTTLS|starttls)",
    }

    def module_dirs(self):
        """Where the package's modules are (scenario 8d looks for a bidi
        module there: 23.01 has none)."""
        return sorted({os.path.realpath(d) for d in glob.glob(
            os.path.join(LIBS, "ejabberd-[0-9]*", "ebin"))})

    @property
    def version(self):
        dirs = self.module_dirs()
        return dirs[-1].split("ejabberd-")[1].split("/")[0] if dirs else "?"

    def forget_failures(self):
        """ejabberd bounces everything for a domain it failed to reach, for a
        random back-off of tens of seconds: a restart is the only reset."""
        self.restart()

    # -- what the log says --
    def streams(self, peer):
        """From "(socket) Accepted inbound|outbound s2s MECH authentication
        A -> B (ip)". ejabberd does not log the TLS version."""
        out = []
        for raw in self.since_mark().splitlines():
            m = re.search(r"Accepted (inbound|outbound) s2s (\S+) authentication "
                          r"(\S+) -> (\S+)", raw)
            if not m:
                continue
            d = "in" if m.group(1) == "inbound" else "out"
            other = m.group(3) if d == "in" else m.group(4)
            if other == peer:
                out.append(Stream(d, peer, m.group(2).lower(), "?", [raw]))
        return out

    def refusals(self, peer):
        return [l for l in self.since_mark().splitlines()
                if peer.domain in l and re.search(
                    r"\[(warning|error)\]|[Ff]ailed|[Cc]losing|[Bb]ounc", l)]
