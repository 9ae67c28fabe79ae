#!/usr/bin/python3
"""s2sd interop suite: scenarios 1-6 of issue 9 (7: XEP-0198, 8: XEP-0288) against real Prosody and
ejabberd, after a Prosody <-> ejabberd self-check. See README.md.

usage: interop.py BUILD [--self-check | --s2sd] [--peer prosody|ejabberd]
                  [--mode tls-valid|tls-untrusted|no-tls]... [--only NAME]...
                  [--keep] [--xmppaddr]
Exit status: 0 when every selected scenario passed (PEER-REFUSED and
PEER-LIMIT count as passed: a limitation Prosody or ejabberd declares, proven
by its log or the wire; never for s2sd), 1 otherwise, 2 on a harness set-up
error."""
import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import modes as M                          # noqa: E402
from harness import bidi, net, pki, procs, report, scenarios, wire, xmpp  # noqa: E402
from harness.ejabberd import Ejabberd                   # noqa: E402
from harness.prosody import Prosody, ProsodyHome        # noqa: E402
from harness.s2sd import S2sd                           # noqa: E402
from harness.server import Ctx                          # noqa: E402

# Host numbers in the namespace: 127.0.0.N and ULA::N.
HOSTS = {"prosody.test": 2, "ejabberd.test": 3, "cm.test": 4}
DEAD = scenarios.DEAD_HOST
USER_SLUGS = ["m1", "m2", "m3", "v1", "v2", "v3", "r", "f", "k",
              "b1", "b2", "b3", "b4"]
scenarios.SCENARIOS.update(bidi.SCENARIOS)
scenarios.NAMES.update(bidi.NAMES)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="build directory holding s2sd and s2sctl")
    sel = ap.add_mutually_exclusive_group()
    sel.add_argument("--self-check", action="store_true",
                     help="only the Prosody <-> ejabberd validation")
    sel.add_argument("--s2sd", action="store_true",
                     help="only the s2sd pairs (no self-check)")
    ap.add_argument("--peer", action="append", choices=["prosody", "ejabberd"],
                    help="s2sd pairs with this peer only (repeatable)")
    ap.add_argument("--mode", action="append", choices=list(M.BY_KEY),
                    help="only this security mode (repeatable)")
    ap.add_argument("--only", action="append", metavar="TEXT",
                    help="only scenarios whose 'PAIR NAME' contains this (e.g. "
                         "4-verify, 5-restart, 'ejabberd/prosody 5'); repeatable")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (keys, configs) too")
    ap.add_argument("--xmppaddr", action="store_true",
                    help="put XmppAddr SANs in the certificates (crashes ejabberd "
                         "23.01's S2S, see README)")
    a = ap.parse_args(argv)
    env = os.environ.get("INTEROP", "")
    if env and not (a.self_check or a.s2sd):
        a.self_check, a.s2sd = env == "self-check", env == "s2sd"
    a.modes = [M.BY_KEY[k] for k in a.mode] if a.mode else M.ALL
    a.peers = a.peer or ["prosody", "ejabberd"]
    return a


def wanted(args, kind, mode, pair=None):
    """--only matches "PAIR SCENARIO" (e.g. "s2sd/prosody 4-verify")."""
    name = scenarios.scenario_name(kind, mode)
    if pair is None:    # some pair may want it
        return not args.only or any(o in name or "/" in o for o in args.only)
    full = "%s %s" % (pair.label, name)
    return not args.only or any(o in full for o in args.only)


