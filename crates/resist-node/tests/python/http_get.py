"""Shared by the interop scripts: one HTTP/1.1 GET over a connected socket.

Returns the body if the status is 200; exits with status 1 otherwise.
"""

import sys


def http_get(sock, host, port, path):
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock.sendall(request)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not sep or b" 200 " not in status + b" ":
        print(f"unexpected response: {data!r}", file=sys.stderr)
        sys.exit(1)
    return body.decode()
