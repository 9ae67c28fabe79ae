"""Progress lines, the results table and the failure report."""


def _dirs(d):
    if not d:
        return "-"
    return "/".join(str(d.get(k, "-")) for k in ("out", "in"))


def _remote(res):
    rv = res.remote_view
    if not rv:
        return "-"
    return "/".join("%s,%s" % rv[k] if k in rv else "-" for k in ("out", "in"))


def line(res):
    s = "  %-12s %-28s %5.1fs" % (res.status, res.name, res.seconds)
    if res.auth or res.wire:
        s += "  auth %s  tls %s  wire %s" % (_dirs(res.auth), _dirs(res.tls),
                                             _dirs(res.wire))
    if res.why:
        s += "\n      at: %s\n      why: %s" % (res.failed_step, res.why)
    for n in res.notes:
        s += "\n      note: %s" % n
    return s


def ordered(results):
    """By pair (in the order they were made), scenario number, mode."""
    from .modes import ALL
    return sorted(results, key=lambda r: (r.pair.order, r.scenario[:1],
                                          ALL.index(r.mode)))


def table(results):
    head = ("pair (L-R)", "scenario", "result", "auth L out/in", "TLS L out/in",
            "TLS wire out/in", "R's view out/in", "notes")
    rows = [head]
    for r in ordered(results):
        rows.append((r.pair.label, r.scenario, r.status, _dirs(r.auth),
                     _dirs(r.tls), _dirs(r.wire), _remote(r),
                     "; ".join(r.notes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    out = []
    for i, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        if i == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-----")
    return "\n".join(out)


def final(results, logs, seconds, interrupted=False):
    fails = [r for r in results if r.status == "FAIL"]
    for r in fails:
        print("\n--- FAILED %s (mode %s)" % (r.name, r.mode.key))
        for ok, text in r.steps:
            print("    %s %s" % ("ok  " if ok else "FAIL", text))
        for e in r.evidence:
            print("      | " + e)
    print("\n=== results (L = the server under test, R = its peer; out = L->R)")
    print(table(results))
    n = {}
    for r in results:
        n[r.status] = n.get(r.status, 0) + 1
    print("\n%d scenarios%s: %s; %.0fs; logs kept in %s" % (
        len(results), " (INTERRUPTED: the rest did not run)" if interrupted else "",
        ", ".join("%d %s" % (v, k) for k, v in sorted(n.items())), seconds, logs))
    # The plain closing line test runners read; a peer's own documented
    # limitation or refusal counts as passed (it is not s2sd's failure).
    passed = sum(v for k, v in n.items()
                 if k in ("PASS", "PEER-REFUSED", "PEER-LIMIT"))
    print("interop: %d passed, %d failed" % (passed, len(results) - passed))
