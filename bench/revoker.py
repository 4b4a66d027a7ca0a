"""Scenario (b)'s side process: revokes a live token of the main tenant every 100 ms while told to.

`python -m bench.revoker <tenant id> <ids file> [interval]`, in the server's environment (the
runtime role, the same cache). It prints `ready <backend pid>`, then obeys stdin: `start` revokes
on a fixed schedule (one every `interval` seconds, not `interval` after the last one ended),
`stop` answers `stopped <revoked> <seconds> <slowest ms>`, end of input exits.

Each revocation goes through the product's own service (`scopes.consent.services.tokens_revoke`: an audit
row, then the token's delete), inside the tenant as any request would enter it, so whatever the
product does on a revocation (signals, cache invalidation, database triggers) happens as in
production. The tokens are ones the load never uses: see docs/performance.md for why.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import django


def main() -> None:
    django.setup()
    from django.db import connection

    from accounts.tenancy import tenant_scope
    from scopes.consent.services import tokens_revoke
    from scopes.models import AccessToken

    tenant_id = int(sys.argv[1])
    ids: list[int] = json.loads(open(sys.argv[2]).read())  # noqa: SIM115 - read once
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    running = threading.Event()
    finished = threading.Event()
    state = {"revoked": 0, "slowest": 0.0, "started": 0.0}

    def revoke(pk: int) -> None:
        with tenant_scope(tenant_id):
            token = AccessToken.objects.select_related("tenant", "user").get(pk=pk)
            tokens_revoke(actor=None, access_tokens=[token], via="bench")

    def loop() -> None:
        # Every database call stays on this thread (Django connections are per thread).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            print(f"ready {cursor.fetchone()[0]}", flush=True)
        pending = iter(ids)
        while not finished.is_set():
            if not running.wait(0.05):
                continue
            due = time.monotonic()
            while running.is_set():
                pk = next(pending, None)
                if pk is None:
                    print("error: the revoker ran out of tokens", flush=True)
                    os._exit(1)
                began = time.perf_counter()
                revoke(pk)
                state["slowest"] = max(state["slowest"], time.perf_counter() - began)
                state["revoked"] += 1
                due += interval
                time.sleep(max(0.0, due - time.monotonic()))

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    for line in sys.stdin:
        command = line.strip()
        if command == "start":
            state.update(revoked=0, slowest=0.0, started=time.monotonic())
            running.set()
        elif command == "stop":
            running.clear()
            time.sleep(0.05 + state["slowest"])  # let a revocation in flight finish
            elapsed = time.monotonic() - state["started"]
            print(f"stopped {state['revoked']} {elapsed:.2f} {state['slowest'] * 1000:.1f}", flush=True)
    finished.set()
    worker.join(timeout=5)


if __name__ == "__main__":
    main()
