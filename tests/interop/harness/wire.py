"""What actually went over the wire between the servers: a packet capture on
the namespace's loopback (AF_PACKET, no extra tools), reduced to one record
per TCP connection to an S2S port.

For each connection it records who connected (by source address for servers
that bind their outgoing connections, else the process owning the client
socket at SYN time, found through /proc - "?" when that socket was already
gone, as for a connection refused at once), to which address, whether the
connection was refused, the TLS version the server chose (from its
ServerHello: supported_versions, else the legacy version), and XMPP seen in
clear text (stanzas, dialback elements). This is the harness's own,
independent view of the TLS version - ejabberd does not log it - and of
which SRV targets a peer tried (scenario 6)."""
import os
import re
import socket
import struct
import threading
import time

ETH_P_ALL = 0x0003
PACKET_HOST = 0
TLS_NAMES = {0x0304: "TLS1.3", 0x0303: "TLS1.2", 0x0302: "TLS1.1",
             0x0301: "TLS1.0"}
CLEAR_STANZA = re.compile(rb"<(?:\w+:)?(message|presence|iq)[\s>/]")
CLEAR_DIALBACK = re.compile(rb"<db:(result|verify)[\s>/]")
KEEP_CLEAR = 1 << 20        # clear-text bytes kept per connection


class Conn:
    def __init__(self, client, server, at):
        self.client, self.server, self.at = client, server, at
        self.initiator = "?"        # label of the process that connected
        self.refused = False        # RST answered our SYN
        self.established = False
        self.client_hello = False
        self.tls = None             # "TLS1.3", ... once the ServerHello is seen
        self.clear = {"client": b"", "server": b""}   # first clear-text bytes
        self.clear_stanzas = []     # (direction, element) sent without TLS
        self.dialback_clear = False
        self.segments = []          # (time, sender, bytes) while in clear text
        self.kept = 0
        self.closed = {}            # sender -> time of its </stream:stream>

    def describe(self):
        state = "refused" if self.refused else \
            ("tls=%s" % (self.tls or "none") if self.established else "no answer")
        return "%s [%s:%d] -> [%s]:%d %s%s" % (
            self.initiator, self.client[0], self.client[1], self.server[0],
            self.server[1], state,
            " clear-stanzas=%d" % len(self.clear_stanzas) if self.clear_stanzas else "")


def _server_hello_version(payload):
    """TLS version chosen in a ServerHello at the start of `payload`."""
    if len(payload) < 44 or payload[0] != 0x16 or payload[5] != 0x02:
        return None
    legacy = struct.unpack(">H", payload[9:11])[0]
    pos = 11 + 32
    pos += 1 + payload[pos]                 # session id
    pos += 2 + 1                            # cipher suite, compression
    if pos + 2 > len(payload):
        return TLS_NAMES.get(legacy, hex(legacy))
    end = pos + 2 + struct.unpack(">H", payload[pos:pos + 2])[0]
    pos += 2
    while pos + 4 <= min(end, len(payload)):
        etype, elen = struct.unpack(">HH", payload[pos:pos + 4])
        if etype == 0x002b and elen == 2:
            v = struct.unpack(">H", payload[pos + 4:pos + 6])[0]
            return TLS_NAMES.get(v, hex(v))
        pos += 4 + elen
    return TLS_NAMES.get(legacy, hex(legacy))


def _socket_owner(client, pids):
    """Which of `pids` (pid -> label) owns the TCP socket bound to `client`."""
    ip, port = client
    inode = None
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/thread-self/net/" + name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inode = cols[9]
                        break
        except OSError:
            continue
        if inode:
            break
    if not inode or inode == "0":
        return "?"
    target = "socket:[%s]" % inode
    for pid, label in pids.items():
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    return label
        except OSError:
            continue
    return "?"


