"""A self-registering client's side: its client ID metadata document, served over TLS on loopback.

The name is the test's own (`agents.example.test`, resolved to 127.0.0.1 while the test runs) and
its certificate is signed by an authority only the test trusts (`SSL_CERT_FILE`): the server
fetches the document as it would in production, through the outbound guard, which lets loopback
through only because the test lists it (`OUTBOUND_ALLOWED_NETWORKS`). No code path knows about
tests: there is no plain-http exception for a `client_id`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.audit_stream.receiver import Receiver
from tests.oauth import REDIRECT_URI
from tests.tls import certificates

AGENT_HOST = "agents.example.test"
DECLARED = "photos.read albums.read offline_access tenant.admin audit.read photos.delete"


@dataclass
class Agent:
    receiver: Receiver
    client_id: str

    def serve(self, **changes: Any) -> None:
        document = {
            "client_id": self.client_id,
            "client_name": "Trip planner agent",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": DECLARED,
            **changes,
        }
        self.receiver.answers["/agent.json"] = (
            200,
            {"Content-Type": "application/json", "Cache-Control": "max-age=600"},
            json.dumps(document).encode(),
        )


def serve_agent(settings: Any, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Agent]:
    """The document on loopback under `AGENT_HOST`, trusted and reachable for this test only."""
    certs = certificates(directory, AGENT_HOST)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))  # this test's authority, for this test only
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == AGENT_HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    receiver = Receiver(tls=certs.server_context())
    receiver.start()
    running = Agent(receiver, f"https://{AGENT_HOST}:{receiver.port}/agent.json")
    running.serve()
    yield running
    receiver.stop()
