"""Issue 24 item 2: audit webhooks pointed at internal addresses (SSRF), through the outbound guard.

The attacker is an administrator (or whoever can write a webhook row): they save a URL on loopback,
the metadata service or the private network, or a public name that resolves (or re-resolves) there,
or a receiver that redirects inwards, and read the delivery log to learn what answered. Refused at
save time with the reason, refused again at delivery time for rows that exist already; redirects
are never followed; the log says what failed and never repeats the receiver's answer.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from accounts.audit_stream.delivery import Settings, run_once
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.constants import AuditAction
from accounts.services import audit_record
from tests.accounts.audit_stream.receiver import Receiver

pytestmark = pytest.mark.attack

FAST = Settings(lease_seconds=5, timeout_seconds=2, backoff_base_seconds=60.0)  # one attempt per run

# URL -> the reason the form must give. Every spelling a resolver accepts for an internal address.
REFUSED_ON_SAVE = {
    "https://127.0.0.1:8000/hook": "address 127.0.0.1 is loopback",
    "https://169.254.169.254/latest/meta-data/": "address 169.254.169.254 is link-local",
    "https://10.1.2.3/": "address 10.1.2.3 is private",
    "https://192.168.0.10/": "address 192.168.0.10 is private",
    "https://172.16.0.1/": "address 172.16.0.1 is private",
    "https://100.64.0.1/": "address 100.64.0.1 is shared",
    "https://0.0.0.0/": "address 0.0.0.0 is unspecified",
    "https://224.0.0.1/": "address 224.0.0.1 is multicast",
    "https://240.0.0.1/": "address 240.0.0.1 is",
    "https://[::1]/": "address ::1 is loopback",
    "https://[fe80::1]/": "address fe80::1 is link-local",
    "https://[fd00::1]/": "address fd00::1 is private",
    "https://[::ffff:127.0.0.1]/": "is loopback (as IPv6)",
    "https://[::ffff:169.254.169.254]/": "is link-local (as IPv6)",
    "https://[2002:7f00:1::]/": "is loopback (as IPv6)",  # 6to4 of 127.0.0.1
    "https://127.1/": "Enter a valid URL",  # Django's URL validator stops these three first;
    "https://2130706433/": "Enter a valid URL",  # the guard refuses them at delivery (below)
    "https://0x7f.0.0.1/": "Enter a valid URL",
    "https://localhost/": "is loopback",
    "http://hooks.example.com/": "only https",
    "ftp://hooks.example.com/": "only https",
    "https://user:pass@hooks.example.com/": "credentials",
}


@pytest.fixture
def local(settings) -> Iterator[Receiver]:
    """A plain-HTTP receiver on loopback; http allowed (so refusals are about the address)."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    running = Receiver()
    running.start()
    yield running
    running.stop()


def _queue(world, url: str) -> AuditWebhook:
    """A webhook row as one saved before the guard existed (no validation), with one event queued."""
    hook = AuditWebhook.objects.create(tenant=world.acme, url=url, secret="s")
    audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme)
    return hook


def _only_delivery() -> AuditDelivery:
    return AuditDelivery.objects.get()


@pytest.mark.parametrize(("url", "reason"), list(REFUSED_ON_SAVE.items()))
def test_the_admin_refuses_an_internal_or_plain_http_endpoint_with_the_reason(
    world, admin_client, unchanged, url, reason
):
    with unchanged():
        response = admin_client.post(
            "/admin/accounts/auditwebhook/add/",
            {"tenant": world.acme.pk, "url": url, "secret": "x" * 32, "is_active": "on"},
        )
    assert response.status_code == 200, "saved"
    errors = response.context["adminform"].form.errors
    assert "url" in errors and reason in " ".join(errors["url"]), errors


