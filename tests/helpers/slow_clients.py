#!/usr/bin/env python3
"""Slow HTTP clients for the serve tests (slowloris): many connections to
127.0.0.1:PORT that send the start of a request and then nothing.

  slow_clients.py --port PORT --count N --sources K --report PATH [--max-seconds S]

The connections come from K loopback source addresses (127.0.1.1, 127.0.1.2,
..., round robin), so a per-address limit sees N/K each. Once every connect
has ended, the script writes "open O closed X failed F" to the report (F
connects failed), and writes it again whenever the count X of connections
the server has closed (end of file or reset) changes. It exits after
--max-seconds (default 300), so a test cannot leave it behind.
"""
import argparse
import errno
import os
import selectors
import socket
import time

REQUEST_START = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def write_report(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(path + ".tmp", path)


def source(i, sources):
    n = i % sources + 1
    return "127.0.%d.%d" % (1 + n // 250, 1 + n % 250)


def connect_all(args):
    """Starts every connect at once; returns the sockets that connected."""
    pending = {}
    sel = selectors.DefaultSelector()
    failed = 0
    for i in range(args.count):
        s = socket.socket()
        s.setblocking(False)
        s.bind((source(i, args.sources), 0))
        if s.connect_ex(("127.0.0.1", args.port)) not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        pending[s.fileno()] = s
        sel.register(s, selectors.EVENT_WRITE)
    connected = []
    deadline = time.monotonic() + 60  # hang guard: loopback connects take microseconds
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = pending.pop(key.fd)
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected.append(s)
            else:
                failed += 1
                s.close()
    return connected, failed + len(pending)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--sources", type=int, default=1)
    p.add_argument("--report", required=True)
    p.add_argument("--max-seconds", type=float, default=300)
    args = p.parse_args()
    end = time.monotonic() + args.max_seconds
    connected, failed = connect_all(args)
    sel = selectors.DefaultSelector()
    for s in connected:
        try:
            s.send(REQUEST_START)
        except OSError:
            pass
        sel.register(s, selectors.EVENT_READ)
    closed, reported = 0, None
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:  # the server closed it (an answer before that is read and ignored)
                sel.unregister(key.fileobj)
                key.fileobj.close()
                closed += 1
        if closed != reported:
            write_report(args.report,
                         "open %d closed %d failed %d" % (len(connected) - closed, closed, failed))
            reported = closed


if __name__ == "__main__":
    main()
