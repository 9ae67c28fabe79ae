"""Processes started by the harness: each one in the test network namespace,
its output in its own log file, stopped by PID (SIGTERM, then SIGKILL)."""
import os
import signal
import socket
import subprocess
import time

# Every process started and not yet reaped, so that cleanup can stop them all
# (by PID) whatever went wrong.
LIVE = []


class Proc:
    """One child process. `argv` runs under `ip netns exec NETNS` when a
    namespace is given, so it sees /etc/netns/NETNS/resolv.conf."""

    def __init__(self, name, argv, log_path, netns=None, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.netns = netns
        self.env = env
        self.cwd = cwd
        self.popen = None
        self.terminating = False

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def start(self):
        argv = self.argv
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        env = dict(os.environ)
        env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            log.write(("==== %s start: %s\n" % (time.strftime("%H:%M:%S"),
                                                " ".join(argv))).encode())
            log.flush()
            # A session of its own: Ctrl-C on the harness does not reach it;
            # the harness stops it itself, by PID.
            self.popen = subprocess.Popen(argv, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL, env=env,
                                          cwd=self.cwd, start_new_session=True)
        LIVE.append(self)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def exit_status(self):
        return None if self.popen is None else self.popen.poll()

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def terminate(self):
        """SIGTERM once, without waiting (stop() then waits)."""
        if self.popen is not None and self.popen.poll() is None and \
                not self.terminating:
            self.terminating = True
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10.0):
        """SIGTERM (unless terminate() sent it), wait up to `timeout`, then
        SIGKILL. Returns the exit status (negative: killed by that signal)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        if self in LIVE:
            LIVE.remove(self)
        return self.popen.returncode


def stop_all():
    for p in list(reversed(LIVE)):
        try:
            p.stop(timeout=8)
        except Exception as e:  # keep stopping the others
            print("cleanup: stopping %s (pid %s): %s" % (p.name, p.pid, e))


def run(argv, netns=None, timeout=60, check=True, env=None):
    """Run a short command to completion; returns CompletedProcess (text)."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + list(argv)
    e = dict(os.environ)
    e.update(env or {})
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                        env=e, stdin=subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(argv), cp.returncode,
                                                 cp.stdout, cp.stderr))
    return cp


def port_open(host, port, timeout=0.3):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


class LogFile:
    """A log written by a server; `mark()` remembers the current end so that
    `since_mark()` returns only what a scenario caused."""

    def __init__(self, path):
        self.path = path
        self.pos = 0

    def size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def mark(self):
        self.pos = self.size()
        return self.pos

    def read(self, start=0):
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def since_mark(self):
        return self.read(self.pos if self.size() >= self.pos else 0)

    def tail(self, n=40):
        return self.read().splitlines()[-n:]
