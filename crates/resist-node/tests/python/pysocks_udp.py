"""PySocks UDP ASSOCIATE through a SOCKS5 proxy to a UDP echo server.

usage: pysocks_udp.py PROXY_HOST PROXY_PORT USER PASSWORD ECHO_HOST ECHO_PORT

Sends datagrams of several sizes (up to 1400 bytes) one at a time and checks
that each comes back byte for byte, from the echo server's address. Prints
"udp ok N" on success; exits with status 1 on the first mismatch.
"""

import socket
import sys

import socks

SIZES = [1, 2, 64, 512, 1200, 1400, 1400, 7]


def payload(index, size):
    return bytes((index * 31 + i * 7) % 256 for i in range(size))


def main():
    proxy_host, proxy_port, user, password, echo_host, echo_port = sys.argv[1:]
    echo = (echo_host, int(echo_port))
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(
        socks.SOCKS5, proxy_host, int(proxy_port), username=user, password=password
    )
    s.settimeout(5)
    try:
        for index, size in enumerate(SIZES):
            sent = payload(index, size)
            s.sendto(sent, echo)
            got, source = s.recvfrom(65536)
            if got != sent:
                print(
                    f"datagram {index} ({size} bytes): got {len(got)} bytes "
                    f"{got[:32]!r}..., sent {sent[:32]!r}...",
                    file=sys.stderr,
                )
                sys.exit(1)
            if source != echo:
                print(f"datagram {index}: from {source}, expected {echo}", file=sys.stderr)
                sys.exit(1)
    finally:
        s.close()
    print(f"udp ok {len(SIZES)}")


if __name__ == "__main__":
    main()
