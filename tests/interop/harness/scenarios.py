"""Scenarios 1-6 of issue 9, written for any pair (local L, remote R).

L is the server under test in the s2sd suite (s2sd) and Prosody or ejabberd
in the self-check; R is the federated peer. Each scenario records its steps,
what the servers reported about their streams (auth method, TLS version), the
TLS version seen on the wire, and on failure the step, the reason and the log
lines that explain it. A scenario never stops the run: it returns a Result.
"""
import re
import subprocess
import time
import traceback

from . import modes as M

DELIVERY = 10.0     # s: a message over a stream that may need setting up
NEGATIVE = 3.0      # s: how long "does not arrive" is watched
STREAM_LOG = 4.0    # s: ejabberd writes its log with a delay
SETTLE = 12.0       # s: scenario 5, for the last bounces after a restart


class StepFailed(Exception):
    """A step failed. `status`: FAIL, or PEER-REFUSED / PEER-LIMIT when the
    failure is a limitation the peer declares and its log or the wire proves
    (only ever for Prosody and ejabberd, never for s2sd)."""

    def __init__(self, why, evidence=None, peer_refused=False, status=None):
        super().__init__(why)
        self.evidence = evidence or []
        self.status = status or ("PEER-REFUSED" if peer_refused else "FAIL")


class Result:
    def __init__(self, pair, scenario, mode):
        self.pair, self.scenario, self.mode = pair, scenario, mode
        self.status = "PASS"
        self.steps = []             # (ok, text)
        self.failed_step, self.why = None, None
        self.evidence = []
        self.notes = []
        self.auth = {}              # "out"/"in" -> L's report
        self.tls = {}               # "out"/"in" -> L's report
        self.wire = {}              # "out"/"in" -> TLS on the wire
        self.remote_view = {}       # "out"/"in" -> (auth, tls) R's report
        self.seconds = 0.0

    @property
    def name(self):
        return "%s %s" % (self.pair.label, self.scenario)


class Pair:
    made = 0

    def __init__(self, local, remote, wire, suffix=""):
        self.L, self.R, self.wire, self.suffix = local, remote, wire, suffix
        Pair.made += 1
        self.order = Pair.made

    @property
    def label(self):
        return "%s/%s" % (self.L.kind, self.R.kind)

    def users(self, slug):
        name = slug + self.suffix
        return self.L.user(name), self.R.user(name)

    def mark(self):
        self.L.mark()
        self.R.mark()
        self.wire.mark()


