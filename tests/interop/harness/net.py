"""The test network: a network namespace with extra loopback addresses and
its own resolv.conf, and a dnsmasq in it serving the harness's records."""
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import time

from . import procs

CLONE_NEWNET = 0x40000000
ULA = "fd5d:2a5d:7e57::"      # addresses of the namespace's lo: ULA + N


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


class Net:
    """Namespace `s2sdtest<pid>`. Host N (2..250) has 127.0.0.N and ULA::N.
    The DNS server is at 127.0.0.1. `enter()` moves the calling thread (call
    it before any thread starts) into the namespace so that the harness's
    clients reach the servers; `remove()` goes back and deletes everything."""

    def __init__(self, name=None):
        self.name = name or "s2sdtest%d" % os.getpid()
        self.etc = "/etc/netns/" + self.name
        self.created = False
        self._home_fd = None

    @staticmethod
    def ip4(n):
        return "127.0.0.%d" % n

    @staticmethod
    def ip6(n):
        return "%s%x" % (ULA, n)

    def create(self, hosts):
        procs.run(["ip", "netns", "add", self.name])
        self.created = True
        ns = ["ip", "-n", self.name]
        procs.run(ns + ["link", "set", "lo", "up"])
        for n in hosts:
            procs.run(ns + ["addr", "add", self.ip4(n) + "/32", "dev", "lo"])
            procs.run(ns + ["addr", "add", self.ip6(n) + "/128", "dev", "lo",
                            "nodad"])
        os.makedirs(self.etc, exist_ok=True)
        with open(self.etc + "/resolv.conf", "w") as f:
            f.write("# s2sd interop test namespace\nnameserver 127.0.0.1\n"
                    "options timeout:1 attempts:2\n")
        with open(self.etc + "/hosts", "w") as f:
            # Erlang looks up this host's name: answer it here, not by DNS
            f.write("127.0.0.1 localhost %s\n::1 localhost ip6-localhost\n"
                    % socket.gethostname())

    def enter(self):
        self._home_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)

    def leave(self):
        if self._home_fd is not None:
            _setns(self._home_fd)
            os.close(self._home_fd)
            self._home_fd = None

    @staticmethod
    def remove_stale():
        """Namespaces of earlier runs whose harness process is gone (killed
        with SIGKILL): delete them and what still runs in them."""
        cp = procs.run(["ip", "netns", "list"], check=False)
        for line in cp.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            pid = name[len("s2sdtest"):]
            if name.startswith("s2sdtest") and pid.isdigit() and \
                    not os.path.exists("/proc/" + pid):
                print("removing the namespace %s left by an earlier run" % name)
                stale = Net(name)
                stale.created = True
                stale.remove()

    def leftover_pids(self):
        cp = procs.run(["ip", "netns", "pids", self.name], check=False)
        me = os.getpid()
        return [int(p) for p in cp.stdout.split() if p.isdigit() and int(p) != me]

    def remove(self):
        """Kill what still runs in the namespace (by PID: only the harness
        starts processes there), delete it and its /etc/netns directory."""
        self.leave()
        if self.created:
            for pid in self.leftover_pids():
                print("cleanup: pid %d still in %s, killing it" % (pid, self.name))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            procs.run(["ip", "netns", "del", self.name], check=False)
            self.created = False
        shutil.rmtree(self.etc, ignore_errors=True)


class DNS:
    """dnsmasq-base in the namespace on 127.0.0.1:53, authoritative for the
    zone `test`: NXDOMAIN for every name it was not given, TTL 0 so records
    can change between scenarios. `publish()` restarts it with new records."""

    def __init__(self, net, workdir, logdir):
        self.net = net
        self.conf = os.path.join(workdir, "dnsmasq.conf")
        self.log = procs.LogFile(os.path.join(logdir, "dnsmasq.log"))
        self.proc = None
        self.hosts = {}
        self.srv = {}

    def publish(self, hosts, srv):
        """hosts: name -> (ipv4, ipv6 or None). srv: domain -> list of
        (target, port, priority, weight) for _xmpp-server._tcp.DOMAIN."""
        self.hosts, self.srv = dict(hosts), {d: list(t) for d, t in srv.items()}
        lines = ["no-resolv", "no-hosts", "local=/test/", "local-ttl=0",
                 "listen-address=127.0.0.1", "bind-interfaces", "port=53",
                 "user=root", "log-queries", "log-facility=" + self.log.path]
        for name, (v4, v6) in sorted(self.hosts.items()):
            lines.append("host-record=%s,%s%s" % (name, v4, "," + v6 if v6 else ""))
        for dom, targets in sorted(self.srv.items()):
            for target, port, prio, weight in targets:
                lines.append("srv-host=_xmpp-server._tcp.%s,%s,%d,%d,%d"
                             % (dom, target, port, prio, weight))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.stop()
        self.proc = procs.Proc("dnsmasq", ["dnsmasq", "--keep-in-foreground",
                                           "--conf-file=" + self.conf],
                               self.log.path + ".out", netns=self.net.name)
        self.proc.start()
        if not procs.wait_until(self._answers, 5):
            raise RuntimeError("dnsmasq does not answer on 127.0.0.1:53 (see %s)"
                               % self.log.path)
        for dom in self.srv:
            got = query("_xmpp-server._tcp." + dom, 33)
            if got[0] != 0 or got[1] != len(self.srv[dom]):
                raise RuntimeError("dnsmasq SRV for %s: rcode %d, %d answers"
                                   % (dom, got[0], got[1]))

    def _answers(self):
        if not self.proc.alive():
            raise RuntimeError("dnsmasq exited with %s (see %s.out)"
                               % (self.proc.exit_status(), self.log.path))
        try:
            rcode, _ = query("nonexistent.test", 1, timeout=0.2)
            return rcode == 3
        except OSError:
            return False

    def stop(self):
        if self.proc:
            self.proc.stop(3)
            self.proc = None


def query(name, qtype, server="127.0.0.1", timeout=1.0):
    """One UDP DNS query (the harness runs in the namespace). Returns
    (rcode, answer count); enough to check what dnsmasq publishes."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (server, 53))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                flags, _, ancount = struct.unpack(">HHH", data[2:8])
                return flags & 0xF, ancount
        raise socket.timeout("no answer")
    finally:
        s.close()
