"""The outbound-request guard (accounts.outbound): which addresses are public, TLS to the pinned address."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from accounts import outbound
from tests.tls import certificates

ADDRESSES = {
    # address: the guard's word for it (None: public, allowed; "": refused, the word varies by Python)
    "93.184.216.34": None,
    "2606:2800:220:1:248:1893:25c8:1946": None,
    "8.8.8.8": None,
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "fd12:3456::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "100.64.0.1": "shared (carrier-grade NAT)",
    "192.0.0.8": "",
    "198.18.0.1": "",
    "240.0.0.1": "",
    "255.255.255.255": "",
    "::ffff:127.0.0.1": "loopback (as IPv6)",
    "::ffff:10.0.0.1": "private (as IPv6)",
    "::ffff:93.184.216.34": None,
    "::127.0.0.1": "loopback (as IPv6)",
    "2002:a9fe:a9fe::": "link-local (as IPv6)",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1": "loopback (as IPv6)",  # NAT64 of 127.0.0.1
}


@pytest.mark.parametrize(("address", "problem"), list(ADDRESSES.items()))
def test_which_addresses_are_public(address, problem):
    found = outbound.address_problem(ipaddress.ip_address(address))
    assert found == problem or (problem is not None and found is not None and found.startswith(problem))


def test_the_allow_list_admits_named_networks_and_hosts_only(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.1.0.0/16", "receiver.internal"]
    outbound.check_url("https://10.1.2.3/hook")
    with pytest.raises(outbound.OutboundRefused, match=r"address 10\.2\.0\.1 is private"):
        outbound.check_url("https://10.2.0.1/hook")
    with pytest.raises(outbound.OutboundRefused, match="loopback"):
        outbound.check_url("https://127.0.0.1/hook")


def test_settings_refuse_a_malformed_allow_list(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from project.env import env_networks

    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", "10.0.0.0/8, receiver.internal")
    assert env_networks("OUTBOUND_ALLOWED_NETWORKS") == ["10.0.0.0/8", "receiver.internal"]
    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", "10.0.0.0/8, not a host!")
    with pytest.raises(ImproperlyConfigured, match="not a host"):
        env_networks("OUTBOUND_ALLOWED_NETWORKS")


def _certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A certificate authority and a certificate for `name` it signed: (ca, cert, key) files."""
    found = certificates(directory, name)
    return found.ca, found.cert, found.key


def test_tls_goes_to_the_checked_address_with_the_hosts_name_for_sni_and_the_certificate(
    settings, tmp_path, monkeypatch
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    ca, cert, key = _certificates(tmp_path, "hooks.example.com")
    seen: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["host"] = self.headers["Host"]
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    def sni(sock: Any, name: str | None, context: Any) -> None:
        seen["sni"] = name

    server_context.sni_callback = sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "hooks.example.com" and not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    trusting = ssl.create_default_context(cafile=str(ca))
    try:
        answer = outbound.post(
            f"https://hooks.example.com:{port}/h", body=b"{}", ssl_context=trusting, timeout=5
        )
        assert answer.status == 204
        assert seen == {"sni": "hooks.example.com", "host": f"hooks.example.com:{port}"}
        # The system's trust store does not know the test authority: the certificate is checked.
        with pytest.raises(outbound.OutboundFailed, match="TLS certificate not accepted"):
            outbound.post(f"https://hooks.example.com:{port}/h", body=b"{}", timeout=5)
        # Another name on the same address: the certificate does not match it.
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: (
                real("127.0.0.1", *a, **k)
                if host == "other.example.com" and not k.get("flags", 0) & socket.AI_NUMERICHOST
                else real(host, *a, **k)
            ),
        )
        with pytest.raises(outbound.OutboundFailed, match="TLS certificate not accepted"):
            outbound.post(f"https://other.example.com:{port}/h", body=b"{}", ssl_context=trusting, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_a_bounded_answer_a_larger_one_fails(settings):
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"x" * 5000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/doc"
    try:
        assert outbound.get(url, max_response_bytes=5000).body == b"x" * 5000
        with pytest.raises(outbound.OutboundFailed, match="larger than 4999 bytes"):
            outbound.get(url, max_response_bytes=4999)
    finally:
        server.shutdown()
        server.server_close()


def test_a_peer_trickling_its_answer_is_cut_at_the_deadline(settings):
    """Each byte arrives within the socket timeout; the whole answer never does: "timed out"."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            begin = time.monotonic()
            while not stop.is_set() and time.monotonic() - begin < 3:  # a header byte every 0.1 s
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.1)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(outbound.OutboundFailed, match="timed out"):
            outbound.get(f"http://127.0.0.1:{server.server_address[1]}/slow", timeout=0.5)
        assert time.monotonic() - started < 2
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
