#!/usr/bin/env python3
"""A fake Redis for the fleet tests: just enough RESP on 127.0.0.1 for one
fusebox sync agent, with replies a real server would not send on cue.

  fake_redis.py --port-file PATH --log PATH --with-subscribe PATH [--max-seconds N]

SUBSCRIBE is answered with its reply and, in the same write, a message for
every line of the --with-subscribe file (what a real server sends when
messages are published just as the subscription starts). EVAL of the read
script (it lists hash fields: HKEYS) answers an empty list, any other EVAL
0, anything else +OK. Every command's name goes to the --log file, one a
line. It exits after --max-seconds (default 300), so a test that forgets it
cannot leave it behind.
"""
import argparse
import os
import socket
import threading
import time


def bulk(data):
    return b"$%d\r\n%s\r\n" % (len(data), data)


def read_command(stream):
    """Reads one RESP array of bulk strings; returns its items, or None at the end."""
    line = stream.readline()
    if not line.startswith(b"*"):
        return None
    items = []
    for _ in range(int(line[1:])):
        size = int(stream.readline()[1:])
        items.append(stream.read(size + 2)[:size])
    return items


def serve(conn, args, log_lock):
    stream = conn.makefile("rb")
    with open(args.with_subscribe, "rb") as f:
        messages = [line.rstrip(b"\n") for line in f if line.strip()]
    while True:
        command = read_command(stream)
        if command is None:
            break
        name = command[0].upper()
        with log_lock, open(args.log, "ab") as log:
            log.write(name + b"\n")
        if name == b"SUBSCRIBE":
            channel = command[1]
            out = b"*3\r\n" + bulk(b"subscribe") + bulk(channel) + b":1\r\n"
            for m in messages:
                out += b"*3\r\n" + bulk(b"message") + bulk(channel) + bulk(m)
            conn.sendall(out)
        elif name == b"EVAL":
            conn.sendall(b"*0\r\n" if b"HKEYS" in command[1] else b":0\r\n")
        else:
            conn.sendall(b"+OK\r\n")
    conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--with-subscribe", required=True)
    p.add_argument("--max-seconds", type=float, default=300)
    args = p.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    log_lock = threading.Lock()
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        threading.Thread(target=serve, args=(conn, args, log_lock), daemon=True).start()


if __name__ == "__main__":
    main()