class Test:
    """One scenario run: `step()` records, `run()` turns exceptions into a
    failed Result with evidence."""

    def __init__(self, pair, scenario, mode):
        self.pair, self.L, self.R = pair, pair.L, pair.R
        self.res = Result(pair, scenario, mode)
        self.mode = mode

    def step(self, text):
        self.res.steps.append((True, text))

    def note(self, text):
        self.res.notes.append(text)

    def run(self, fn, *args):
        t0 = time.monotonic()
        self.pair.mark()
        try:
            fn(self, *args)
        except StepFailed as e:
            self._fail(str(e), e.evidence, e.status)
        except Exception as e:  # a harness or server failure: still a result
            self._fail("%s: %s" % (type(e).__name__, e),
                       traceback.format_exc().splitlines()[-6:], "FAIL")
        self.res.seconds = time.monotonic() - t0
        return self.res

    def _fail(self, why, evidence, status):
        r = self.res
        r.status = status
        r.failed_step = r.steps[-1][1] if r.steps else "setup"
        r.steps.append((False, why))
        r.why = why
        r.evidence = list(evidence)
        for s in (self.L, self.R):
            lines = s.refusals(self.other(s))[-12:]
            if lines:
                r.evidence.append("-- %s log lines about %s --" % (
                    s.kind, self.other(s).domain))
                r.evidence += lines
        for s in (self.L, self.R):
            home = getattr(s, "home", None)
            if home is not None and home.events:
                r.evidence.append("-- %s's home node link --" % s.kind)
                r.evidence += ["%s %s" % e for e in home.events[-5:]]
        conns = self.pair.wire.since_mark()
        if conns:
            r.evidence.append("-- S2S connections seen on the wire --")
            r.evidence += [c.describe() for c in conns[-12:]]

    def other(self, server):
        return self.R if server is self.L else self.L

    # -- checks used by several scenarios --
    def deliver(self, sender, receiver, body, timeout=DELIVERY):
        """`sender` sends; `receiver` must get it. On failure, say whether an
        error came back and whether it is the peer's documented refusal."""
        self.step("message %s -> %s %r" % (sender.jid, receiver.jid, body))
        sid = sender.send_message(receiver.jid, body)

        def bounced():
            return next((e for e in sender.errors if e["id"] == sid), None)
        if until(lambda: receiver.message_from(sender.jid, body) or bounced(),
                 timeout) and not bounced():
            return
        err = bounced()
        why = "not delivered within %gs" % timeout
        if err:
            why = "bounced to the sender: %s/%s %s" % (err["type"],
                                                       err["condition"], err["text"])
        self.refused_by_peer(why)
        raise StepFailed(why, ["-- %s --" % sender.label] + sender.recent_history(8)
                         + ["-- %s --" % receiver.label] + receiver.recent_history(8))

    def refused_by_peer(self, why):
        """If R declares it cannot do this mode, and its log shows that
        refusal, the scenario is marked as R's refusal, with the line."""
        reason = self.R.limitations.get(self.mode.key)
        lines = self.R.refusal_lines(reason, self.L.domain) if reason else []
        if lines:
            raise StepFailed("%s: %s cannot do this (%s), its log says so" % (
                why, self.R.kind, reason), lines, peer_refused=True)

    def arrives(self, cond, sender, target, what, since, timeout=DELIVERY):
        """Wait for cond() (what the receiving side must see), unless `sender`
        got an error from `target` after `since` (the time it sent; the S2S
        path failed): then fail at once with that error."""
        def error():
            return next((e for e in sender.errors
                         if e["from"] == target and e["at"] >= since), None)
        if until(lambda: cond() or error(), timeout) and not error():
            return
        err = error()
        why = "%s: %s" % (what, "%s got %s/%s %s from %s" % (
            sender.jid, err["type"], err["condition"], err["text"], target)
            if err else "not within %gs" % timeout)
        self.refused_by_peer(why)
        raise StepFailed(why, ["-- %s --" % sender.label] + sender.recent_history(6))

    def not_delivered(self, sender, receiver, body):
        self.step("message %s -> %s %r must not arrive" % (sender.jid,
                                                           receiver.jid, body))
        sid = sender.send_message(receiver.jid, body)
        if receiver.wait_message(sender.jid, body, NEGATIVE):
            raise StepFailed("arrived although it must not", receiver.recent_history(6))
        return next((e for e in sender.errors if e["id"] == sid), None)

    def expect(self, ok, why, evidence=()):
        if not ok:
            raise StepFailed(why, list(evidence))

    def collect_streams(self, expect_dirs=("out", "in")):
        """Wait for both servers to report the streams set up since the mark;
        record L's report, R's report and the wire's TLS version."""
        L, R, res = self.L, self.R, self.res

        def have(server):
            dirs = {s.direction for s in server.streams(self.other(server).domain)}
            return all(d in dirs for d in expect_dirs)
        end = time.monotonic() + STREAM_LOG
        while time.monotonic() < end and not (have(L) and have(R)):
            time.sleep(0.2)
        for s in L.streams(R.domain):
            res.auth.setdefault(s.direction, s.auth)
            res.tls.setdefault(s.direction, s.tls)
        for s in R.streams(L.domain):
            d = "in" if s.direction == "out" else "out"     # from L's side
            res.remote_view.setdefault(d, (s.auth, s.tls))
        for d, (a, b) in (("out", (L, R)), ("in", (R, L))):
            conns = [c for c in self.pair.wire.between(a.process_label,
                                                       (b.ip4, b.ip6))
                     if c.established]
            if conns:
                res.wire[d] = conns[-1].tls or "none"

    def check_security(self):
        """The streams match the mode: auth method and TLS, as reported by
        L, by R where it says, and as seen on the wire."""
        mode, res = self.mode, self.res
        want_auth = "external" if mode.valid_certs else "dialback"
        self.step("streams: auth=%s, TLS %s, both directions" % (
            want_auth, "required" if mode.tls else "absent"))
        self.collect_streams()
        problems = []
        for d in ("out", "in"):
            auth, tls = res.auth.get(d), res.tls.get(d)
            if auth is None:
                problems.append("%s reported no %s stream with %s" % (
                    self.L.kind, d, self.R.domain))
            else:
                if auth != want_auth:
                    problems.append("%s %s stream: auth=%s, want %s" % (
                        self.L.kind, d, auth, want_auth))
                if mode.tls != tls.startswith("TLS"):
                    problems.append("%s %s stream: tls=%s" % (self.L.kind, d, tls))
            ra = res.remote_view.get(d)
            if ra and ra[0] not in ("?", want_auth):
                problems.append("%s reports auth=%s for the %s direction" % (
                    self.R.kind, ra[0], d))
            w = res.wire.get(d)
            if w is not None and mode.tls != w.startswith("TLS"):
                problems.append("wire: %s direction tls=%s" % (d, w))
        if not mode.tls:
            clear = [c for c in self.pair.wire.since_mark() if c.clear_stanzas]
            self.note("clear-text stanzas seen on %d connection(s)" % len(clear))
        else:
            leaks = [c for c in self.pair.wire.since_mark() if c.clear_stanzas]
            if leaks:
                problems.append("stanzas in clear text despite TLS: " +
                                "; ".join(c.describe() for c in leaks))
        if problems:
            raise StepFailed("; ".join(problems),
                             [l for s in (self.L, self.R)
                              for st in s.streams(self.other(s).domain)
                              for l in st.evidence])


