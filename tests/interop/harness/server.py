"""What every server in a scenario offers (Prosody, ejabberd, s2sd).

A server serves one XMPP domain on its own addresses (127.0.0.N and ULA::N in
the namespace), is configured per security mode, started once per mode and
stopped by PID. Scenarios use it through:
- `user(name)`: an Endpoint for a user of the domain;
- `mark()` / `streams(peer_domain)`: the S2S streams with a peer since the
  mark, as the server itself reports them (direction, auth method, TLS);
- `refusals(peer)`: log lines where it refused or failed a stream with the
  server `peer`; `refusal_lines()`: those that refuse on purpose;
- `set_policy(...)`: only where the server has a directional policy (s2sd);
- `forget_failures()`: undo cached connection failures (ejabberd: restart).
"""
import os
import time

from . import procs
from .net import Net


class Ctx:
    """What all servers share: the namespace, CA, directories, XMPP loop."""

    def __init__(self, net, ca, workdir, logdir, loop, build):
        self.net, self.ca, self.loop, self.build = net, ca, loop, build
        self.workdir, self.logdir = workdir, logdir


class Stream:
    """One authenticated S2S stream (or domain pair) as a server logged it."""

    def __init__(self, direction, peer, auth, tls, evidence):
        self.direction = direction      # "in" or "out"
        self.peer = peer                # the remote domain
        self.auth = auth                # "external", "dialback", "?" unknown
        self.tls = tls                  # "TLS1.3", "TLS1.2", "none", "?"
        self.evidence = evidence        # the log lines this was read from

    def __repr__(self):
        return "%s %s auth=%s tls=%s" % (self.direction, self.peer, self.auth,
                                          self.tls)


class Server:
    kind = "server"
    supports_policy = False
    binds_source = False        # outgoing S2S connections from ip4/ip6
    wire_label = None           # the process's name in wire records (kind)
    password_prefix = "pw-"

    def __init__(self, ctx, domain, n):
        self.ctx, self.domain, self.n = ctx, domain, n
        self.ip4, self.ip6 = Net.ip4(n), Net.ip6(n)
        self.dir = os.path.join(ctx.workdir, self.kind)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.mode = None
        self.proc = None
        self.users = {}
        self.logs = []              # procs.LogFile, all kept for reports

    @property
    def label(self):
        return self.kind

    @property
    def process_label(self):
        return self.wire_label or self.kind

    # -- lifecycle --
    def start(self, mode):
        self.mode = mode
        self.configure(mode)
        self._start()
        # users connect when a scenario asks for them: a user that logs in
        # now would send presence (probes) over S2S before the scenario

    def begin_stop(self):
        """Send SIGTERM and return at once (scenario 5: the peer keeps
        sending while the server shuts down); stop() then waits."""
        if not getattr(self, "_stopping", False):
            self._online = [u for u in self.users.values()
                            if getattr(u, "connected", lambda: False)()]
            self._stopping = True
        if self.proc is not None:
            self.proc.terminate()

    def stop(self):
        if not getattr(self, "_stopping", False):
            self._online = [u for u in self.users.values()
                            if getattr(u, "connected", lambda: False)()]
        self._stopping = False
        for u in self.users.values():
            u.disconnect()
        if self.proc is not None:
            rc = self.proc.stop(15)
            self.proc = None
            return rc
        return None

    def shutdown(self):
        """Stop for good (end of the run)."""
        return self.stop()

    def resume(self):
        """Start again after stop(), same mode and config; the users that
        were online reconnect."""
        self._start()
        for u in getattr(self, "_online", []):
            u.connect()

    def restart(self):
        self.stop()
        self.resume()

    def prepare(self, names):
        """Users the scenarios will ask for (registered before they do)."""

    def running(self):
        return self.proc is not None and self.proc.alive()

    def wait_ports(self, ports, timeout, what):
        def up():
            if not self.proc.alive():
                raise RuntimeError("%s exited with status %s while starting; "
                                   "last log lines:\n  %s" % (
                                       self.kind, self.proc.exit_status(),
                                       "\n  ".join(self.log_tail(15))))
            return all(procs.port_open(h, p) for h, p in ports)
        t0 = time.monotonic()
        if not procs.wait_until(up, timeout, 0.1):
            raise RuntimeError("%s: %s not listening on %s after %gs; last log "
                               "lines:\n  %s" % (self.kind, what, ports, timeout,
                                                 "\n  ".join(self.log_tail(15))))
        return time.monotonic() - t0

    # -- users --
    def user(self, name):
        raise NotImplementedError

    def jid(self, name):
        return "%s@%s" % (name, self.domain)

    # -- logs --
    def mark(self):
        for log in self.logs:
            log.mark()

    def since_mark(self):
        return "".join(log.since_mark() for log in self.logs)

    def log_tail(self, n=30):
        out = []
        for log in self.logs:
            out += log.tail(n)
        return out[-n:]

    def grep(self, needles, since_mark=True):
        text = self.since_mark() if since_mark else \
            "".join(log.read() for log in self.logs)
        return [l for l in text.splitlines() if any(n in l for n in needles)]

    def streams(self, peer):
        raise NotImplementedError

    def refusals(self, peer):
        raise NotImplementedError

    # How this server's log says it refused a peer on purpose, by reason:
    # {reason: regular expression with %(peer)s for the peer's domain}.
    refusal_patterns = {}
    # Scenarios this server cannot do as a peer, by mode key: {mode: reason}.
    # Only a declared limitation, proven by its log line, turns a failure
    # into PEER-REFUSED; anything else the peer refuses is a failure.
    limitations = {}
    # Losses this server is known for, proven by the wire in scenario 5:
    # "restart-loss": drops stanzas that reach it while it shuts down;
    # "sender-loss": drops stanzas it routes to a stream that is closing.
    # A loss pinned on such a server is PEER-LIMIT; s2sd declares none.
    known_losses = set()

    def refusal_lines(self, reason, peer_domain):
        import re
        pat = self.refusal_patterns.get(reason)
        if pat is None:
            return []
        rx = re.compile(pat % {"peer": re.escape(peer_domain)})
        return [l for l in self.since_mark().splitlines() if rx.search(l)]

    # -- policy and quirks --
    def set_policy(self, peer, direction):
        raise NotImplementedError("%s has no directional federation policy"
                                  % self.kind)

    def clear_policy(self):
        pass

    def forget_failures(self):
        """Make the server try a peer again at once after a failure."""

    def users_ready(self):
        return True
