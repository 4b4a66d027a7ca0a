"""A local HTTP receiver for audit webhooks (and documents a client serves): records every request;
can fail, hang or answer a given body on demand."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        timestamp = self.headers["X-Audit-Timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(self.headers["X-Audit-Signature"], f"v1={expected}")


@dataclass
class Receiver:
    """`fail[path] = n`: answer 500 to the next n posts there; `hang_at = k`: hold the k-th post;
    `answers[path] = (status, headers, body)`: answer that there; `host`: the address to listen on;
    `tls`: a server context to answer over TLS with (tests/tls.py)."""

    received: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    hang_at: int | None = None
    hanging: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    count = len(receiver.received)
                    failing = receiver.fail.get(self.path, 0)
                    if failing:
                        receiver.fail[self.path] = failing - 1
                if receiver.hang_at is not None and count == receiver.hang_at:
                    receiver.hanging.set()
                    receiver.release.wait(30)
                    return  # the sender was killed meanwhile: no answer
                if self.path in receiver.answers:
                    status, headers, answer = receiver.answers[self.path]
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                self.send_response(500 if failing else 204)
                self.end_headers()

            def do_GET(self) -> None:
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), b""))
                    count = len(receiver.received)
                if receiver.hang_at is not None and count == receiver.hang_at:
                    receiver.hanging.set()
                    receiver.release.wait(30)
                    return
                if self.path in receiver.answers:  # a document served at this path (GET answers too)
                    status, headers, answer = receiver.answers[self.path]
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]
