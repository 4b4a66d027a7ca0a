"""The worker is a real process, killed mid-batch (SIGKILL): every event still arrives, once per id.

Delivery is at least once: the event in flight when the worker died is sent again by the next
worker once the lease expires; the receiver dedupes by event id. After deduplication each
tenant's events arrived exactly once, in sequence order, every one correctly signed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.accounts.audit_stream.receiver import Receiver
from tests.servers import database_url as _database_url
from tests.servers import process_environment as _environment
from tests.servers import sqlite_file

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
PER_TENANT = 10
SEED = """
import json
from django.db import transaction
from accounts.audit_stream.models import AuditWebhook
from accounts.constants import AuditAction
from accounts.models import Tenant
from accounts.services import audit_record
tenants = [Tenant.objects.create(slug=slug, name=slug) for slug in ("kill-a", "kill-b")]
for tenant in tenants:
    AuditWebhook.objects.create(tenant=tenant, url=BASE + "/" + tenant.slug, secret="secret-" + tenant.slug)
ids = {t.slug: [] for t in tenants}
for i in range(PER_TENANT):
    for tenant in tenants:
        with transaction.atomic():
            ids[tenant.slug].append(audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=tenant,
                                                 tenant=tenant, after={"i": i}).pk)
print("IDS" + json.dumps(ids))
"""
PENDING = """
from accounts.audit_stream.models import AuditDelivery
print("PENDING", AuditDelivery.objects.filter(delivered_at__isnull=True).count())
"""


def _env(database_url: str) -> dict[str, str]:
    # The local plain-HTTP receiver, named to the outbound guard as an operator would name theirs.
    return {
        **_environment(database_url),
        "OUTBOUND_ALLOW_HTTP": "1",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


def _python(database_url: str, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=_env(database_url), check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


def _worker(database_url: str) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "deliver_audit_events", "--lease-seconds", "2", "--timeout", "1"]
    command += ["--poll", "0.05", "--batch", "5"]
    return subprocess.Popen(command, cwd=ROOT, env=_env(database_url), stdout=subprocess.DEVNULL)


@pytest.fixture
def database_url(tmp_path) -> str:
    if connection.vendor == "postgresql":
        return _database_url()
    return sqlite_file(tmp_path / "worker.sqlite3")


def test_a_worker_killed_mid_batch_loses_nothing_and_the_next_keeps_the_order(database_url):
    receiver = Receiver(hang_at=7)  # the 7th post is held open until the worker is dead
    base = receiver.start()
    workers: list[subprocess.Popen] = []
    try:
        out = _python(database_url, f"BASE = {base!r}\nPER_TENANT = {PER_TENANT}\n" + SEED)
        ids = json.loads(out.split("IDS", 1)[1])
        workers.append(_worker(database_url))
        assert receiver.hanging.wait(60), "the worker never reached the 7th event"
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-batch: a send in flight, unacknowledged
        workers[0].wait(10)
        receiver.release.set()
        assert len(receiver.received) == 7
        workers.append(_worker(database_url))
        deadline = time.monotonic() + 90
        while sum(len({r.event["id"] for r in receiver.at(f"/{s}")}) for s in ids) < 2 * PER_TENANT:
            assert time.monotonic() < deadline, "events missing after the restart"
            time.sleep(0.1)
        time.sleep(0.5)  # anything else the second worker would still send arrives now
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(10)
        receiver.stop()

    for slug, expected in ids.items():
        got = receiver.at(f"/{slug}")
        assert all(r.signed_by(f"secret-{slug}") for r in got)
        first_seen: list[int] = []
        for r in got:
            if r.event["id"] not in first_seen:
                first_seen.append(r.event["id"])
        assert first_seen == expected  # each event once (after dedupe), in the order they were written
        sequences = [r.event["sequence"] for r in got]
        assert sequences == sorted(sequences)  # never out of order, a redelivery only repeats the last
    assert len(receiver.received) - 2 * PER_TENANT <= 1  # only the event in flight came twice
    assert "PENDING 0" in _python(database_url, PENDING)
