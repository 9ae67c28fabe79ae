"""The table `make bench` prints: absolute figures per server, the ratios
s2sd/Prosody and s2sd/ejabberd, and the issue's target for s2sd."""

PEERS = ["s2sd", "prosody", "ejabberd"]


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    return d


def _fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        s = "%.0f" % v
    elif abs(v) >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + unit


def _ratio(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) \
            or b == 0:
        return "-"
    return "%.2fx" % (a / b)


def _sys(v):
    return None if not v else "%.2f+%.2f" % (v[0], v[1])


def _growth(R, k):
    st = _get(R, k, "peer_stall")
    if not st or st.get("x_rss_stalled_kib") is None:
        return None
    return (st["x_rss_stalled_kib"] - st["x_rss_before_kib"]) / 1024.0


def relay_rows(res):
    R = res["relay"]

    def sat(k, *p):
        return _get(R, k, "saturation", *p)

    def lat(k, q):
        v = _get(R, k, "half_load", "latency_us", q)
        return None if v is None else v / 1000.0

    def mib(v):
        return None if v is None else v / 1024.0
    rows = [
        ("relay stanzas/s at saturation", lambda k: sat(k, "measure", "rate"),
         ">= 10x Prosody"),
        ("latency p50 at 50% (ms)", lambda k: lat(k, "p50"), ""),
        ("latency p99 at 50% (ms)", lambda k: lat(k, "p99"), "< 2 ms"),
        ("latency p99.9 at 50% (ms)", lambda k: lat(k, "p999"), ""),
        ("CPU s / 100k stanzas, X (sender)",
         lambda k: sat(k, "servers", "X", "cpu_per_100k"), "<= 0.5 s"),
        ("CPU s / 100k stanzas, Y (receiver)",
         lambda k: sat(k, "servers", "Y", "cpu_per_100k"), "<= 0.5 s"),
        ("syscalls/stanza X (read+write)",
         lambda k: _sys(sat(k, "servers", "X", "syscalls_per_stanza")), ""),
        ("syscalls/stanza Y (read+write)",
         lambda k: _sys(sat(k, "servers", "Y", "syscalls_per_stanza")), ""),
        ("peak RSS X at saturation (MiB)",
         lambda k: mib(sat(k, "servers", "X", "hwm_kib")), ""),
        ("peak RSS Y at saturation (MiB)",
         lambda k: mib(sat(k, "servers", "Y", "hwm_kib")), ""),
        ("overload 3x: delivered stanzas/s",
         lambda k: _get(R, k, "overload", "measure", "rate"), ""),
        ("overload 3x: peak RSS X (MiB)",
         lambda k: mib(_get(R, k, "overload", "servers", "X", "hwm_kib")),
         "bounded"),
        ("overload 3x: peak RSS Y (MiB)",
         lambda k: mib(_get(R, k, "overload", "servers", "Y", "hwm_kib")),
         "bounded"),
        ("Y stalled 4 s: X RSS growth (MiB)", lambda k: _growth(R, k),
         "bounded"),
        ("Y stalled: delivered / bounced / lost",
         lambda k: None if _get(R, k, "peer_stall", "sent") is None else
         "%d/%d/%d" % tuple(R[k]["peer_stall"][f] for f in
                            ("delivered", "bounced", "lost")), ""),
        ("stanzas lost / bounced (saturation)",
         lambda k: None if sat(k, "lost") is None else "%d / %d" % (
             sat(k, "lost"), sat(k, "bounced")), "0 / 0"),
    ]
    return rows


