#!/usr/bin/python3
"""The README's walkthrough: two s2sd nodes on this machine, a.test and
b.test, each with a home node attached, a DNS server publishing their SRV
records and certificates from a throw-away CA (tests/integration/fedlib.py
does the set-up; everything runs on 127.0.0.1 and is stopped on exit).

Commands at the demo> prompt (also read from a pipe, one a line):
  send FROM TO TEXT     a message from FROM's home node; says what happened
  s2sctl a|b ARGS...    run s2sctl against node a or b
  policy a|b LINE       add LINE to the node's policy file (applied at once)
  log a|b [N]           the last N (10) lines of the node's log
  help                  this list
  quit                  stop everything
"""
import itertools
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("S2SD", os.path.join(SRC, "build", "s2sd"))
os.environ.setdefault("S2SD_SRC", SRC)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from fedlib import Env, S2sd, fields, wait_for  # noqa: E402

S2SCTL = os.environ.get("S2SCTL", os.path.join(SRC, "build", "s2sctl"))
ids = itertools.count(1)


def cmd_send(nodes, homes, args):
    if len(args) < 3:
        print("usage: send FROM TO TEXT")
        return
    frm, to, text = args[0], args[1], " ".join(args[2:])
    src = "a" if frm.endswith("a.test") else "b"
    dst = "b" if src == "a" else "a"
    mid = "demo-%d" % next(ids)
    homes[src].message(frm, to, mid, text)

    def ours(e):
        return e.startswith("RECV message") and fields(e).get("id") == mid
    got = homes[dst].expect(ours, 3)
    if got is not None:
        f = fields(got)
        print("%s.test's home node received a message from %s to %s: %s"
              % (dst, f.get("from"), f.get("to"), f.get("body")))
        return
    back = homes[src].expect(ours, 7)
    if back is not None and fields(back).get("type") == "error":
        print("%s.test's home node got the message back as an error: %s"
              % (src, fields(back).get("error")))
    else:
        print("nothing arrived yet (see: log %s)" % src)


def cmd_s2sctl(nodes, args):
    if len(args) < 2 or args[0] not in nodes:
        print("usage: s2sctl a|b ARGS...")
        return
    r = subprocess.run([S2SCTL, "-c", nodes[args[0]].conf] + args[1:],
                       capture_output=True, text=True, timeout=60)
    sys.stdout.write(r.stdout + r.stderr)
    if r.returncode != 0:
        print("(exit status %d)" % r.returncode)


def cmd_policy(nodes, args):
    if len(args) < 2 or args[0] not in nodes:
        print("usage: policy a|b LINE")
        return
    n = nodes[args[0]]
    with open(n.policy) as f:
        text = f.read()
    before = n.log().count("policy reloaded")
    n.write_policy(text + " ".join(args[1:]) + "\n")
    if wait_for(lambda: n.log().count("policy reloaded") > before, 5):
        print("%s: policy reloaded:" % args[0])
        with open(n.policy) as f:
            sys.stdout.write("".join("  " + x for x in f))
    else:
        print("%s: the policy was not reloaded: see log %s" % (args[0],
                                                              args[0]))


def cmd_log(nodes, args):
    if not args or args[0] not in nodes:
        print("usage: log a|b [N]")
        return
    n = int(args[1]) if len(args) > 1 else 10
    sys.stdout.write("".join(nodes[args[0]].log().splitlines(True)[-n:]))


def repl(nodes, homes):
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write("demo> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return
        words = shlex.split(line, comments=True)
        if not interactive and words:
            print("demo> " + line.strip())
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd == "quit":
            return
        elif cmd == "send":
            cmd_send(nodes, homes, args)
        elif cmd == "s2sctl":
            cmd_s2sctl(nodes, args)
        elif cmd == "policy":
            cmd_policy(nodes, args)
        elif cmd == "log":
            cmd_log(nodes, args)
        else:
            print(__doc__[__doc__.index("Commands"):].rstrip())
        sys.stdout.flush()


def main():
    env = Env()
    try:
        a = S2sd(env, "a", ["a.test"])
        b = S2sd(env, "b", ["b.test"])
        env.dns(srv=a.srv_records() + b.srv_records(),
                hosts=a.host_records() + b.host_records())
        a.start(), b.start()
        nodes = {"a": a, "b": b}
        homes = {"a": a.home(), "b": b.home()}
        print("nodes a.test and b.test are running (files in %s); type "
              "help for the commands" % env.dir)
        repl(nodes, homes)
        for h in homes.values():
            h.quit()
        for n in nodes.values():
            n.stop()
        print("stopped")
    finally:
        env.close()


if __name__ == "__main__":
    main()