# ---------------------------------------------------------------- scenarios

def s_mode(t):
    """Scenarios 1-3: in the block's security mode, messages both ways (R
    first, so that each side opens its own stream), then the streams' auth
    method and TLS version are what the mode requires."""
    lu, ru = t.pair.users("m%d" % t.mode.scenario)
    t.deliver(ru, lu, "hello from %s (%s)" % (t.R.kind, t.mode.key))
    t.deliver(lu, ru, "hello from %s (%s)" % (t.L.kind, t.mode.key))
    t.check_security()


def s_refusal(t):
    """Scenario 0 (self-check): the harness tells a peer's deliberate refusal
    by its log line. In TLS-valid mode (no dialback) R is asked to reach
    untrusted.DOMAIN, a Prosody host whose certificate nobody trusts: R must
    bounce the message and log its refusal; the classification used for
    declared limitations must find that line."""
    ru = t.R.user("m1" + t.pair.suffix)
    target = "x@" + t.L.bad_domain
    t.step("message %s -> %s (untrusted certificate)" % (ru.jid, target))
    sid = ru.send_message(target, "s0")
    until(lambda: any(e["id"] == sid for e in ru.errors), DELIVERY)
    err = next((e for e in ru.errors if e["id"] == sid), None)
    t.expect(err is not None, "%s did not bounce the message" % t.R.kind,
             ru.recent_history(4))
    t.note("%s bounced: %s/%s %s" % (t.R.kind, err["type"], err["condition"],
                                     err["text"]))
    t.step("%s's log shows the refusal (pattern 'untrusted-cert')" % t.R.kind)
    lines = []
    until(lambda: lines.extend(t.R.refusal_lines("untrusted-cert", target[2:]))
          or lines, STREAM_LOG)
    t.expect(lines, "no refusal line in %s's log" % t.R.kind,
             t.R.refusals(t.L)[-6:])
    t.note("refusal line: %s" % lines[0][:200])


def s_verify(t):
    """Scenario 4, SPEC section 7: subscriptions both ways, presence and its
    changes seen both ways, messages both ways; then (where L has a
    directional policy) deny in, deny out, with hot reload."""
    lu, ru = t.pair.users("v%d" % t.mode.scenario)
    subscription(t, ru, lu)
    change_seen(t, lu, ru, "away", "s4 %s away" % t.mode.key)

    subscription(t, lu, ru)
    change_seen(t, ru, lu, "dnd", "s4 %s busy" % t.mode.key)

    t.deliver(ru, lu, "s4 in %s" % t.mode.key)
    t.deliver(lu, ru, "s4 out %s" % t.mode.key)
    if not t.L.supports_policy:
        t.note("policy steps skipped: %s has no directional federation policy"
               % t.L.kind)
        return
    try:
        policy_steps(t, lu, ru)
    finally:
        t.L.clear_policy()


def subscription(t, asker, contact):
    """`asker` subscribes to `contact`'s presence; `contact` approves."""
    t.step("%s asks to subscribe to %s" % (asker.jid, contact.jid))
    t0 = time.monotonic()
    asker.subscribe(contact.jid)
    t.arrives(lambda: asker.jid in contact.sub_requests, asker, contact.jid,
              "subscription request to reach %s" % contact.jid, t0)
    t.step("%s approves; %s sees 'subscribed' and %s available" % (
        contact.jid, asker.jid, contact.jid))
    t0 = time.monotonic()
    contact.approve(asker.jid)
    t.arrives(lambda: contact.jid in asker.subscribed_by, contact, asker.jid,
              "'subscribed' to reach %s" % asker.jid, t0)
    t.arrives(lambda: asker.sees(contact.jid), contact, asker.jid,
              "%s to see %s available" % (asker.jid, contact.jid), t0)


