#!/usr/bin/env python3
"""Regenerate the captured DNS answers in this directory (*.hex).

Starts dnsmasq on 127.0.0.1 (a high port) with the zone below, asks it the
questions listed in CASES and writes each raw answer as hex text with a
comment saying what it is. The unit tests only read the .hex files; this
script documents where they came from. Usage: python3 capture.py [port]
"""
import os, random, socket, struct, subprocess, sys, tempfile, time

ZONE = """
srv-host=_xmpp-server._tcp.a.test,xmpp1.a.test,5269,10,50
srv-host=_xmpp-server._tcp.a.test,xmpp2.a.test,5270,20,0
srv-host=_xmpps-server._tcp.a.test,tls.a.test,5223,10,50
srv-host=_xmpp-server._tcp.dot.test,.
srv-host=_xmpp-server._tcp.w.test,w1.w.test,5269,5,10
srv-host=_xmpp-server._tcp.w.test,w2.w.test,5269,5,30
srv-host=_xmpp-server._tcp.w.test,w3.w.test,5269,5,60
srv-host=_xmpp-server._tcp.w.test,w0.w.test,5269,5,0
srv-host=_xmpp-server._tcp.w.test,backup.w.test,5269,7,0
host-record=xmpp1.a.test,127.0.0.2,::1
host-record=xmpp2.a.test,127.0.0.3
cname=alias.a.test,xmpp1.a.test
local=/test/
"""

# A second instance, authoritative for soa.example, gives negative answers
# with an SOA in the authority section (RFC 2308).
AUTH_ZONE = """
auth-zone=soa.example
auth-soa=2024010101,hostmaster.soa.example,1200,120,604800
auth-ttl=600
host-record=host.soa.example,127.0.0.9
"""

CASES = [  # (file, name, type, what, auth instance?)
    ("srv_a.hex", "_xmpp-server._tcp.a.test", 33,
     "two SRV records (10/50 xmpp1:5269, 20/0 xmpp2:5270) + additional A/AAAA"),
    ("srvs_a.hex", "_xmpps-server._tcp.a.test", 33,
     "one _xmpps-server record (10/50 tls.a.test:5223)"),
    ("srv_dot.hex", "_xmpp-server._tcp.dot.test", 33,
     "a single SRV record with target '.' (service not available)"),
    ("srv_w.hex", "_xmpp-server._tcp.w.test", 33,
     "five SRV records: priority 5 weights 10,30,60,0 and priority 7"),
    ("srv_nx.hex", "_xmpp-server._tcp.nx.test", 33, "NXDOMAIN, no SOA"),
    ("srv_nodata.hex", "xmpp1.a.test", 33,
     "NOERROR, no SRV for a name that has only A/AAAA (NODATA)"),
    ("srv_nx_soa.hex", "_xmpp-server._tcp.nope.soa.example", 33,
     "authoritative NXDOMAIN with an SOA (minimum 1200, ttl 600)"),
    ("srv_nodata_soa.hex", "host.soa.example", 33,
     "authoritative NODATA with an SOA (minimum 1200, ttl 600)"),
    ("srv_refused.hex", "_xmpp-server._tcp.example.org", 33,
     "REFUSED (not a local zone and no upstream)"),
    ("a_cname.hex", "alias.a.test", 1, "A through a CNAME (alias -> xmpp1)"),
    ("aaaa_xmpp1.hex", "xmpp1.a.test", 28, "AAAA ::1"),
]


def query(port, name, qtype):
    qid = random.randint(0, 65535)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(msg, ("127.0.0.1", port))
    return s.recv(4096)


def start(d, port, zone, extra):
    conf = os.path.join(d, "zone%d.conf" % port)
    with open(conf, "w") as f:
        f.write(zone)
    return subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--no-resolv",
                             "--no-hosts", "--conf-file=" + conf,
                             "--port=%d" % port, "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--user=root"] + extra)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 25353
    with tempfile.TemporaryDirectory() as d:
        p = start(d, port, ZONE, ["--local-ttl=300"])
        q = start(d, port + 1, AUTH_ZONE, ["--auth-server=ns.soa.example,lo"])
        try:
            time.sleep(0.5)
            for fname, name, qtype, what in CASES:
                auth = name.endswith("soa.example")
                ans = query(port + 1 if auth else port, name, qtype)
                with open(fname, "w") as f:
                    f.write("# %s type %d: %s\n" % (name, qtype, what))
                    f.write("# captured from dnsmasq 2.90 by capture.py\n")
                    h = ans.hex()
                    for i in range(0, len(h), 64):
                        f.write(h[i:i + 64] + "\n")
        finally:
            for proc in (p, q):
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