def fanin_rows(res):
    F = res["fanin"]

    def step_rss(k, i):
        steps = _get(F, k, "rss_steps")
        if not steps or len(steps) <= i:
            return None
        s = steps[i]
        v = s["rss_kib"] / 1024.0
        if s["established"] < s["target"]:
            return "%.1f (%d up)" % (v, s["established"])
        return v

    def per_stream(k):
        steps = _get(F, k, "rss_steps")
        if not steps or len(steps) < 3:
            return None
        a, b = steps[-2], steps[-1]
        n = b["established"] - a["established"]
        return (b["rss_kib"] - a["rss_kib"]) / n if n > 0 else None

    def hs(k):
        st = _get(F, k, "steps")
        return st[-1]["handshakes_per_s"] if st else None

    def n_label(i):
        steps = next((F[k]["rss_steps"] for k in PEERS
                      if _get(F, k, "rss_steps")), None)
        return steps[i]["target"] if steps and len(steps) > i else "?"
    rows = [("RSS with 0 streams (MiB)", lambda k: step_rss(k, 0), "")]
    for i in (1, 2):
        rows.append(("RSS with %s idle streams (MiB)" % n_label(i),
                     lambda k, i=i: step_rss(k, i),
                     "< 512 MiB" if i == 2 else ""))
    def hs_cpu(k, who):
        steps = _get(F, k, "rss_steps")
        if not steps or len(steps) < 2:
            return None
        a, b = steps[0], steps[-1]
        n = b["established"] - a["established"]
        return 1000.0 * (b[who] - a[who]) / n if n > 0 else None
    rows += [
        ("memory per idle TLS stream (KiB)", per_stream, "<= 24 KiB"),
        ("inbound handshakes/s (last step)", hs, ">= 3x Prosody"),
        ("server CPU ms per inbound handshake",
         lambda k: hs_cpu(k, "cpu_server"), ""),
        ("(load tool CPU ms per handshake)",
         lambda k: hs_cpu(k, "cpu_tool"), ""),
        ("stanzas/s with all streams active",
         lambda k: _get(F, k, "active", "rate"), ""),
        ("CPU s / 100k stanzas (fan-in)",
         lambda k: _get(F, k, "active", "cpu_per_100k"), ""),
        ("streams failed / dropped",
         lambda k: None if _get(F, k, "failed") is None else "%d / %d" % (
             F[k]["failed"], F[k]["dropped_later"]), ""),
    ]
    return rows


def render(res, args=None):
    head = "%-38s %12s %12s %12s %10s %10s  %s" % (
        "", "s2sd", "Prosody", "ejabberd", "s2sd/Pros", "s2sd/ejab", "target")
    out = ["", "== make bench: s2sd against Prosody 0.12 and ejabberd 23.01",
           "   relay X -> Y over S2S with STARTTLS + SASL EXTERNAL; limits "
           "raised: Prosody without mod_limits,",
           "   ejabberd without shapers and with an S2S backlog of 1024; s2sd "
           "max_connections 30000, per address 2000,",
           "   its per-domain inbound rate limit off (in_rate_stanzas/bytes "
           "= 0); XEP-0198 on where the peers support it", head,
           "-" * len(head)]
    for title, rows in (("relay", relay_rows(res)), ("fan-in", fanin_rows(res))):
        out.append("[%s]" % title)
        for name, fn, target in rows:
            vals = [fn(k) for k in PEERS]
            out.append("%-38s %12s %12s %12s %10s %10s  %s" % (
                name, _fmt(vals[0]), _fmt(vals[1]), _fmt(vals[2]),
                _ratio(vals[0], vals[1]), _ratio(vals[0], vals[2]), target))
    ceil = _get(res, "relay", "ceiling", "saturation", "measure", "rate")
    s2 = _get(res, "relay", "s2sd", "saturation", "measure", "rate")
    out.append("raw TLS byte relay (ceiling): %s stanzas/s; s2sd reaches %s of it"
               % (_fmt(ceil), "%.0f%%" % (100.0 * s2 / ceil) if ceil and s2
                  else "-"))
    fl = _get(res, "relay", "ceiling", "at_s2sd_half_load")
    if fl and _get(fl, "latency_us", "p99") is not None:
        L = fl["latency_us"]
        out.append("raw TLS byte relay at s2sd's half load (%s/s), the "
                   "latency floor: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms"
                   % (_fmt(_get(fl, "measure", "rate")), L["p50"] / 1e3,
                      L["p99"] / 1e3, L["p999"] / 1e3))
    for sec in ("relay", "fanin"):
        for k, v in sorted(res.get(sec, {}).items()):
            if isinstance(v, dict) and "error" in v:
                out.append("%s %s: FAILED: %s" % (sec, k, v["error"][:300]))
            err = _get(v, "first_error")
            if err:
                out.append("%s %s: first stream failure: %s" % (sec, k, err))
            for run in ("saturation", "half_load"):
                b = _get(v, run, "bounce_sample")
                if b:
                    out.append("%s %s %s: bounce: %s" % (sec, k, run, b[:200]))
    if res.get("perf"):
        out.append("perf: s2sd X and Y during the saturation run, top symbols "
                   "by self time:")
        out += ["  " + l.strip() for l in res["perf"]]
    return "\n".join(out)