def change_seen(t, who, watcher, show, status):
    t.step("%s changes presence to %s %r; %s sees it" % (who.jid, show, status,
                                                          watcher.jid))
    t0 = time.monotonic()
    who.set_presence(show, status)
    t.arrives(lambda: watcher.sees(who.jid, show, status), who, watcher.jid,
              "%s to see the change" % watcher.jid, t0)


def policy_steps(t, lu, ru):
    L, R = t.L, t.R
    t.step("policy: deny %s in (hot reload)" % R.domain)
    L.set_policy(R.domain, "in")
    err = t.not_delivered(ru, lu, "s4 denied in")
    t.note("deny in: %s got %s" % (ru.jid, "%s/%s" % (err["type"], err["condition"])
                                   if err else "no error within %gs" % NEGATIVE))
    t.deliver(lu, ru, "s4 out while in is denied")
    t.step("policy: deny %s out (hot reload)" % R.domain)
    L.set_policy(R.domain, "out")
    # a peer that caches the refusal would bounce the next step's traffic;
    # after the policy change, or a peer that forgets by restarting
    # (ejabberd) connects again at once and caches a fresh refusal
    R.forget_failures()
    t.step("message %s -> %s bounces with not-allowed" % (lu.jid, ru.jid))
    sid = lu.send_message(ru.jid, "s4 denied out")
    until(lambda: any(e["id"] == sid for e in lu.errors), DELIVERY)
    err = next((e for e in lu.errors if e["id"] == sid), None)
    t.expect(err is not None and err["condition"] == "not-allowed",
             "want a not-allowed bounce, got %s" % (err and err["condition"]),
             lu.recent_history(6))
    t.expect(not ru.message_from(lu.jid, "s4 denied out"),
             "the denied message reached %s" % ru.jid)
    t.deliver(ru, lu, "s4 in while out is denied")