def test_an_existing_row_on_loopback_is_refused_at_delivery_and_nothing_is_sent(world, local):
    _queue(world, f"http://127.0.0.1:{local.port}/internal")
    assert run_once("test", FAST) == 0
    assert local.received == []
    delivery = _only_delivery()
    assert (delivery.last_status, delivery.last_error) == (None, "refused: address 127.0.0.1 is loopback")
    assert delivery.delivered_at is None


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:7f00:1]", "localhost"]
)
def test_every_spelling_of_loopback_is_refused_at_delivery(world, local, host):
    _queue(world, f"http://{host}:{local.port}/internal")
    run_once("test", FAST)
    assert local.received == []
    assert _only_delivery().last_error.startswith("refused: address ")


def test_a_name_resolving_to_any_internal_address_is_refused(world, local, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if (
            host == "hooks.example.com" and not kwargs.get("flags", 0) & socket.AI_NUMERICHOST
        ):  # one public address and one internal: the client may pick either
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", args[0] or 80)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", args[0] or 80)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    _queue(world, f"http://hooks.example.com:{local.port}/x")
    run_once("test", FAST)
    assert local.received == []
    assert _only_delivery().last_error == "refused: address 127.0.0.1 is loopback"


def test_dns_rebinding_gains_nothing_the_checked_address_is_the_one_connected(world, settings, monkeypatch):
    """The name resolves to an allowed receiver when checked, then to another address: the post
    goes to the checked one, with the name as Host, and the name is resolved once."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    allowed, inner = Receiver(host="127.0.0.1"), Receiver(host="127.0.0.2")
    allowed.start()
    inner.start()
    inner.server.server_close()  # the inner service is elsewhere; rebind it to the same port
    inner.server.socket = socket.create_server(("127.0.0.2", allowed.port))
    inner.server.server_address = ("127.0.0.2", allowed.port)
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    asked: list[str] = []

    def resolve(host, *args, **kwargs):
        if host == "hooks.example.com" and not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), args[0] or 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    try:
        AuditWebhook.objects.create(
            tenant=world.acme, url=f"http://hooks.example.com:{allowed.port}/h", secret="s"
        )
        audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme)
        assert run_once("test", FAST) == 1
    finally:
        allowed.stop()
        inner.stop()
    assert asked == ["hooks.example.com"]  # resolved once per send, never again by the connection
    (got,) = allowed.at("/h")
    assert got.headers["Host"] == f"hooks.example.com:{allowed.port}"


def test_redirects_are_not_followed_and_the_log_says_so(world, local, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    local.answers["/hook"] = (302, {"Location": f"http://127.0.0.1:{local.port}/inner"}, b"")
    _queue(world, f"http://127.0.0.1:{local.port}/hook")
    assert run_once("test", FAST) == 0
    assert [r.path for r in local.received] == ["/hook"]  # never /inner
    delivery = _only_delivery()
    assert (delivery.last_status, delivery.last_error) == (302, "HTTP 302 (redirects are not followed)")
    assert delivery.delivered_at is None


def test_the_log_never_repeats_the_receivers_answer(world, local, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    local.answers["/hook"] = (500, {"X-Banner": "internal-db 5.7"}, b"Internal banner: redis 7.2 at 10.0.0.5")
    _queue(world, f"http://127.0.0.1:{local.port}/hook")
    run_once("test", FAST)
    delivery = _only_delivery()
    assert (delivery.last_status, delivery.last_error) == (500, "HTTP 500")


def test_a_receiver_that_never_answers_costs_the_timeout_and_says_timed_out(world, local, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    local.hang_at = 1
    _queue(world, f"http://127.0.0.1:{local.port}/hook")
    run_once("test", Settings(lease_seconds=5, timeout_seconds=0.5, backoff_base_seconds=60.0))
    local.release.set()
    assert _only_delivery().last_error == "timed out"


def test_plain_http_is_refused_at_delivery_outside_debug(world, local, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.OUTBOUND_ALLOW_HTTP = False
    _queue(world, f"http://127.0.0.1:{local.port}/hook")
    run_once("test", FAST)
    assert local.received == []
    assert _only_delivery().last_error == "refused: only https URLs are allowed (OUTBOUND_ALLOW_HTTP is off)"
