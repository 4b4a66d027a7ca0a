"""The one outbound-request guard: every request this server makes to a URL someone typed goes here.

A URL an administrator (or, later, a self-registering client) supplies is an attacker's way into
the private network: cloud metadata at 169.254.169.254, the database, the admin on loopback (SSRF).
So, for every such request:

- the URL is checked when it is saved (`check_url`, a clear error in the form) and again when it is
  used (`post`, `get`), because names re-resolve and rows saved before this rule still exist;
- the host is resolved ONCE; every address it resolves to must be public (not loopback, private,
  link-local, multicast, reserved, unspecified, shared, nor an IPv4-mapped/-compatible, 6to4 or
  Teredo form of one), and the connection goes to the address that was checked, so a name that
  re-resolves to 127.0.0.1 between check and connect (DNS rebinding) gains nothing; the Host
  header and the TLS SNI and certificate check still name the host;
- redirects are never followed (a 3xx is the answer), there is no proxy, and time and the size of
  the answer read are bounded;
- https only, unless `OUTBOUND_ALLOW_HTTP` (default: on only with `DEBUG`);
- `OUTBOUND_ALLOWED_NETWORKS` (CIDRs or host names) lets an operator reach a named internal
  receiver on purpose; the tests use it for their local receiver.

Failures raise `OutboundRefused` (the guard said no, nothing was sent) or `OutboundFailed` (sent or
tried, no usable answer), whose text says what failed and never repeats what the remote answered.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "granular-photos/1"

# Ranges Python's `ipaddress` does not flag (or not on every version) that are not the public internet.
_NOT_PUBLIC: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (ipaddress.ip_network("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (ipaddress.ip_network("198.18.0.0/15"), "reserved (benchmarking)"),
    (ipaddress.ip_network("64:ff9b:1::/48"), "reserved (local-use NAT64)"),
)


class OutboundError(Exception):
    """An outbound request did not produce a usable answer; the text is for the operator's log."""


class OutboundRefused(OutboundError):
    """The guard refused the URL or an address it resolves to: nothing was sent."""


class OutboundFailed(OutboundError):
    """The request was tried and failed (timeout, connection, TLS, an answer too large)."""


@dataclass(frozen=True)
class Response:
    """What the remote answered: the status, the headers and at most `max_response_bytes` of body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as written in the URL (a name or an address), lower case, no brackets
    port: int
    path: str  # path and query, never empty


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is not on the public internet ("loopback", ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]  # the client's address (obfuscated in the last 32 bits)
        if embedded is None and address in ipaddress.ip_network("::/96") and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # IPv4-compatible (deprecated)
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # NAT64 to an IPv4 address
        if embedded is not None:
            problem = address_problem(embedded)
            return f"{problem} (as IPv6)" if problem else None
    for flag, name in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
        ("is_site_local", "site-local"),
    ):
        if getattr(address, flag, False):
            return name
    for network, name in _NOT_PUBLIC:
        if address.version == network.version and address in network:
            return name
    if not address.is_global:
        return "not a public address"
    return None


def _allowed() -> tuple[list[IPNetwork], set[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", []):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts


def _refusal(host: str, address: IPAddress) -> str | None:
    """Why the guard will not connect to `address` (resolved from `host`), or None when it may."""
    problem = address_problem(address)
    if problem is None:
        return None
    networks, hosts = _allowed()
    if host in hosts or any(address.version == n.version and address in n for n in networks):
        return None  # the operator named this receiver (OUTBOUND_ALLOWED_NETWORKS)
    return f"refused: address {address} is {problem}"


def _parse(url: str) -> _Target:
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise OutboundRefused("refused: the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"refused: not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise OutboundRefused("refused: only https URLs are allowed")
    if scheme == "http" and not getattr(settings, "OUTBOUND_ALLOW_HTTP", False):
        raise OutboundRefused("refused: only https URLs are allowed (OUTBOUND_ALLOW_HTTP is off)")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("refused: credentials in the URL are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("refused: the URL names no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    """The address `host` denotes without asking DNS (also 127.1, 2130706433, 0x7f.1), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the forms the C resolver accepts, exactly as the connection would read them
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0]).split("%", 1)[0]) if infos else None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, once; refused when any of them is not allowed."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise OutboundFailed(f"the host {host} does not resolve") from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OutboundFailed(f"the host {host} does not resolve")
    for address in addresses:  # every one: the client may connect to any of them
        refusal = _refusal(host, address)
        if refusal:
            raise OutboundRefused(refusal)
    return addresses


