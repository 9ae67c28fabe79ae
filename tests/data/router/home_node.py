#!/usr/bin/python3
"""A home node for s2sd's router tests: a real XEP-0114 component
(slixmpp's ComponentXMPP) driven through stdin and reporting on stdout.

usage: home_node.py NAME SECRET HOST PORT

stdin, one command a line:
  SEND <xml>   write <xml> on the stream as it is
  QUIT         close the stream (</stream:stream>), wait for the reply, exit
stdout, one event a line:
  READY                              the handshake was accepted
  RECV <name> k=v<TAB>k=v...         a stanza arrived (id, from, to, type,
                                     error condition, body), tab-separated
  STREAM-ERROR <condition> <text>    the server sent a stream error
  CLOSED                             the connection is gone; exits then

It exits when stdin reaches end of file (the test process is gone) and asks
the kernel to kill it when its parent dies, so a failed test leaves nothing
behind.
"""
import asyncio
import ctypes
import os
import signal
import sys

import slixmpp

NS = '{jabber:component:accept}'
STANZAS_NS = '{urn:ietf:params:xml:ns:xmpp-stanzas}'
STREAMS_NS = '{urn:ietf:params:xml:ns:xmpp-streams}'


def die_with_parent():
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def describe(xml):
    fields = []
    for key in ('id', 'from', 'to', 'type'):
        if xml.get(key) is not None:
            fields.append('%s=%s' % (key, xml.get(key)))
    err = xml.find(NS + 'error')
    if err is not None:
        for child in err:
            if child.tag.startswith(STANZAS_NS) and \
                    not child.tag.endswith('}text'):
                fields.append('error=%s' % child.tag[len(STANZAS_NS):])
    body = xml.find(NS + 'body')
    if body is not None and body.text:
        fields.append('body=%s' % body.text)
    return '\t'.join(fields)


class HomeNode(slixmpp.ComponentXMPP):
    def __init__(self, name, secret, host, port):
        super().__init__(name, secret, host, int(port))
        self.done = self.loop.create_future()
        self.pending = b''
        self.add_event_handler('session_start', self.on_ready)
        self.add_event_handler('stream_error', self.on_stream_error)
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_disconnected)

    def incoming_filter(self, xml):
        xml = super().incoming_filter(xml)
        name = xml.tag[len(NS):] if xml.tag.startswith(NS) else None
        if name in ('message', 'presence', 'iq'):
            say('RECV %s %s' % (name, describe(xml)))
        return xml

    def on_ready(self, event):
        say('READY')

    def on_stream_error(self, error):
        say('STREAM-ERROR %s %s' % (error['condition'], error['text']))

    def on_disconnected(self, event):
        if not self.done.done():
            say('CLOSED')
            self.done.set_result(None)

    def on_stdin(self):
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            self.loop.remove_reader(sys.stdin.fileno())
            self.abort()
            self.on_disconnected(None)
            return
        self.pending += data
        while b'\n' in self.pending:
            line, self.pending = self.pending.split(b'\n', 1)
            self.command(line.decode('utf-8'))

    def command(self, line):
        if line.startswith('SEND '):
            self.send_raw(line[5:])
        elif line == 'QUIT':
            self.disconnect(wait=5)


def main():
    die_with_parent()
    name, secret, host, port = sys.argv[1:5]
    node = HomeNode(name, secret, host, port)
    # No whitespace keepalives or reconnection: the test decides.
    node.whitespace_keepalive = False
    node.loop.add_reader(sys.stdin.fileno(), node.on_stdin)
    node.connect()
    node.loop.run_until_complete(node.done)


if __name__ == '__main__':
    main()
