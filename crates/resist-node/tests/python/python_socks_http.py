"""python-socks (`python_socks.sync.Proxy`) CONNECT through a SOCKS5 proxy
given as a URL, then an HTTP GET.

usage: python_socks_http.py PROXY_URL DEST_HOST DEST_PORT PATH [rdns]

With "rdns" the destination name is sent to the proxy to resolve. Prints the
response body exactly (nothing else) on success.
"""

import sys

from python_socks.sync import Proxy

from http_get import http_get


def main():
    url, dest_host, dest_port, path = sys.argv[1:5]
    rdns = sys.argv[5:] == ["rdns"]
    proxy = Proxy.from_url(url, rdns=rdns)
    sock = proxy.connect(dest_host=dest_host, dest_port=int(dest_port), timeout=10)
    sock.settimeout(10)
    try:
        sys.stdout.write(http_get(sock, dest_host, dest_port, path))
    finally:
        sock.close()


if __name__ == "__main__":
    main()