def check_url(url: str, *, resolve: bool = True) -> None:
    """Raise `OutboundRefused` when `url` may never be requested (for forms: save time).

    A host that does not resolve now passes (it is checked again, resolved, before every request);
    one that resolves to a refused address, or is one, is refused.
    """
    target = _parse(url)
    literal = _literal(target.host)
    if literal is not None:
        refusal = _refusal(target.host, literal)
        if refusal:
            raise OutboundRefused(refusal)
        return
    if resolve:
        with contextlib.suppress(OutboundFailed):  # does not resolve now: checked again when used
            _resolve(target.host, target.port)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; SNI and the certificate check name the host."""

    def __init__(
        self, host: str, port: int, *, address: IPAddress, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _read_bounded(response: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise OutboundFailed("timed out")
        chunk = response.read1(min(16384, limit + 1 - size)) if limit + 1 - size > 0 else b""
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise OutboundFailed(f"the answer is larger than {limit} bytes")
    return b"".join(chunks)


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _failure(error: Exception, *, expired: bool) -> OutboundFailed:
    """What failed, in the operator's words; never the remote's own text."""
    if expired or isinstance(error, TimeoutError):
        return OutboundFailed("timed out")
    if isinstance(error, ssl.SSLCertVerificationError):
        return OutboundFailed(f"TLS certificate not accepted ({error.verify_message})")
    if isinstance(error, ssl.SSLError):
        return OutboundFailed("TLS handshake failed")
    if isinstance(error, http.client.HTTPException):
        return OutboundFailed("the answer is not valid HTTP")
    assert isinstance(error, OSError)
    return OutboundFailed(f"connection failed ({error.strerror or type(error).__name__})")


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """One guarded request: checked, resolved once, pinned, no redirects, bounded; see the module.

    `timeout` bounds the exchange (each connect, send and read, and the body as a whole);
    `max_response_bytes=0` reads no body (a webhook needs only the status); `ssl_context` defaults
    to the system's trust store with host name checking (tests pass their own authority).
    """
    target = _parse(url)
    addresses = _resolve(target.host, target.port)
    deadline = time.monotonic() + timeout
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != (443 if target.scheme == "https" else 80):
        host_header += f":{target.port}"
    sent_headers = {"User-Agent": USER_AGENT, **(headers or {}), "Host": host_header, "Connection": "close"}
    last_error: OutboundFailed | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            context = ssl_context or ssl.create_default_context()
            connection = _PinnedHTTPSConnection(
                target.host, target.port, address=address, timeout=remaining, context=context
            )
        else:
            connection = _PinnedHTTPConnection(target.host, target.port, address=address, timeout=remaining)
        # Socket timeouts bound each wait, not a peer that trickles one byte per wait: at the
        # deadline the socket is shut down, whatever the exchange is doing.
        watchdog = threading.Timer(remaining, _shut, [connection])
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                connection.request(method, target.path, body=body, headers=sent_headers)
                response = connection.getresponse()
            except ConnectionRefusedError:
                last_error = OutboundFailed(f"connection to {address} port {target.port} refused")
                continue  # the next address may answer; nothing was sent to this one
            return Response(
                status=response.status,
                headers={k.lower(): v for k, v in response.getheaders()},
                body=_read_bounded(response, max_response_bytes, deadline) if max_response_bytes else b"",
            )
        except OutboundError:
            raise
        except (OSError, http.client.HTTPException) as error:
            raise _failure(error, expired=time.monotonic() >= deadline) from None
        finally:
            watchdog.cancel()
            connection.close()
    raise last_error or OutboundFailed("timed out")


def post(url: str, *, body: bytes, headers: Mapping[str, str] | None = None, **options: Any) -> Response:
    """A guarded POST (see `request`)."""
    return request("POST", url, body=body, headers=headers, **options)


def get(url: str, *, headers: Mapping[str, str] | None = None, **options: Any) -> Response:
    """A guarded GET (see `request`)."""
    return request("GET", url, headers=headers, **options)
