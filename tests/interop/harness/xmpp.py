"""XMPP users for the scenarios, played with python3-slixmpp.

An `Endpoint` is one user as a scenario sees it: it sends messages and
presence, and records what arrives (messages, errors, subscription requests,
contacts' presence); `wait_*` block the scenario thread with a time-out.
Two kinds share that interface:
- `C2SUser`: a c2s client of Prosody or ejabberd, connected explicitly to the
  server's address (no DNS), without TLS (c2s is not what is tested);
- `HomeUser`: a user held by a `HomeNode`, a XEP-0114 component that plays the
  organisation's home node behind s2sd and does the session manager's part
  (subscription state, answering probes, presence to subscribers).
All slixmpp objects live on one asyncio loop in a background thread (`Loop`).
"""
import asyncio
import itertools
import threading
import time

import slixmpp

_ids = itertools.count(1)


class Loop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.exceptions = []
        self.thread = threading.Thread(target=self._run, name="xmpp-loop",
                                       daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(self._exception)
        self.loop.run_forever()

    def _exception(self, _loop, context):
        # asyncio's default handler logs from inside garbage collection, which
        # can re-enter the log file's writer: keep the message instead.
        self.exceptions.append(context.get("message", "?"))

    def run(self, coro, timeout):
        """Run `coro` on the loop, wait up to `timeout` s for its result."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except Exception:
            fut.cancel()
            raise

    def call(self, fn, *args):
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self):
        """Cancel what still runs (slixmpp's filters, keep-alive tasks), then
        stop the loop, so that nothing complains at interpreter exit."""
        async def cancel_all():
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.loop.is_running():
            try:
                self.run(cancel_all(), 5)
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def dispose(x):
    """Close a slixmpp stream object for good, its send task included (left
    pending, it is reported as destroyed when collected)."""
    x.cancel_connection_attempt()
    x.abort()
    task = getattr(x, "_run_out_filters", None)
    if task is not None and not task.done():
        task.cancel()


def bare(jid):
    return str(jid).split("/", 1)[0].lower()


STANZAS_NS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"


def _condition_of(stanza):
    """The error condition read from the XML itself: slixmpp's error
    plugin only knows the jabber:client namespace, so for a component
    (jabber:component:accept) it reports feature-not-implemented."""
    for el in stanza.xml:
        if el.tag.endswith("}error") or el.tag == "error":
            for child in el:
                if child.tag.startswith(STANZAS_NS) and \
                        child.tag != STANZAS_NS + "text":
                    return child.tag[len(STANZAS_NS):]
    return stanza["error"]["condition"]


def _error_of(stanza, kind):
    err = stanza["error"]
    return {"kind": kind, "from": bare(stanza["from"]), "id": stanza["id"],
            "condition": _condition_of(stanza), "type": err["type"],
            "text": err["text"], "at": time.monotonic()}


class Endpoint:
    """What a user received, guarded by one condition variable."""

    def __init__(self, jid, label):
        self.jid = jid
        self.label = label          # e.g. "prosody:t03", for reports
        self.cv = threading.Condition()
        self.messages = []          # dicts: from, body, id, at
        self.errors = []            # dicts: kind, from, id, condition, type, text
        self.sub_requests = []      # bare JIDs that asked to subscribe to us
        self.subscribed_by = []     # bare JIDs that approved our request
        self.presence = {}          # bare JID -> dict(type, show, status, at)
        self.history = []           # (time, text) of everything, for reports

    # -- recording (loop thread) --
    def _note(self, text):
        self.history.append((time.strftime("%H:%M:%S"), text))

    def _got_message(self, msg):
        with self.cv:
            if msg["type"] == "error":
                e = _error_of(msg, "message")
                self.errors.append(e)
                self._note("message error from %s id=%s: %s/%s %s" % (
                    e["from"], e["id"], e["type"], e["condition"], e["text"]))
            else:
                self.messages.append({"from": bare(msg["from"]),
                                      "body": msg["body"], "id": msg["id"],
                                      "at": time.monotonic()})
                self._note("message from %s: %r" % (msg["from"], msg["body"]))
            self.cv.notify_all()

    def _got_presence(self, pres):
        frm, ptype = bare(pres["from"]), pres["type"]
        with self.cv:
            self._note("presence %s from %s show=%s status=%r" % (
                ptype, pres["from"], pres["show"], pres["status"]))
            if ptype == "error":
                self.errors.append(_error_of(pres, "presence"))
            elif ptype == "subscribe":
                self.sub_requests.append(frm)
            elif ptype == "subscribed":
                self.subscribed_by.append(frm)
            elif ptype in ("available", "unavailable") or ptype in \
                    ("away", "chat", "dnd", "xa"):
                self.presence[frm] = {
                    "type": "unavailable" if ptype == "unavailable" else "available",
                    "show": pres["show"] or "", "status": pres["status"] or "",
                    "at": time.monotonic()}
            self.cv.notify_all()

    # -- waiting (scenario thread) --
    def wait(self, pred, timeout):
        """Wait until pred() (evaluated under the lock) is true."""
        with self.cv:
            return self.cv.wait_for(pred, timeout)

    def wait_message(self, frm, body, timeout):
        def found():
            return next((m for m in self.messages if m["from"] == frm
                         and m["body"] == body), None)
        return self.wait(found, timeout)

    def sees(self, frm, show=None, status=None):
        """Last presence from `frm` is available (with that show/status)."""
        p = self.presence.get(frm)
        return p is not None and p["type"] == "available" and \
            (show is None or p["show"] == show) and \
            (status is None or p["status"] == status)

    def message_from(self, frm, body):
        with self.cv:
            return any(m["from"] == frm and m["body"] == body
                       for m in self.messages)

    def recent_history(self, n=30):
        with self.cv:
            return ["%s %s" % h for h in self.history[-n:]]

    # -- sending (any thread); subclasses implement _send_* on the loop --
    def send_message(self, to, body):
        sid = "m%d" % next(_ids)
        with self.cv:
            self._note("send message to %s id=%s %r" % (to, sid, body))
        self._send_message(to, body, sid)
        return sid

    def subscribe(self, to):
        with self.cv:
            self._note("send subscribe to %s" % to)
        self._send_presence(to, "subscribe")

    def approve(self, frm):
        with self.cv:
            self._note("send subscribed to %s" % frm)
        self._send_presence(frm, "subscribed")

    def set_presence(self, show="", status=""):
        with self.cv:
            self._note("broadcast presence show=%r status=%r" % (show, status))
        self._broadcast(show, status)


class C2SUser(Endpoint):
    """A c2s user of Prosody or ejabberd; `connect()` again after the server
    restarted (what was received so far is kept)."""

    def __init__(self, loop, jid, password, address, label):
        super().__init__(jid, label)
        self.loop, self.password, self.address = loop, password, address
        self.xmpp = None

    async def _connect(self, timeout):
        x = slixmpp.ClientXMPP(self.jid + "/harness", self.password)
        x.loop = self.loop.loop
        x.auto_authorize = None         # the scenario approves requests
        x.auto_subscribe = False
        started = asyncio.Event()
        failure = []
        x.add_event_handler("session_start", lambda _e: started.set())
        x.add_event_handler("failed_auth", lambda _e: failure.append("auth failed"))
        x.add_event_handler("connection_failed",
                            lambda e: failure.append("connect: %s" % e))
        x.add_event_handler("message", self._message_evt)
        x.add_event_handler("message_error", self._got_message)
        x.add_event_handler("presence", self._got_presence)
        x.connect(address=self.address, force_starttls=False,
                  disable_starttls=True)
        end = self.loop.loop.time() + timeout
        while not started.is_set() and not failure and self.loop.loop.time() < end:
            await asyncio.sleep(0.02)
        if not started.is_set():
            dispose(x)
            raise RuntimeError("c2s login of %s at %s:%d failed: %s" % (
                self.jid, self.address[0], self.address[1],
                "; ".join(failure) or "time-out after %gs" % timeout))
        await x.get_roster(timeout=timeout)
        x.send_presence()
        self.xmpp = x

    def _message_evt(self, msg):
        if msg["type"] != "error":      # errors come via message_error
            self._got_message(msg)

    def connect(self, timeout=8):
        self.loop.run(self._connect(timeout), timeout + 2)
        with self.cv:
            self._note("c2s session started")
        return self

    def connected(self):
        return self.xmpp is not None and self.xmpp.is_connected()

    def disconnect(self):
        x, self.xmpp = self.xmpp, None
        if x is not None:
            self.loop.call(dispose, x)

    def _send_message(self, to, body, sid):
        def send():
            m = self.xmpp.make_message(mto=to, mbody=body, mtype="chat")
            m["id"] = sid
            m.send()
        self.loop.call(send)

    def _send_presence(self, to, ptype):
        self.loop.call(lambda: self.xmpp.send_presence(pto=to, ptype=ptype))

    def _broadcast(self, show, status):
        self.loop.call(lambda: self.xmpp.send_presence(pshow=show or None,
                                                       pstatus=status or None))


class HomeUser(Endpoint):
    """A user held by a HomeNode: the node keeps this user's subscription
    state (who may see our presence, whose presence we asked for)."""

    def __init__(self, node, jid):
        super().__init__(jid, "%s:%s" % (node.label, jid.split("@")[0]))
        self.node = node
        self.allowed = set()        # contacts subscribed to our presence
        self.show, self.status = "", ""

    def _full(self):
        return self.jid + "/home"

    def connect(self):              # the node's link is the connection
        return self

    def disconnect(self):
        pass

    def _link(self):
        x = self.node.xmpp
        if x is None:
            raise RuntimeError("home node %s is not attached to s2sd (%s)" % (
                self.node.component_jid, self.node.last_problem()))
        return x

    def _send_message(self, to, body, sid):
        x = self._link()

        def send():
            m = x.make_message(mto=to, mbody=body, mtype="chat",
                               mfrom=self._full())
            m["id"] = sid
            m.send()
        self.node.loop.call(send)

    def _send_presence(self, to, ptype):
        frm = self.jid if ptype in ("subscribe", "subscribed") else self._full()
        x = self._link()
        if ptype == "subscribed":
            self.allowed.add(to)
        self.node.loop.call(lambda: x.send_presence(pto=to, pfrom=frm,
                                                    ptype=ptype))
        if ptype == "subscribed":       # RFC 6121 3.1.5: then our presence
            self._presence_to(to)

    def _presence_to(self, to):
        x = self._link()
        self.node.loop.call(lambda: x.send_presence(
            pto=to, pfrom=self._full(), pshow=self.show or None,
            pstatus=self.status or None))

    def _broadcast(self, show, status):
        self.show, self.status = show, status
        for contact in sorted(self.allowed):
            self._presence_to(contact)

    def _got_presence(self, pres):
        super()._got_presence(pres)
        frm, ptype = bare(pres["from"]), pres["type"]
        if ptype == "probe" and frm in self.allowed:
            self._presence_to(frm)
        elif ptype == "subscribed" and self.node.xmpp is not None:
            x = self.node.xmpp          # ask for the contact's presence now
            self.node.loop.call(lambda: x.send_presence(pto=frm, pfrom=self.jid,
                                                        ptype="probe"))


class HomeNode:
    """The organisation's home node: a XEP-0114 component connected to s2sd's
    component port, holding the users of `domain`. It reconnects by itself
    when the link drops (s2sd restart), every `retry` seconds."""

    def __init__(self, loop, component_jid, secret, address, domain, label,
                 retry=0.3):
        self.loop, self.component_jid, self.secret = loop, component_jid, secret
        self.address, self.domain, self.label = address, domain, label
        self.retry = retry
        self.users = {}
        self.xmpp = None
        self.attached = threading.Event()
        self.attached_at = 0.0
        self.events = []            # (time, text): link history for reports
        self._stop = False
        self._task = None

    def user(self, name):
        jid = "%s@%s" % (name, self.domain)
        if jid not in self.users:
            self.users[jid] = HomeUser(self, jid)
        return self.users[jid]

    def _note(self, text):
        self.events.append((time.strftime("%H:%M:%S"), text))

    def last_problem(self):
        bad = [e for _t, e in self.events if not e.startswith("attached")]
        return bad[-1] if bad else "no attempt yet"

    def _dispatch(self, stanza, presence):
        u = self.users.get(bare(stanza["to"]))
        if u is None:
            self._note("stanza for unknown user %s dropped" % stanza["to"])
            return
        if presence:
            u._got_presence(stanza)
        else:
            u._got_message(stanza)

    async def _attach_once(self, timeout):
        x = slixmpp.ComponentXMPP(self.component_jid, self.secret,
                                  self.address[0], self.address[1])
        x.loop = self.loop.loop
        x.del_event_handler("presence_probe", x._handle_probe)
        started, failure = asyncio.Event(), []
        x.add_event_handler("session_start", lambda _e: started.set())
        x.add_event_handler("connection_failed", lambda e: failure.append(str(e)))
        x.add_event_handler("stream_error",
                            lambda e: failure.append("stream error %s"
                                                     % e["condition"]))
        x.add_event_handler("message",
                            lambda m: m["type"] != "error" and self._dispatch(m, False))
        x.add_event_handler("message_error", lambda m: self._dispatch(m, False))
        x.add_event_handler("presence", lambda p: self._dispatch(p, True))
        x.add_event_handler("disconnected", lambda _e: self._lost(x))
        x.connect()
        end = self.loop.loop.time() + timeout
        while not started.is_set() and not failure and self.loop.loop.time() < end:
            await asyncio.sleep(0.02)
        if started.is_set():
            self.xmpp = x
            self.attached_at = time.monotonic()
            self.attached.set()
            self._note("attached to %s:%d as %s" % (self.address + (self.component_jid,)))
            return None
        dispose(x)
        return "; ".join(failure) or "no handshake within %gs" % timeout

    def _lost(self, x):
        if x is self.xmpp:
            self.xmpp = None
            self.attached.clear()
            self._note("link lost")

    async def _keep_attached(self):
        last = None
        while not self._stop:
            if self.xmpp is None:
                err = await self._attach_once(2.0)
                if err and err != last:
                    self._note("attach failed: %s" % err)
                last = err
            await asyncio.sleep(self.retry)

    def start(self):
        async def go():
            self._task = asyncio.ensure_future(self._keep_attached())
        self.loop.run(go(), 5)

    def wait_attached(self, timeout):
        return self.attached.wait(timeout)

    def wait_attached_since(self, since, timeout):
        """Attached by a link made after SINCE (time.monotonic())."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.attached.is_set() and self.attached_at >= since:
                return True
            time.sleep(0.02)
        return False

    def stop(self):
        self._stop = True

        async def halt():
            if self._task:
                self._task.cancel()
            if self.xmpp is not None:
                dispose(self.xmpp)
            self.xmpp = None
        try:
            self.loop.run(halt(), 5)
        except Exception:
            pass