def s_restart(t, count=30, interval=0.1):
    """Scenario 5: R keeps sending while L restarts; every message must be
    delivered or answered with an error, none silently lost."""
    lu, ru = t.pair.users("r")
    t.deliver(ru, lu, "s5 before the restart")
    t.step("%s sends %d messages, one every %gs; %s gets SIGTERM after %d, "
           "starts again after %d" % (ru.jid, count, interval, t.L.kind,
                                      count // 3, 2 * count // 3))
    sent = []
    for i in range(count):
        if i == count // 3:
            t.L.begin_stop()
            restart_at = time.monotonic()
        if i == 2 * count // 3:
            t.L.stop()
            t.L.resume()
            t.note("%s down for %.1fs" % (t.L.kind, time.monotonic() - restart_at))
        body = "s5 #%02d" % i
        sent.append((ru.send_message(lu.jid, body), body))
        time.sleep(interval)
    t.step("every message delivered or bounced (waiting up to %gs)" % SETTLE)

    def settled():
        return all(lu.message_from(ru.jid, b) or any(e["id"] == sid for e in ru.errors)
                   for sid, b in sent)
    until(settled, SETTLE, 0.1)
    delivered = [b for sid, b in sent if lu.message_from(ru.jid, b)]
    errors = {}
    for sid, b in sent:
        e = next((e for e in ru.errors if e["id"] == sid), None)
        if e and b not in delivered:
            errors[e["condition"]] = errors.get(e["condition"], 0) + 1
    lost = [b for sid, b in sent if b not in delivered
            and not any(e["id"] == sid for e in ru.errors)]
    t.note("delivered %d, bounced %d %s, lost %d" % (
        len(delivered), sum(errors.values()), errors or "", len(lost)))
    if lost:
        blame = [who_lost(t, b) for b in lost]
        for b, (_who, why) in zip(lost, blame):
            t.note("%r: %s" % (b, why))
        why = "%d message(s) neither delivered nor bounced: %s" % (
            len(lost), ", ".join(lost))
        ev = []
        for sid, b in sent:
            if b in lost:       # what each server logged about that stanza
                for srv in (t.R, t.L):
                    lines = [l for l in srv.since_mark().splitlines()
                             if re.search(r"\b%s\b" % sid, l)]
                    ev.append("-- %s's log about %s (id %s): %d line(s) --" % (
                        srv.kind, b, sid, len(lines)))
                    ev += [l[:240] for l in lines[:6]]
        def known(who):
            return (who == t.L.kind and "restart-loss" in t.L.known_losses) or \
                (who == t.R.kind and "sender-loss" in t.R.known_losses)
        if all(known(who) for who, _ in blame):
            raise StepFailed(why + " (losses %s is known for, see README)" % " and ".join(
                sorted({who for who, _ in blame})), ev, status="PEER-LIMIT")
        raise StepFailed(why, ev)
    t.deliver(lu, ru, "s5 after the restart")
    t.collect_streams(("out",))


def s_sm(t, count=10000):
    """Scenario 7 (XEP-0198, s2sd and Prosody): acks observed in both
    directions in the logs; then the TCP connection from L (s2sd) to R is
    killed (ss -K, the processes live on) while COUNT numbered messages flow
    to R: every message must be delivered or bounced, none lost. Prosody
    does not resume S2S sessions, so s2sd sends every unacknowledged stanza
    again: duplicates are possible and counted, not failed."""
    L, R = t.L, t.R
    lu, ru = t.pair.users("k")
    t.pair.mark()
    t.deliver(lu, ru, "s7 warm-up out")
    t.deliver(ru, lu, "s7 warm-up in")
    for i in range(30):         # enough for <r/> both ways
        lu.send_message(ru.jid, "s7 ack out %d" % i)
        ru.send_message(lu.jid, "s7 ack in %d" % i)
    t.step("XEP-0198 acks in both directions in the logs")
    checks = [
        (L, "out sm enabled remote=%s" % R.domain, "s2sd enabled SM out"),
        (L, "in sm enabled remote=%s" % R.domain, "Prosody enabled SM in"),
        (L, "out sm acked h=", "Prosody acked what s2sd sent"),
        (L, "in sm ack-sent h=", "s2sd acked what Prosody sent"),
        (R, "Received ack request, acking for", "Prosody answered <r/>"),
        (R, "#queue = ", "Prosody processed s2sd's <a/>"),
    ]
    # A stream set up by an earlier scenario enabled it before the mark.
    def grep(srv, needle):
        return srv.grep([needle], since_mark=" enabled " not in needle)
    until(lambda: all(grep(srv, n) for srv, n, _ in checks), DELIVERY)
    for srv, needle, what in checks:
        lines = grep(srv, needle)
        t.expect(lines, "%s: no %r in %s's log" % (what, needle, srv.kind),
                 srv.log_tail(12))
        t.note("%s: %s" % (what, lines[-1].strip()[-150:]))
    t.step("%d numbered messages %s -> %s; the S2S connection is killed "
           "(ss -K) after a third" % (count, lu.jid, ru.jid))
    sent = [(lu.send_message(ru.jid, "s7 #%05d" % i), "s7 #%05d" % i)
            for i in range(count)]

    def got():
        return {m["body"] for m in ru.messages if m["from"] == lu.jid
                and m["body"].startswith("s7 #")}
    until(lambda: len(got()) >= count // 3, 3 * DELIVERY, 0.01)
    # Whatever address family s2sd connected over.
    killed = [subprocess.run(["ss", "-K", "dst", addr], capture_output=True,
                             text=True)
              for addr in ("%s:5269" % R.ip4, "[%s]:5269" % R.ip6)]
    n_killed = sum(k.stdout.count("ESTAB") for k in killed)
    t.note("ss -K killed %d connection(s) after %d deliveries" % (
        n_killed, len(got())))
    t.expect(n_killed > 0, "ss -K found no connection to kill",
             [k.stdout + k.stderr for k in killed])

    def settled():
        have = got()
        return all(b in have or any(e["id"] == sid for e in lu.errors)
                   for sid, b in sent)
    until(settled, SETTLE + 30, 0.2)
    bodies = [m["body"] for m in ru.messages if m["from"] == lu.jid
              and m["body"].startswith("s7 #")]
    have = set(bodies)
    dup = len(bodies) - len(have)
    bounced = [b for sid, b in sent if b not in have
               and any(e["id"] == sid for e in lu.errors)]
    lost = [b for sid, b in sent if b not in have and b not in bounced]
    line = ("accounting: sent=%d delivered=%d bounced=%d lost=%d "
            "duplicated=%d" % (count, len(have & {b for _, b in sent}),
                               len(bounced), len(lost), dup))
    t.note(line)
    print("    " + line, flush=True)
    t.note("s2sd: " + " | ".join(l.split(" s2s ", 1)[-1].strip()[:140]
                                 for l in L.grep(["out sm unacked",
                                                  "out sm resend"])[-4:]))
    t.expect(not lost, "%d message(s) neither delivered nor bounced" %
             len(lost), lost[:10])


def who_lost(t, body):
    """Which side lost a message, from the wire (clear text: no-tls mode):
    returns (server kind or "?", explanation)."""
    L, R = t.L, t.R
    to_l = [c for c in t.pair.wire.since_mark() if c.server[0] in (L.ip4, L.ip6)]
    hits = [(c, at) for c, at in t.pair.wire.find_clear(body.encode())
            if c in to_l]
    if not hits:
        if any(c.tls or c.client_hello for c in to_l):
            return "?", "streams to %s use TLS: the wire cannot tell" % L.kind
        return R.kind, "never went over the wire to %s: %s dropped it" % (
            L.kind, R.kind)
    c, at = hits[-1]
    l_close, r_close = c.closed.get("server"), c.closed.get("client")
    if r_close is not None and at > r_close:
        return R.kind, "%s sent it after closing its own stream" % R.kind
    when = "before" if l_close is None or at < l_close else \
        "%.3fs after" % (at - l_close)
    return L.kind, ("reached %s on the wire %s it closed the stream (RFC 6120 "
                    "4.4: still to be processed); %s neither delivered nor "
                    "bounced it" % (L.kind, when, L.kind))


def s_srv(t, dns, hosts, srv):
    """Scenario 6: L's domain has two SRV targets, the first dead (nothing
    listens: connection refused on IPv4 and IPv6); R, restarted so that it
    has no stream to L, must still reach L. Records whether R tried the dead
    target first and then the second one."""
    L, R = t.L, t.R
    dead = "dead." + L.domain
    t.step("DNS: _xmpp-server._tcp.%s -> %s:5269 (prio 10, dead), %s:5269 (prio 20)"
           % (L.domain, dead, L.domain))
    h = dict(hosts)
    h[dead] = (dns.net.ip4(DEAD_HOST), dns.net.ip6(DEAD_HOST))
    s = dict(srv)
    s[L.domain] = [(dead, 5269, 10, 0), (L.domain, 5269, 20, 0)]
    try:
        dns.publish(h, s)
        t.step("restart %s so that it has no stream to %s" % (R.kind, L.domain))
        # its users log in again and may send presence to L at once: what it
        # tries from now on counts
        t.pair.mark()
        R.restart()
        lu, ru = t.pair.users("f")
        deliver_err = None
        try:
            t.deliver(ru, lu, "s6 via the second SRV target", timeout=2 * DELIVERY)
        except StepFailed as e:
            deliver_err = e
        conns = t.pair.wire.since_mark()
        dead_ips = (h[dead][0], h[dead][1])
        tried_dead = [c for c in conns if c.server[0] in dead_ips]
        reached = [c for c in conns if c.server[0] in (L.ip4, L.ip6)
                   and c.initiator in (R.process_label, "?") and c.established]
        t.note("%s tried the dead first target: %s; then the second: %s" % (
            R.kind, "yes (%s)" % ", ".join(
                "%s %s" % (c.server[0], "refused" if c.refused else "?")
                for c in tried_dead) if tried_dead else "no",
            "yes" if reached else "no"))
        if deliver_err:
            raise deliver_err
        t.expect(tried_dead, "%s never tried the first (dead) target: the test "
                 "did not test fail-over" % R.kind)
    finally:
        dns.publish(hosts, srv)


DEAD_HOST = 10


def until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= end:
            return False
        time.sleep(step)
    return True


SCENARIOS = {
    "refusal": s_refusal, "mode": s_mode, "verify": s_verify, "restart": s_restart, "srv": s_srv,
    "sm": s_sm,
}
# Scenarios kept in modules of their own add themselves here (kind ->
# function) and to NAMES (kind -> name with %s for the mode's key).
NAMES = {}


def scenario_name(kind, mode):
    if kind in NAMES:
        return NAMES[kind] % mode.key
    if kind == "mode":
        return {M.TLS_VALID: "1-tls-valid", M.TLS_UNTRUSTED: "2-tls-untrusted",
                M.NO_TLS: "3-no-tls"}[mode]
    return {"refusal": "0-refusal-detected",
            "verify": "4-verify[%s]" % mode.key,
            "restart": "5-restart[%s]" % mode.key,
            "srv": "6-srv-failover[%s]" % mode.key,
            "sm": "7-stream-management[%s]" % mode.key}[kind]
