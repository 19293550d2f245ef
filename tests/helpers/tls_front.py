#!/usr/bin/env python3
"""tls_front.py — a TLS front for a testserver, for the request-level suites.

Usage: tls_front.py CERT KEY BACKEND_PORT PORT_FILE [MAX_SECONDS]

Listens on 127.0.0.1 (a port the kernel picks, written to PORT_FILE once
ready), completes a TLS handshake with each client and relays the plaintext
to and from the testserver on 127.0.0.1:BACKEND_PORT, so what the client
sees over https is what the testserver does over http (its count file counts
the requests). A thread per direction; exits after MAX_SECONDS (default
300). Loopback only."""
import socket
import ssl
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, ctx, backend):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError):
        conn.close()
        return
    try:
        plain = socket.create_connection(("127.0.0.1", backend))
    except OSError:
        tls.close()
        return
    threading.Thread(target=pump, args=(plain, tls), daemon=True).start()
    pump(tls, plain)


def main():
    cert, key, backend, port_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    limit = float(sys.argv[5]) if len(sys.argv) > 5 else 300
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lis = socket.socket()
    lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lis.bind(("127.0.0.1", 0))
    lis.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % lis.getsockname()[1])
    import os
    os.rename(port_file + ".tmp", port_file)
    threading.Timer(limit, lambda: os._exit(0)).start()
    while True:
        conn, _ = lis.accept()
        threading.Thread(target=serve, args=(conn, ctx, backend), daemon=True).start()


main()
