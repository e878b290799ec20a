"""PySocks (`import socks`) CONNECT through a SOCKS5 proxy, then an HTTP GET.

usage: pysocks_tcp.py PROXY_HOST PROXY_PORT USER PASSWORD DEST_HOST DEST_PORT PATH

Prints the response body exactly (nothing else) on success.
"""

import sys

import socks

from http_get import http_get


def main():
    proxy_host, proxy_port, user, password, dest_host, dest_port, path = sys.argv[1:]
    s = socks.socksocket()
    s.set_proxy(
        socks.SOCKS5, proxy_host, int(proxy_port), username=user, password=password
    )
    s.settimeout(10)
    s.connect((dest_host, int(dest_port)))
    try:
        sys.stdout.write(http_get(s, dest_host, dest_port, path))
    finally:
        s.close()


if __name__ == "__main__":
    main()