class Wire:
    """Capture on `lo` of the namespace the calling thread is in (create it
    after Net.enter()). `ports`: the S2S ports to follow. `owners()` returns
    the pid -> label map of the servers (asked at each SYN)."""

    def __init__(self, owners, sources, ports=(5269,)):
        self.owners = owners
        self.sources = sources      # () -> {ip: label} for servers that bind
        self.ports = set(ports)
        self.conns = {}
        self.order = []
        self.lock = threading.Lock()
        self.mark_at = 0
        self.errors = []
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                  socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._run, name="wire", daemon=True)
        self.thread.start()

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def _run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(262144)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] != PACKET_HOST:
                continue
            try:
                self._packet(addr[1], data)
            except (IndexError, struct.error):
                pass            # a truncated packet: not ours to follow
            except Exception as e:  # keep capturing; say so in reports
                self.errors.append("%s: %s" % (type(e).__name__, e))

    def _packet(self, proto, data):
        if proto == 0x0800 and data[9] == 6:
            ihl = (data[0] & 0xF) * 4
            src, dst = socket.inet_ntop(socket.AF_INET, data[12:16]), \
                socket.inet_ntop(socket.AF_INET, data[16:20])
            tcp = data[ihl:struct.unpack(">H", data[2:4])[0]]
        elif proto == 0x86DD and data[6] == 6:
            src, dst = socket.inet_ntop(socket.AF_INET6, data[8:24]), \
                socket.inet_ntop(socket.AF_INET6, data[24:40])
            tcp = data[40:40 + struct.unpack(">H", data[4:6])[0]]
        else:
            return
        sport, dport = struct.unpack(">HH", tcp[:4])
        flags = tcp[13]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if dport in self.ports:
            self._segment((src, sport), (dst, dport), "client", flags, payload)
        elif sport in self.ports:
            self._segment((dst, dport), (src, sport), "server", flags, payload)

    def _segment(self, client, server, sender, flags, payload):
        key = (client, server)
        syn, ack, rst = flags & 0x02, flags & 0x10, flags & 0x04
        with self.lock:
            c = self.conns.get(key)
            if sender == "client" and syn and not ack:
                c = Conn(client, server, time.monotonic())
                self.conns[key] = c
                self.order.append(c)
                # on lo the kernel picks the destination as source address:
                # a source address only names a server that binds it
                src = self.sources().get(client[0]) if client[0] != server[0] else None
                c.initiator = src or _socket_owner(client, self.owners())
                return
            if c is None:
                return
            if sender == "server" and syn and ack:
                c.established = True
            if sender == "server" and rst and not c.established:
                c.refused = True
            if payload:
                self._payload(c, sender, payload)

    def _payload(self, c, sender, payload):
        if sender == "client" and payload[:1] == b"\x16" and payload[5:6] == b"\x01":
            c.client_hello = True
            return
        if sender == "server" and c.tls is None:
            v = _server_hello_version(payload)
            if v:
                c.tls = v
                return
        if c.tls is None and not c.client_hello:
            if len(c.clear[sender]) < 4096:
                c.clear[sender] += payload[:4096]
            if c.kept < KEEP_CLEAR:
                c.segments.append((time.monotonic(), sender, payload))
                c.kept += len(payload)
            if sender not in c.closed and (b"</stream:stream>" in payload or
                                           b"<stream:error" in payload):
                c.closed[sender] = time.monotonic()
            for m in CLEAR_STANZA.finditer(payload):
                c.clear_stanzas.append((sender, m.group(1).decode()))
            if CLEAR_DIALBACK.search(payload):
                c.dialback_clear = True

    # -- queries --
    def mark(self):
        with self.lock:
            self.mark_at = len(self.order)

    def since_mark(self):
        with self.lock:
            return list(self.order[self.mark_at:])

    def find_clear(self, needle, sender="client"):
        """Where `needle` went over the wire in clear text since the mark:
        [(conn, time)] for segments sent by `sender` ("client": the side that
        connected). A needle split over two segments is not found."""
        return [(c, t) for c in self.since_mark()
                for t, who, data in c.segments if who == sender and needle in data]

    def between(self, initiator, server_ips, port=None):
        """Connections since the mark from `initiator` to any of `server_ips`."""
        return [c for c in self.since_mark() if c.initiator == initiator
                and c.server[0] in server_ips and (port is None or c.server[1] == port)]
