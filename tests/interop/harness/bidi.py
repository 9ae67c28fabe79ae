"""Scenario 8: XEP-0288 bidirectional S2S streams (issue 13), tls-valid.

Only these scenarios load Prosody's mod_s2s_bidi (Debian's prosody 0.12.3
ships it): every other scenario expects one stream per direction. Each one
starts from fresh processes (both servers restarted, no user online, so
nothing crosses S2S before the scenario's first message decides who opens
the connection) and puts the default configuration back afterwards.

  8a  s2sd opens the connection; Prosody offers bidi, s2sd requests it;
      Prosody's reply travels on that same connection.
  8b  Prosody opens it; s2sd offers bidi, Prosody requests it; s2sd's reply
      travels on Prosody's connection (s2sd's route uses the inbound stream).
  8c  Prosody with bidi, s2sd with `bidi = no`: two connections, traffic
      flows both ways, no bidi anywhere.
  8d  ejabberd 23.01 (no XEP-0288: its mod_s2s_bidi arrived in 24.10): two
      connections, traffic flows both ways. PEER-LIMIT when all of that
      holds: bidi itself cannot be tried with this peer.

"One TCP connection" is checked three ways: `ss -tnp` (established
connections to port 5269 and the process that owns the client socket), the
packet capture (every connection set up since the scenario started), and
both servers' own reports (s2sctl --json streams, s2sd's and Prosody's
logs)."""
import os
import re
import subprocess
import time

from .scenarios import DELIVERY, StepFailed, until

SETTLE = 1.5        # s: a second connection a peer might still open


# ------------------------------------------------------------- the servers

def fresh(t, bidi_s2sd=True, bidi_peer=False):
    """Stop L and R, configure them (s2sd's `bidi`, Prosody's
    mod_s2s_bidi), start them with nobody logged in, mark the logs."""
    L, R = t.L, t.R
    t.step("restart %s (bidi=%s) and %s (%s), nobody logged in" % (
        L.kind, "yes" if bidi_s2sd else "no", R.kind,
        "mod_s2s_bidi" if bidi_peer else "no XEP-0288"))
    L.bidi = bidi_s2sd
    if hasattr(R, "bidi"):
        R.bidi = bidi_peer
    for s in (R, L):
        s.stop()
        s._online = []          # users log in when the scenario asks
    for s in (R, L):
        s.configure(t.mode)
        s.resume()
    t.pair.mark()


def restore(t):
    """Default configuration again for what follows in the block."""
    L, R = t.L, t.R
    changed = [s for s, want in ((L, True), (R, False))
               if getattr(s, "bidi", want) != want]
    L.bidi = True
    if hasattr(R, "bidi"):
        R.bidi = False
    for s in changed:
        if s.running():
            s.stop()
            s._online = []
            s.configure(t.mode)
            s.resume()


