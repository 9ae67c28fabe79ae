#!/usr/bin/python3
"""make bench: the load comparison of issue 14 - s2sd against Prosody 0.12
and ejabberd 23.01 on this machine, with the load tool (build/bench/load).

usage: run.py BUILD [--only s2sd,prosody,ejabberd] [--skip-fanin]
              [--skip-relay] [--fanin-steps 1000,10000] [--quick]

Relay: a source component on X (x.test) sends to a sink component on Y
(y.test) over X's S2S stream to Y (STARTTLS, SASL EXTERNAL, CA-signed
certificates). Saturation (closed loop) gives stanzas/s, CPU seconds per
100,000 stanzas of X and Y and their peak RSS; an open-loop run at half the
saturation rate gives latency. The ceiling is the same relay through two raw
TLS forwarders (load forward) instead of servers.
Fan-in: N streams from d1.load.test ... dN.load.test (one wildcard
certificate) into X: RSS at 0 and each step, handshakes/s, throughput with
all of them sending.

Everything runs as root in a private network namespace (the interop
harness's), processes are stopped by PID; results go to bench/results/."""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "interop"))
sys.path.insert(0, HERE)

from harness import net, pki, procs                     # noqa: E402
from harness.server import Ctx                          # noqa: E402
import peers                                            # noqa: E402
import table                                            # noqa: E402

X, Y = 2, 3                       # host numbers in the namespace
SINK_RAW = "127.0.0.5:7000"       # the sink of the ceiling run
FAN_SOURCES = "127.0.1.1"         # fan-in streams come from 127.0.1.1..40
FAN_SOURCE_COUNT = 40
CLK = os.sysconf("SC_CLK_TCK")


# -- /proc readings ---------------------------------------------------------
def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK     # utime + stime


def syscalls(pid):
    """(read, write) system calls so far: /proc/PID/io syscr, syscw."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = int(v)
    except OSError:
        return (0, 0)
    return out.get("syscr", 0), out.get("syscw", 0)


def mem_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def load_tool(build):
    """BENCH_LOAD runs another build of the tool (e.g. the ASan one)."""
    return os.environ.get("BENCH_LOAD") or os.path.join(build, "bench", "load")


class Tool:
    """One run of build/bench/load: '#phase' lines as they come, then the
    JSON object."""

    def __init__(self, build, args, logdir, name):
        self.argv = [load_tool(build)] + args
        self.errlog = open(os.path.join(logdir, name + ".err"), "ab")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.errlog,
                                  text=True, bufsize=1)
        procs.LIVE.append(self)
        self.result = None

    @property
    def pid(self):
        return self.p.pid

    def phases(self, timeout):
        """Yield each '#phase' line's words; the JSON ends the iteration."""
        end = time.monotonic() + timeout
        for line in self.p.stdout:
            if line.startswith("#phase "):
                yield line.split()[1:]
            elif line.startswith("{"):
                self.result = json.loads(line)
                return
            if time.monotonic() > end:
                raise RuntimeError("load tool: no result in %ds" % timeout)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def finish(self, timeout=30):
        for _ in self.phases(timeout):
            pass
        return self.wait(timeout)

    def wait(self, timeout=30):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.stop()
        if self.result is None:
            raise RuntimeError("load tool gave no result (exit %s): %s; see "
                               "%s" % (self.p.returncode, " ".join(self.argv),
                                       self.errlog.name))
        return self.result

    def stop(self, timeout=5):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
        if self in procs.LIVE:
            procs.LIVE.remove(self)
        self.errlog.close()