class Suite:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.t0 = time.monotonic()
        self.work = tempfile.mkdtemp(prefix="s2sd-interop-")
        os.chmod(self.work, 0o755)          # ejabberd's user walks through it
        self.logdir = os.path.join(self.work, "logs")
        os.makedirs(self.logdir)
        os.chmod(self.logdir, 0o755)
        logging.basicConfig(filename=os.path.join(self.logdir, "slixmpp.log"),
                            level=logging.DEBUG,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
        self.net = net.Net()
        self.loop = self.wire = self.dns = None
        self.servers = {}

    # -- set-up --
    def setup(self):
        net.Net.remove_stale()
        self.net.create(list(HOSTS.values()) + [DEAD])
        self.net.enter()    # before any thread: they all inherit it
        self.dns = net.DNS(self.net, self.work, self.logdir)
        self.hosts = {d: (self.net.ip4(n), self.net.ip6(n)) for d, n in HOSTS.items()}
        self.srv = {d: [(d, 5269, 10, 0)] for d in HOSTS}
        self.dns.publish(self.hosts, self.srv)
        self.ca = pki.CA(self.work, xmpp_addr=self.args.xmppaddr)
        self.loop = xmpp.Loop()
        self.wire = wire.Wire(self.owners, self.sources)
        ctx = Ctx(self.net, self.ca, self.work, self.logdir, self.loop,
                  os.path.abspath(self.args.build))
        if not self.args.s2sd or "prosody" in self.args.peers:
            self.servers["prosody"] = Prosody(ctx, "prosody.test", HOSTS["prosody.test"])
        if not self.args.s2sd:
            self.servers["prosody-home"] = ProsodyHome(ctx, self.servers["prosody"])
            for d in ("home.prosody.test", "untrusted.prosody.test"):
                self.srv[d] = [("prosody.test", 5269, 10, 0)]
            self.dns.publish(self.hosts, self.srv)
        if not self.args.s2sd or "ejabberd" in self.args.peers:
            self.servers["ejabberd"] = Ejabberd(ctx, "ejabberd.test",
                                                HOSTS["ejabberd.test"])
        if not self.args.self_check:
            self.servers["s2sd"] = S2sd(ctx, "cm.test", HOSTS["cm.test"])
        self.pairs = self.make_pairs()
        for p in self.pairs:
            names = [s + p.suffix for s in USER_SLUGS]
            p.L.prepare(names)
            p.R.prepare(names)

    def owners(self):
        out = {}
        for s in list(self.servers.values()):
            p = s.proc
            if p is not None:
                out[p.pid] = s.process_label
        return out

    def sources(self):
        out = {}
        for s in list(self.servers.values()):
            if s.binds_source:
                out[s.ip4] = out[s.ip6] = s.kind
        return out

    def make_pairs(self):
        S = self.servers
        pairs = []
        if not self.args.s2sd:
            pairs.append(scenarios.Pair(S["prosody"], S["ejabberd"], self.wire))
            pairs.append(scenarios.Pair(S["ejabberd"], S["prosody"], self.wire, "b"))
            pairs.append(scenarios.Pair(S["prosody-home"], S["ejabberd"], self.wire,
                                        "h"))
        if not self.args.self_check:
            for peer in self.args.peers:
                pairs.append(scenarios.Pair(S["s2sd"], S[peer], self.wire, "s"))
        return pairs

    # -- the run --
    def run(self):
        for mode in self.args.modes:
            kinds = ["mode", "verify"] + (["refusal", "srv", "sm"] + list(bidi.NAMES)
                                          if mode is M.TLS_VALID else []) + \
                (["restart"] if mode is M.NO_TLS else [])
            if any(wanted(self.args, k, mode) for k in kinds):
                self.block(mode)

    def block(self, mode):
        """One security mode: start every server in it once, run its
        scenarios for every pair, stop them all."""
        print("\n=== mode %s: %s" % (mode.key, mode.title), flush=True)
        broken = {}
        for s in self.servers.values():
            t0 = time.monotonic()
            try:
                s.start(mode)
                print("  started %-8s in %.1fs (pid %d)" % (
                    s.kind, time.monotonic() - t0, s.proc.pid), flush=True)
            except Exception as e:
                broken[s.kind] = "%s failed to start in mode %s: %s" % (s.kind,
                                                                        mode.key, e)
                print("  " + broken[s.kind].replace("\n", "\n  "), flush=True)
        try:
            for p in self.pairs:
                if p.suffix == "b":     # the reversed self-check pair: 5 and 6 only
                    continue
                if mode is M.TLS_VALID and p.L.kind == "prosody":
                    self.scenario(p, "refusal", mode, broken)
                self.scenario(p, "mode", mode, broken)
                self.scenario(p, "verify", mode, broken)
            # scenario 5 runs where the wire shows every stanza (no TLS), so
            # that a loss can be pinned on the side that lost it
            if mode is M.NO_TLS:
                for p in self.pairs:
                    if p.L.kind != "prosody-home":  # shares Prosody's process
                        self.scenario(p, "restart", mode, broken)
            if mode is M.TLS_VALID:
                for p in self.pairs:
                    if p.L.kind != "prosody-home":
                        self.scenario(p, "srv", mode, broken)
                # XEP-0198: s2sd with Prosody, which supports it on S2S
                for p in self.pairs:
                    if p.L.kind == "s2sd" and p.R.kind == "prosody":
                        self.scenario(p, "sm", mode, broken)
                # XEP-0288 (issue 13): last, each restarts its pair
                for p in self.pairs:
                    if p.L.kind == "s2sd":
                        for k in bidi.kinds(p.R.kind):
                            self.scenario(p, k, mode, broken)
        finally:
            for s in self.servers.values():
                s.stop()

    def scenario(self, pair, kind, mode, broken):
        if self.wire.errors:
            print("  wire capture errors: %s" % self.wire.errors[-3:])
        if not wanted(self.args, kind, mode, pair):
            return
        t = scenarios.Test(pair, scenarios.scenario_name(kind, mode), mode)
        bad = [broken[s.kind] for s in (pair.L, pair.R) if s.kind in broken]
        if bad:
            res = t.res
            res.status, res.failed_step, res.why = "FAIL", "setup", bad[0]
            res.steps.append((False, bad[0]))
        else:
            for s in (pair.L, pair.R):      # a previous failure may have left it down
                if not s.running():
                    s.restart()
            args = (self.dns, self.hosts, self.srv) if kind == "srv" else ()
            res = t.run(scenarios.SCENARIOS[kind], *args)
        self.results.append(res)
        print(report.line(res), flush=True)

    # -- the end --
    def cleanup(self):
        for s in self.servers.values():
            try:
                s.shutdown()
            except Exception as e:
                print("cleanup: %s: %s" % (s.kind, e))
        if self.loop:
            self.loop.stop()
        if self.wire:
            self.wire.stop()
        if self.dns:
            self.dns.stop()
        procs.stop_all()
        self.net.remove()
        logging.shutdown()
        keep = os.path.join(os.path.abspath(self.args.build), "interop-logs")
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(self.logdir, keep)
        if self.args.keep:
            print("temporary directory kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        return keep


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("interop: needs root (network namespace, ports, peers' users)")
        return 2
    # SIGINT and SIGTERM both end in the same clean-up (finally below)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    suite = Suite(args)
    status = 2
    try:
        suite.setup()
        suite.run()
        status = 0 if all(r.status in ("PASS", "PEER-REFUSED", "PEER-LIMIT")
                          for r in suite.results) else 1
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up")
        status = 130
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("interop: set-up failed: %s" % e)
    finally:
        logs = suite.cleanup()
    report.final(suite.results, logs, time.monotonic() - suite.t0,
                 interrupted=status == 130)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
