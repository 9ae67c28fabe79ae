"""Federation test kit: real s2sd processes on loopback, a real DNS server
(dnsmasq) publishing their SRV records, certificates from a test CA made
at run time (GnuTLS certtool), and real XEP-0114 home nodes (slixmpp, via
tests/data/router/home_node.py). Every process is started here and stopped
by PID, also when a test fails. Loopback only."""
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

S2SD = os.environ.get("S2SD", "build/s2sd")
SRC = os.environ.get("S2SD_SRC", ".")
HOME_NODE = os.path.join(SRC, "tests", "data", "router", "home_node.py")


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Checks:
    """ok/FAIL lines and an exit status."""

    def __init__(self):
        self.failures = []

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def finish(self, env=None):
        if self.failures and env is not None:
            env.dump_logs()
        print("%d failed" % len(self.failures) if self.failures else "all ok")
        sys.exit(1 if self.failures else 0)


class Env:
    """The temporary directory, the CA, the DNS server and every process."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="s2sd-fed-")
        self.procs = []
        self.servers = []
        self.dns_proc = None
        self.dns_port = free_port(socket.SOCK_DGRAM)
        self.trust = os.path.join(self.dir, "trust")
        os.mkdir(self.trust)
        self._ca()

    # -- certificates ----------------------------------------------------
    def _certtool(self, *args):
        subprocess.run(["certtool"] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _template(self, name, lines):
        path = os.path.join(self.dir, name + ".tmpl")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _ca(self):
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_crt = os.path.join(self.trust, "ca.pem")
        t = self._template("ca", ['cn = "s2sd test CA"', "ca",
                                  "cert_signing_key", "expiration_days = 2"])
        self._certtool("--generate-privkey", "--key-type=ecdsa",
                       "--outfile", self.ca_key)
        self._certtool("--generate-self-signed", "--load-privkey", self.ca_key,
                       "--template", t, "--outfile", self.ca_crt)

    def cert(self, domains, trusted=True, name=None):
        """A certificate for DOMAINS (DNS-ID and XmppAddr); signed by the
        test CA when TRUSTED, else self-signed. Returns (crt, key)."""
        name = name or domains[0] + ("" if trusted else "-untrusted")
        key = os.path.join(self.dir, name + ".key")
        crt = os.path.join(self.dir, name + ".crt")
        lines = ['cn = "%s"' % domains[0], "tls_www_server", "tls_www_client",
                 "signing_key", "encryption_key", "expiration_days = 2"]
        lines += ["dns_name = %s" % d for d in domains]
        lines += ["xmpp_name = %s" % d for d in domains]
        t = self._template(name, lines)
        self._certtool("--generate-privkey", "--key-type=ecdsa",
                       "--outfile", key)
        if trusted:
            self._certtool("--generate-certificate", "--load-privkey", key,
                           "--load-ca-certificate", self.ca_crt,
                           "--load-ca-privkey", self.ca_key, "--template", t,
                           "--outfile", crt)
        else:
            self._certtool("--generate-self-signed", "--load-privkey", key,
                           "--template", t, "--outfile", crt)
        os.chmod(key, 0o600)
        return crt, key

    # -- DNS -------------------------------------------------------------
    def dns(self, srv=(), hosts=(), nxdomain_zone="test"):
        """(Re)start dnsmasq with SRV records (service, domain, target, port,
        prio) and host records (name, ip)."""
        self.stop_dns()
        args = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--bind-interfaces",
                "--listen-address=127.0.0.1", "--port=%d" % self.dns_port,
                "--user=root" if os.geteuid() == 0 else "--user=",
                "--local=/%s/" % nxdomain_zone, "--local-ttl=0"]
        for service, domain, target, port, prio in srv:
            args.append("--srv-host=_%s._tcp.%s,%s,%d,%d,10"
                        % (service, domain, target, port, prio))
        for name, ip in hosts:
            args.append("--host-record=%s,%s" % (name, ip))
        log = open(os.path.join(self.dir, "dnsmasq.log"), "w")
        self.dns_proc = subprocess.Popen(args, stdout=log, stderr=log)
        time.sleep(0.3)

    def stop_dns(self):
        if self.dns_proc is not None:
            self.dns_proc.terminate()
            self.dns_proc.wait()
            self.dns_proc = None

    # -- teardown --------------------------------------------------------
    def dump_logs(self):
        for srv in self.servers:
            print("---- log of s2sd %s (last 40 lines) ----" % srv.name)
            for line in srv.log().splitlines()[-40:]:
                print("    " + line)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.stop_dns()
        subprocess.run(["rm", "-rf", self.dir])


class S2sd:
    """One s2sd process serving DOMAINS (the first is its main domain)."""

    def __init__(self, env, name, domains, security="required",
                 valid_certs=True, secret="dialback-secret", policy=None,
                 trusted_cert=True, homes=("node1",), directory=None,
                 extra="", direct_tls=False):
        self.env = env
        self.name = name
        self.domains = list(domains)
        self.port = free_port()
        self.direct_port = free_port() if direct_tls else None
        self.comp_port = free_port()
        self.metrics_port = free_port()
        self.dir = os.path.join(env.dir, name)
        os.mkdir(self.dir)
        self.logfile = os.path.join(self.dir, "s2sd.log")
        self.policy = os.path.join(self.dir, "policy")
        self.write_policy(policy or "default allow\n")
        self.homes = {h: "secret-%s-%s" % (name, h) for h in homes}
        with open(os.path.join(self.dir, "directory"), "w") as f:
            f.write(directory or "".join("%s %s\n" % (d, homes[0])
                                         for d in domains))
        self.control = os.path.join(self.dir, "control.sock")
        conf = ["[general]", "control_socket = %s" % self.control]
        # As root s2sd refuses to start without a user to run as; the
        # tests keep root explicitly (their files are root's).
        if os.geteuid() == 0:
            conf.append("user = root")
        conf += [
                "[log]", "file = %s" % self.logfile,
                "level = debug",
                "[domains]", "im = %s" % " ".join(domains),
                "[federation]", "listen = 127.0.0.1:%d" % self.port]
        if direct_tls:
            conf.append("direct_tls_listen = 127.0.0.1:%d" % self.direct_port)
        conf += [
                "security = %s" % security,
                "require_valid_certs = %s" % ("yes" if valid_certs else "no")]
        if secret:
            path = os.path.join(self.dir, "dialback.secret")
            with open(path, "w") as f:
                f.write(secret + "-" + name + "\n")
            os.chmod(path, 0o600)
            conf.append("dialback_secret_file = %s" % path)
        if security != "none":
            crt, key = env.cert(domains, trusted=trusted_cert,
                                name=name + ("" if trusted_cert else "-self"))
            conf += ["[tls]", "cert_files = %s" % crt, "key_files = %s" % key,
                     "trust_dir = %s" % env.trust]
        conf += ["[dns]", "servers = 127.0.0.1:%d" % env.dns_port,
                 "timeout = 1s", "tries = 1",
                 "[components]", "listen = 127.0.0.1:%d" % self.comp_port,
                 "[metrics]", "listen = 127.0.0.1:%d" % self.metrics_port,
                 "[files]", "policy = %s" % self.policy,
                 "directory = %s" % os.path.join(self.dir, "directory"),
                 "[limits]", "connect_timeout = 2s",
                 "negotiation_timeout = 3s", "dialback_timeout = 3s",
                 "backoff_min = 1s", "backoff_max = 5s",
                 "home_node_grace = 2s", "shutdown_drain = 3s"]
        for h, sec in self.homes.items():
            path = os.path.join(self.dir, h + ".secret")
            with open(path, "w") as f:
                f.write(sec + "\n")
            os.chmod(path, 0o600)
            conf += ["[home %s]" % h, "secret_file = %s" % path]
        self.conf = os.path.join(self.dir, "s2sd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n" + extra)
        self.proc = None
        env.servers.append(self)

    def srv_records(self):
        """_xmpp-server at priority 10; with direct TLS, _xmpps-server
        (XEP-0368) at priority 5, so it is tried first."""
        recs = [("xmpp-server", d, d, self.port, 10) for d in self.domains]
        if self.direct_port:
            recs += [("xmpps-server", d, d, self.direct_port, 5)
                     for d in self.domains]
        return recs

    def host_records(self):
        return [(d, "127.0.0.1") for d in self.domains]

    def write_policy(self, text):
        tmp = self.policy + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.policy)

    def start(self):
        open(self.logfile, "a").close()
        self.proc = subprocess.Popen([S2SD, "-f", "-c", self.conf],
                                     stderr=subprocess.DEVNULL)
        self.env.procs.append(self.proc)
        if not wait_for(lambda: "started version" in self.log(), 10):
            raise RuntimeError("s2sd %s did not start:\n%s"
                               % (self.name, self.log()))
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return None

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def home(self, node="node1"):
        return Home(self.env, node, self.homes[node], self.comp_port)


class Home:
    """A slixmpp XEP-0114 home node attached to an s2sd."""

    def __init__(self, env, name, secret, port, wait=True):
        self.name = name
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", HOME_NODE, name, secret, "127.0.0.1",
             str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1)
        env.procs.append(self.proc)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._reader, daemon=True).start()
        if wait and self.expect(lambda e: e == "READY", 10) is None:
            raise RuntimeError("home node %s did not attach" % name)

    def _reader(self):
        for line in self.proc.stdout:
            self.events.put(line.rstrip("\n"))
        self.events.put("CLOSED")

    def send(self, xml):
        self.proc.stdin.write("SEND " + xml + "\n")
        self.proc.stdin.flush()

    def message(self, frm, to, mid, body="hello"):
        self.send("<message from='%s' to='%s' id='%s' type='chat'>"
                  "<body>%s</body></message>" % (frm, to, mid, body))

    def expect(self, pred, timeout=10.0):
        """The first event (new or already seen and unclaimed) matching
        PRED, or None after TIMEOUT seconds."""
        for i, e in enumerate(self.seen):
            if pred(e):
                return self.seen.pop(i)
        end = time.time() + timeout
        while time.time() < end:
            try:
                e = self.events.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if pred(e):
                return e
            self.seen.append(e)
        return None

    def drain(self, timeout=0.5):
        """Every event that arrives within TIMEOUT seconds."""
        self.expect(lambda e: False, timeout)
        out, self.seen = self.seen, []
        return out

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("QUIT\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()


def fields(event):
    """RECV event -> dict of its tab-separated key=value fields."""
    parts = event.split(" ", 2)
    out = {"kind": parts[1] if len(parts) > 1 else ""}
    if len(parts) > 2:
        for kv in parts[2].split("\t"):
            if "=" in kv:
                k, v = kv.split("=", 1)
                out[k] = v
    return out


def recv_msg(mid):
    return lambda e: e.startswith("RECV message") and \
        ("id=%s\t" % mid in e + "\t")