class Perf:
    """perf record on the servers during a measurement (--perf): the top
    symbols by self time go into the results and the table."""

    def __init__(self, logdir, pids):
        self.data = os.path.join(logdir, "perf.data")
        self.p = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g",
                                   "-o", self.data, "-p",
                                   ",".join(str(p) for p in pids)],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

    def report(self, top=25):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return ["perf did not stop"]
        cp = subprocess.run(["perf", "report", "--stdio", "--no-children",
                             "-g", "none", "--sort", "dso,sym", "-i",
                             self.data], capture_output=True, text=True)
        rows = [l for l in cp.stdout.splitlines()
                if l.strip() and not l.startswith("#")]
        return rows[:top] or [cp.stderr.strip()[:300]]


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="s2sd-bench-")
        os.chmod(self.work, 0o755)          # ejabberd's user walks through it
        self.logdir = os.path.join(self.work, "logs")
        os.makedirs(self.logdir)
        os.chmod(self.logdir, 0o755)
        self.net = net.Net()
        self.dns = None
        self.results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime()),
                        "relay": {}, "fanin": {}, "notes": []}

    def setup(self):
        net.Net.remove_stale()
        self.net.create([X, Y, 5])
        self.net.enter()
        self.dns = net.DNS(self.net, self.work, self.logdir)
        doms = {"x.test": X, "y.test": Y, "home.x.test": X, "home.y.test": Y}
        hosts = {d: (net.Net.ip4(n), net.Net.ip6(n)) for d, n in doms.items()}
        self.dns.publish(hosts, {d: [(d, 5269, 10, 0)] for d in doms})
        self.ca = pki.CA(self.work)
        self.wild = self.ca.issue("*.load.test")
        self.ctx = Ctx(self.net, self.ca, self.work, self.logdir, None,
                       self.build)

    def tool(self, args, name):
        return Tool(self.build, args, self.logdir, name)

    # -- relay --------------------------------------------------------------
    def measured(self, args, name, servers):
        """One relay run; CPU of each server between '#phase measure' and
        '#phase drain', memory (VmRSS, VmHWM) at '#phase drain'."""
        t = self.tool(args, name)
        c0, c1, mem, perf, s0, s1 = {}, {}, {}, None, {}, {}
        for ph in t.phases(120):
            if ph[0] == "measure":
                c0 = {k: cpu_secs(p.pid) for k, p in servers.items()}
                s0 = {k: syscalls(p.pid) for k, p in servers.items()}
                if self.args.perf and name == os.environ.get(
                        "BENCH_PERF_RUN", "s2sd-sat"):
                    perf = Perf(self.logdir, [p.pid for p in servers.values()])
            elif ph[0] == "drain":
                c1 = {k: cpu_secs(p.pid) for k, p in servers.items()}
                s1 = {k: syscalls(p.pid) for k, p in servers.items()}
                mem = {k: mem_kib(p.pid) for k, p in servers.items()}
                if perf:
                    self.results["perf"] = perf.report()
        res = t.wait()
        delivered = res["measure"]["delivered"]
        res["servers"] = {}
        for k in servers:
            cpu = c1.get(k, 0) - c0.get(k, 0)
            res["servers"][k] = {
                "cpu_secs": round(cpu, 3),
                "cpu_per_100k": round(cpu * 1e5 / delivered, 3) if delivered
                else None,
                "syscalls_per_stanza": [
                    round((s1[k][i] - s0[k][i]) / delivered, 3)
                    for i in (0, 1)] if delivered and k in s1 else None,
                "rss_kib": mem.get(k, {}).get("VmRSS"),
                "hwm_kib": mem.get(k, {}).get("VmHWM")}
        return res

    def relay_args(self, x, y):
        return ["relay", "--src", x.comp_addr, "--src-name", x.comp_name,
                "--src-secret", x.comp_secret, "--sink", y.comp_addr,
                "--sink-name", y.comp_name, "--sink-secret", y.comp_secret,
                "--from", x.stanza_domain, "--to", y.stanza_domain]

    def relay_runs(self, base, label, servers):
        a = self.args
        sat = self.measured(base + ["--rate", "0", "--warmup", "2",
                                    "--duration", str(a.sat_secs)],
                            label + "-sat", servers)
        out = {"saturation": sat}
        rate = sat["measure"]["rate"]
        print("  %-9s saturation %.0f stanzas/s (lost %d, stalled %s)" % (
            label, rate, sat["lost"], sat["stalled"]), flush=True)
        if rate > 0:
            lat = self.measured(base + ["--rate", "%.0f" % (rate / 2),
                                        "--window", "1000000", "--warmup", "2",
                                        "--duration", str(a.lat_secs)],
                                label + "-lat", servers)
            out["half_load"] = lat
            L = lat["latency_us"]
            print("  %-9s at %.0f/s: p50 %.2f ms p99 %.2f ms p99.9 %.2f ms" % (
                label, rate / 2, L["p50"] / 1e3, L["p99"] / 1e3,
                L["p999"] / 1e3), flush=True)
            # the stall first: after the overload a server that buffered
            # may still hold a backlog when the next run starts
            if not a.skip_stall and label != "ceiling":
                out["peer_stall"] = self.stall_run(base, label, servers, rate)
            if not a.skip_overload:
                # open loop at 3x saturation: does X push back on its source
                # (bounded memory) or buffer without bound?
                over = self.measured(base + ["--rate", "%.0f" % (rate * 3),
                                             "--window", "1000000000",
                                             "--warmup", "1", "--duration",
                                             str(a.over_secs), "--drain", "5"],
                                     label + "-over", servers)
                out["overload"] = over
                sx = over["servers"]["X"]
                print("  %-9s at 3x (%.0f/s offered, %.0f/s sent): delivered "
                      "%.0f/s, X RSS %.1f MiB (peak %.1f), Y peak %.1f MiB" % (
                          label, rate * 3, over["measure"]["sent"] /
                          max(over["measure"]["secs"], 1e-9),
                          over["measure"]["rate"], sx["rss_kib"] / 1024,
                          sx["hwm_kib"] / 1024,
                          over["servers"]["Y"]["hwm_kib"] / 1024), flush=True)
        return out

    def stall_run(self, base, label, servers, rate):
        """Y stops reading (SIGSTOP) for STALL_SECS while the source goes on
        at 40% of saturation: X must push back on its source or hold what
        it read; its RSS growth is what a stuck peer costs."""
        a = self.args
        t = self.tool(base + ["--rate", "%.0f" % (rate * 0.4), "--window",
                              "1000000000", "--warmup", "0.5", "--duration",
                              str(a.stall_secs + 4), "--drain", "20",
                              "--stall", str(a.stall_secs + 10)],
                      label + "-stall")
        x, y = servers["X"].pid, servers["Y"].pid
        before = peak = None
        for ph in t.phases(120):
            if ph[0] != "measure":
                continue
            time.sleep(1)
            before = mem_kib(x)["VmRSS"]
            os.kill(y, signal.SIGSTOP)
            try:
                time.sleep(a.stall_secs)
                peak = mem_kib(x)["VmRSS"]
            finally:
                os.kill(y, signal.SIGCONT)
        res = t.wait(60)
        out = {"stall_secs": a.stall_secs, "rate": round(rate * 0.4),
               "x_rss_before_kib": before, "x_rss_stalled_kib": peak,
               "sent": res["sent"], "delivered": res["delivered"],
               "bounced": res["bounced"], "lost": res["lost"]}
        if before is not None and peak is not None:
            print("  %-9s Y stopped %gs at %.0f/s: X RSS %.1f -> %.1f MiB; "
                  "delivered %d of %d, bounced %d" % (
                      label, a.stall_secs, rate * 0.4, before / 1024,
                      peak / 1024, res["delivered"], res["sent"],
                      res["bounced"]), flush=True)
        return out

    def relay(self, kind):
        x = peers.make(kind, self.ctx, "x.test", X, "x")
        y = peers.make(kind, self.ctx, "y.test", Y, "y")
        try:
            t0 = time.monotonic()
            x.start()
            y.start()
            print("  %s started (X pid %d, Y pid %d) in %.1fs" % (
                kind, x.proc.pid, y.proc.pid, time.monotonic() - t0), flush=True)
            base = self.relay_args(x, y)
            # the first stanzas open the S2S stream: not part of any figure
            prime = self.tool(base + ["--rate", "50", "--warmup", "0.5",
                                      "--duration", "1.5", "--stall", "10"],
                              kind + "-prime").finish()
            if prime["measure"]["delivered"] == 0:
                raise RuntimeError("%s: nothing crosses X -> Y: %s" % (
                    kind, json.dumps(prime)[:600]))
            self.results["relay"][kind] = self.relay_runs(
                base, kind, {"X": x.proc, "Y": y.proc})
        finally:
            x.shutdown()
            y.shutdown()

    def ceiling(self):
        """The same stanzas through two raw TLS forwarders (X' and Y')."""
        load = load_tool(self.build)
        ycert, ykey = self.ca.issue("y.test")
        ip_x, ip_y = net.Net.ip4(X), net.Net.ip4(Y)
        fy = procs.Proc("fwd-y", [load, "forward", "--listen", ip_y + ":5269",
                                  "--connect", SINK_RAW, "--tls-in", "--cert",
                                  ycert, "--key", ykey],
                        os.path.join(self.logdir, "fwd-y.log")).start()
        fx = procs.Proc("fwd-x", [load, "forward", "--listen", ip_x + ":5347",
                                  "--connect", ip_y + ":5269", "--tls-out"],
                        os.path.join(self.logdir, "fwd-x.log")).start()
        try:
            for p in (fx, fy):
                if not procs.wait_until(lambda: "#phase listening" in open(
                        p.log_path).read(), 5):
                    raise RuntimeError("forwarder %s did not start" % p.name)
            base = ["relay", "--raw", "--src", ip_x + ":5347", "--sink",
                    SINK_RAW, "--from", "x.test", "--to", "y.test"]
            ceil = self.relay_runs(base, "ceiling", {"X": fx, "Y": fy})
            self.results["relay"]["ceiling"] = ceil
            # The floor of the latency figures: the same bytes through
            # the forwarders at the rate s2sd's half-load run used (the
            # tool, the scheduler and TLS alone, no XMPP server).
            half = self.results["relay"].get("s2sd", {}).get("half_load")
            rate = half and half.get("measure", {}).get("rate")
            if rate:
                r = self.measured(base + ["--rate", "%.0f" % rate,
                                          "--window", "1000000",
                                          "--warmup", "2", "--duration",
                                          str(self.args.lat_secs)],
                                  "ceiling-at-s2sd", {"X": fx, "Y": fy})
                ceil["at_s2sd_half_load"] = r
                L = r["latency_us"]
                print("  ceiling   at %.0f/s (s2sd's half load): p50 %.2f "
                      "ms p99 %.2f ms p99.9 %.2f ms" % (
                          rate, L["p50"] / 1e3, L["p99"] / 1e3,
                          L["p999"] / 1e3), flush=True)
        finally:
            fx.stop(3)
            fy.stop(3)

    # -- fan-in -------------------------------------------------------------
    def fanin(self, kind):
        a = self.args
        x = peers.make(kind, self.ctx, "x.test", X, "x")
        t0 = time.monotonic()
        x.start()
        print("  %s started (pid %d) in %.1fs" % (kind, x.proc.pid,
                                                  time.monotonic() - t0), flush=True)
        steps, cpu0 = [], None
        try:
            wc, wk = self.wild
            t = self.tool(["fanin", "--target", "%s:5269" % x.ip4, "--to",
                           x.stanza_domain, "--cert", wc, "--key", wk,
                           "--sink", x.comp_addr, "--sink-name", x.comp_name,
                           "--sink-secret", x.comp_secret, "--steps",
                           a.fanin_steps, "--sources", FAN_SOURCES,
                           "--source-count", str(FAN_SOURCE_COUNT),
                           "--concurrency", str(a.concurrency),
                           "--step-timeout", str(a.step_timeout),
                           "--duration", str(a.fan_secs)], kind + "-fanin")
            for ph in t.phases(1200):
                if ph[0] == "idle":
                    cpu_srv, cpu_tool = cpu_secs(x.proc.pid), cpu_secs(t.pid)
                    time.sleep(a.settle)
                    m = mem_kib(x.proc.pid)
                    kv = dict(w.split("=", 1) for w in ph[2:] if "=" in w)
                    steps.append({"target": int(ph[1]), "rss_kib": m["VmRSS"],
                                  "established": int(kv.get("established", 0)),
                                  "cpu_server": cpu_srv, "cpu_tool": cpu_tool,
                                  "timed_out": "timed-out" in ph})
                    print("  %-9s %5d idle streams (%s established): RSS %.1f MiB"
                          % (kind, int(ph[1]), kv.get("established"),
                             m["VmRSS"] / 1024), flush=True)
                    t.send("next")
                elif ph[0] == "measure":
                    cpu0 = cpu_secs(x.proc.pid)
            cpu1 = cpu_secs(x.proc.pid)
            res = t.wait()
            res["rss_steps"] = steps
            res["hwm_kib"] = mem_kib(x.proc.pid)["VmHWM"]
            d = res["active"]["delivered"]
            if cpu0 is not None and d:
                res["active"]["cpu_per_100k"] = round((cpu1 - cpu0) * 1e5 / d, 3)
            hs = [s["handshakes_per_s"] for s in res["steps"]]
            print("  %-9s handshakes/s %s; %d streams active: %.0f stanzas/s"
                  % (kind, ", ".join("%.0f" % h for h in hs),
                     res["active"]["streams"], res["active"]["rate"]), flush=True)
            self.results["fanin"][kind] = res
        finally:
            x.shutdown()

    # -- the whole run ------------------------------------------------------
    def run(self):
        kinds = self.args.only
        if not self.args.skip_relay:
            for k in kinds:
                print("== relay %s -> %s" % (k, k), flush=True)
                self.guard(self.relay, k, "relay")
            print("== relay ceiling: raw TLS forwarders", flush=True)
            self.guard(lambda _k: self.ceiling(), "ceiling", "relay")
        if not self.args.skip_fanin:
            for k in kinds:
                print("== fan-in into %s" % k, flush=True)
                self.guard(self.fanin, k, "fanin")

    def guard(self, fn, kind, section):
        """A peer that fails is reported in the table, not fatal."""
        try:
            fn(kind)
        except Exception as e:
            print("  %s %s FAILED: %s" % (section, kind, e), flush=True)
            self.results[section][kind] = {"error": str(e)[:2000]}

    def cleanup(self):
        procs.stop_all()
        if self.dns:
            self.dns.stop()
        self.net.remove()
        keep = os.path.join(self.build, "bench-logs")
        import shutil
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(self.logdir, keep)
        shutil.rmtree(self.work, ignore_errors=True)
        return keep


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--only", default="s2sd,prosody,ejabberd",
                    help="comma-separated: s2sd,prosody,ejabberd")
    ap.add_argument("--skip-relay", action="store_true")
    ap.add_argument("--skip-fanin", action="store_true")
    ap.add_argument("--fanin-steps", default="1000,10000")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--step-timeout", type=float, default=150)
    ap.add_argument("--sat-secs", type=float, default=15)
    ap.add_argument("--lat-secs", type=float, default=10)
    ap.add_argument("--fan-secs", type=float, default=10)
    ap.add_argument("--over-secs", type=float, default=8)
    ap.add_argument("--skip-overload", action="store_true")
    ap.add_argument("--stall-secs", type=float, default=4)
    ap.add_argument("--skip-stall", action="store_true")
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--perf", action="store_true",
                    help="perf record s2sd during its saturation run")
    ap.add_argument("--quick", action="store_true",
                    help="short runs and 1000 streams (a smoke test)")
    a = ap.parse_args(argv)
    a.only = [k for k in a.only.split(",") if k]
    if a.quick:
        a.fanin_steps = a.fanin_steps if a.fanin_steps != "1000,10000" \
            else "200,1000"
        a.sat_secs, a.lat_secs, a.fan_secs, a.over_secs = 4, 3, 3, 3
        a.settle = 1
    return a


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (network namespace, ejabberd's user)")
        return 2
    # 10,000 streams: the tool, and the servers it starts, need the fds
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    b = Bench(args)
    t0 = time.monotonic()
    status = 0
    try:
        b.setup()
        b.run()
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up")
        status = 130
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("bench: set-up failed: %s" % e)
        status = 2
    finally:
        logs = b.cleanup()
    b.results["secs"] = round(time.monotonic() - t0, 1)
    os.makedirs(os.path.join(SRC, "bench", "results"), exist_ok=True)
    out = os.path.join(SRC, "bench", "results", "bench-%s.json"
                       % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w") as f:
        json.dump(b.results, f, indent=1)
    print(table.render(b.results, args))
    print("results: %s\nlogs: %s\nduration: %.0f s" % (out, logs,
                                                       b.results["secs"]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