def tcp_conns(L, R):
    """Established TCP connections to port 5269 between L and R, as
    (opener kind, client address, server address), from `ss -tnp`: only
    the client socket is counted (destination port 5269), and its owner
    (by PID) says who opened it."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "( dport = :5269 )"], capture_output=True,
                         text=True, timeout=10).stdout
    owners = {L.proc.pid: L, R.proc.pid: R}
    found = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        local, peer = cols[2], cols[3]
        pids = [int(p) for p in re.findall(r"pid=(\d+)", line)]
        opener = next((owners[p] for p in pids if p in owners), None)
        if opener is None:
            continue
        other = R if opener is L else L
        host = peer.rsplit(":", 1)[0].strip("[]")
        if host in (other.ip4, other.ip6):
            found.append((opener.kind, local, peer))
    return found


def wire_conns(t):
    """Connections to port 5269 of L or R since the mark, as the capture
    saw them: established, and the client sent something (a stream header
    or a ClientHello). That leaves out the harness's own port probes while
    a server starts, which the capture thread may record after the mark."""
    L, R = t.L, t.R
    addrs = {L.ip4: L, L.ip6: L, R.ip4: R, R.ip6: R}
    return [c for c in t.pair.wire.since_mark()
            if c.established and c.server[0] in addrs and
            (c.clear["client"] or c.client_hello)]


def ctl_streams(t):
    """s2sd's `s2sctl --json streams` records with R's domain."""
    recs = t.L.ctl_streams()
    return [r for r in recs if r.get("remote") == t.R.domain]


# ------------------------------------------------------------- the checks

def both_ways(t, first, slug, more=10):
    """Messages both ways, `first` ("L" or "R") sends first and so opens
    the connection; then `more` each way at once, all delivered."""
    lu, ru = t.pair.users(slug)
    order = [(lu, ru), (ru, lu)] if first == "L" else [(ru, lu), (lu, ru)]
    for a, b in order:
        t.deliver(a, b, "s8 %s -> %s" % (a.jid.split("@")[1],
                                         b.jid.split("@")[1]))
    t.step("%d more each way, interleaved" % more)
    for i in range(more):
        for a, b in order:
            a.send_message(b.jid, "s8 #%d %s" % (i, a.label))

    def missing():
        return [(a, i) for i in range(more) for a, b in order
                if not b.message_from(a.jid, "s8 #%d %s" % (i, a.label))]
    until(lambda: not missing(), DELIVERY)
    t.expect(not missing(), "%d of them not delivered: %s" % (
        len(missing()), ["%s #%d" % (a.label, i) for a, i in missing()[:6]]),
        [e for a, _ in order for e in a.recent_history(4)])
    return lu, ru


def short(line):
    """A log line without its time stamp and connection id."""
    m = re.search(r"\s(?:s2s|router)\s+\S+\s+(.*)$", line)    # s2sd
    if m:
        return "s2sd: " + m.group(1)
    m = re.search(r"^\w{3} +\d+ [\d:]{8} (\S+)\s+\w+\s+(.*)$", line)
    if m:                                                       # Prosody
        return "prosody %s: %s" % (m.group(1), m.group(2))
    return line


def one_connection(t, opener):
    """Exactly one TCP connection between L and R, opened by `opener`,
    now (ss) and since the scenario started (capture)."""
    L, R = t.L, t.R
    target = R if opener is L else L
    t.step("one TCP connection %s -> %s:5269 carries both directions "
           "(ss, capture)" % (opener.kind, target.kind))
    time.sleep(SETTLE)          # a second connection would show up by now
    conns = tcp_conns(L, R)
    wired = wire_conns(t)
    t.note("ss: %s" % ("; ".join("%s %s -> %s" % c for c in conns) or "none"))
    t.expect(len(conns) == 1 and conns[0][0] == opener.kind,
             "want 1 connection opened by %s, ss shows %d: %s" % (
                 opener.kind, len(conns), conns),
             [c.describe() for c in wired])
    t.expect(len(wired) == 1 and wired[0].server[0] in (target.ip4,
                                                       target.ip6),
             "the capture saw %d S2S connection(s) between them since the "
             "start, want 1 to %s" % (len(wired), target.kind),
             [c.describe() for c in wired])


def two_connections(t):
    """One connection each way, now (ss) and in the capture."""
    L, R = t.L, t.R
    t.step("two TCP connections: %s -> %s:5269 and %s -> %s:5269" % (
        L.kind, R.kind, R.kind, L.kind))
    until(lambda: len(tcp_conns(L, R)) >= 2, DELIVERY)
    conns = tcp_conns(L, R)
    t.note("ss: %s" % ("; ".join("%s %s -> %s" % c for c in conns) or "none"))
    openers = sorted(c[0] for c in conns)
    t.expect(openers == sorted([L.kind, R.kind]),
             "want one connection opened by each side, ss shows %s" % conns,
             [c.describe() for c in wire_conns(t)])
    for s in (L, R):
        t.expect(any(c.server[0] in ((R if s is L else L).ip4,
                                     (R if s is L else L).ip6)
                     for c in wire_conns(t)),
                 "the capture saw no connection opened by %s" % s.kind,
                 [c.describe() for c in wire_conns(t)])


def s2sctl_says(t, direction, bidi, opened_by):
    """s2sctl --json streams: the streams with R, their dir and bidi."""
    recs = ctl_streams(t)
    t.step("s2sctl --json streams: %s" % (
        "one stream dir=%s bidi=yes with stanzas both ways" % direction
        if bidi else "dir=in and dir=out, bidi=no on each"))
    short = ["dir=%s bidi=%s in=%s out=%s" % (r.get("dir"), r.get("bidi"),
                                              r.get("in"), r.get("out"))
             for r in recs]
    t.note("s2sctl streams: %s" % ("; ".join(short) or "none"))
    if bidi:
        t.expect(len(recs) == 1 and recs[0].get("dir") == direction and
                 recs[0].get("bidi") == "yes" and int(recs[0].get("in", 0)) >= 1
                 and int(recs[0].get("out", 0)) >= 1,
                 "want one %s stream with bidi=yes, in>=1, out>=1 (opened by "
                 "%s): %s" % (direction, opened_by, short))
    else:
        t.expect(sorted(r.get("dir") for r in recs) == ["in", "out"] and
                 all(r.get("bidi") == "no" for r in recs),
                 "want one in and one out stream, both bidi=no: %s" % short)


def log_has(t, srv, needles, why):
    """Every needle in srv's log since the mark (waited for: ejabberd's log
    lags). Returns the last matching line of each."""
    until(lambda: all(srv.grep([n]) for n in needles), 4.0)
    got = []
    for n in needles:
        lines = srv.grep([n])
        t.expect(lines, "%s: no %r in %s's log" % (why, n, srv.kind),
                 srv.log_tail(12))
        got.append(lines[-1].strip())
    return got


def log_lacks(t, srv, needles, why):
    for n in needles:
        lines = srv.grep([n])
        t.expect(not lines, "%s: %r in %s's log" % (why, n, srv.kind),
                 lines[-4:])


def record_streams(t, dirs):
    t.collect_streams(dirs)


# ------------------------------------------------------------- scenarios

def s_bidi_l_opens(t):
    """8a: s2sd opens; Prosody offers bidi, s2sd requests it."""
    L, R = t.L, t.R
    try:
        fresh(t, bidi_s2sd=True, bidi_peer=True)
        both_ways(t, "L", "b1")
        one_connection(t, L)
        s2sctl_says(t, "out", True, L.kind)
        t.step("logs: s2sd requested bidi; Prosody took it and routes back "
               "on its inbound stream")
        for line in log_has(t, L, ["out bidi enabled remote=%s" % R.domain],
                            "s2sd asked for bidi") + \
                log_has(t, R, ["Requested bidirectional stream",
                               "Setting up to handle route from %s to %s" % (
                                   R.domain, L.domain)],
                        "Prosody took the request"):
            t.note(short(line)[:160])
        log_lacks(t, R, ["Outgoing s2s connection %s->%s" % (R.domain,
                                                             L.domain)],
                  "Prosody opened a connection of its own")
        log_lacks(t, L, ["stream ready dir=in local=%s remote=%s" % (
            L.domain, R.domain)], "s2sd accepted an inbound stream")
        record_streams(t, ("out",))
    finally:
        restore(t)


def s_bidi_r_opens(t):
    """8b: Prosody opens; s2sd offers bidi, Prosody requests it, s2sd's
    route to Prosody uses the inbound stream."""
    L, R = t.L, t.R
    try:
        fresh(t, bidi_s2sd=True, bidi_peer=True)
        both_ways(t, "R", "b2")
        one_connection(t, R)
        s2sctl_says(t, "in", True, R.kind)
        t.step("logs: Prosody requested bidi; s2sd took it and routes to "
               "Prosody on the inbound stream")
        for line in log_has(t, R, ["Requesting bidirectional stream"],
                            "Prosody asked for bidi") + \
                log_has(t, L, ["in bidi enabled remote=%s" % R.domain,
                               "out route-bidi local=%s remote=%s" % (
                                   L.domain, R.domain)],
                        "s2sd took the request"):
            t.note(short(line)[:160])
        log_lacks(t, L, ["stream ready dir=out local=%s remote=%s" % (
            L.domain, R.domain)], "s2sd opened a stream of its own")
        log_lacks(t, R, ["Incoming s2s connection %s->%s" % (L.domain,
                                                             R.domain)],
                  "Prosody accepted a second stream")
        record_streams(t, ("in",))
    finally:
        restore(t)


def s_bidi_off(t):
    """8c: Prosody with bidi, s2sd with `bidi = no`: nothing offered,
    nothing requested, one connection per direction."""
    L, R = t.L, t.R
    try:
        fresh(t, bidi_s2sd=False, bidi_peer=True)
        both_ways(t, "L", "b3")
        two_connections(t)
        s2sctl_says(t, None, False, None)
        t.step("logs: no bidi on either side; Prosody offered it on its "
               "inbound stream, s2sd did not ask")
        log_lacks(t, L, ["bidi enabled"], "s2sd used bidi although off")
        log_lacks(t, R, ["Requesting bidirectional stream",
                         "Requested bidirectional stream"],
                  "Prosody negotiated bidi with s2sd")
        t.check_security()
    finally:
        restore(t)


def s_bidi_none(t):
    """8d: a peer without XEP-0288 (ejabberd 23.01): two connections and
    traffic both ways; s2sd offers bidi, the peer never asks for it nor
    offers it (its log shows the features it sends and gets)."""
    L, R = t.L, t.R
    fresh(t, bidi_s2sd=True)
    both_ways(t, "L", "b4")
    two_connections(t)
    s2sctl_says(t, None, False, None)
    t.step("logs: s2sd offered bidi (%s's log of what it received), %s "
           "neither offered nor requested it" % (R.kind, R.kind))
    t.check_security()
    offers = log_has(t, R, ["urn:xmpp:features:bidi"],
                     "s2sd's stream features with <bidi/>")
    offer = re.search(r"<bidi xmlns='urn:xmpp:features:bidi'/>", offers[0])
    sent = [l for l in R.grep(["Send XML on stream"]) if "bidi" in l]
    t.expect(not sent, "%s sent something about bidi" % R.kind, sent[-4:])
    log_lacks(t, L, ["bidi enabled"], "bidi negotiated with %s" % R.kind)
    ebin = [f for d in R.module_dirs() for f in os.listdir(d) if "bidi" in f]
    t.note("%s's log: received s2sd's features with %s; it sent no <bidi/>"
           % (R.kind, offer.group(0) if offer else "bidi"))
    t.step("XEP-0288 with %s" % R.kind)
    t.note("%s %s has no XEP-0288 (no bidi module in %s%s): two connections, "
           "traffic both ways" % (R.kind, R.version, ", ".join(R.module_dirs()),
                                  "; found %s" % ebin if ebin else ""))
    if ebin:
        t.note("a bidi module exists but the harness does not enable it")
    else:
        raise StepFailed("bidi cannot be tried: %s %s has no XEP-0288 "
                         "(fallback to two connections checked)" % (
                             R.kind, R.version), status="PEER-LIMIT")


SCENARIOS = {"bidi-l-opens": s_bidi_l_opens, "bidi-r-opens": s_bidi_r_opens,
             "bidi-off": s_bidi_off, "bidi-none": s_bidi_none}
NAMES = {"bidi-l-opens": "8a-bidi-s2sd-opens[%s]",
         "bidi-r-opens": "8b-bidi-peer-opens[%s]",
         "bidi-off": "8c-bidi-off-in-s2sd[%s]",
         "bidi-none": "8d-bidi-peer-without[%s]"}


def kinds(peer_kind):
    """The scenario 8 kinds for a pair whose peer is `peer_kind`."""
    if peer_kind == "prosody":
        return ["bidi-l-opens", "bidi-r-opens", "bidi-off"]
    return ["bidi-none"]

