"""`manage.py deliver_audit_events`: the worker that streams audit events to tenants' webhooks.

Run one or more (each delivers to one endpoint at a time; endpoints are shared out by leases):

    DATABASE_URL=... manage.py deliver_audit_events            # forever, polling every second
    manage.py deliver_audit_events --once                      # drain what is due, then exit
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from accounts.audit_stream.delivery import Settings, run_once


class Command(BaseCommand):
    help = "Deliver queued audit events to the tenants' webhook endpoints (at least once, in order)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Drain what is due, then exit.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between idle polls.")
        parser.add_argument("--lease-seconds", type=float, default=60.0, help="An endpoint's lease.")
        parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout (< the lease).")
        parser.add_argument("--batch", type=int, default=100, help="Deliveries per lease.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["timeout"] >= options["lease_seconds"]:
            raise SystemExit(
                "--timeout must be shorter than --lease-seconds (a send must end within its lease)."
            )
        settings = Settings(
            lease_seconds=options["lease_seconds"], timeout_seconds=options["timeout"], batch=options["batch"]
        )
        owner = f"{socket.gethostname()}:{os.getpid()}"
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            close_old_connections()
            delivered = run_once(owner, settings)
            if delivered:
                self.stdout.write(f"delivered {delivered}")
                self.stdout.flush()
            if options["once"] or stopping:
                return
            if not delivered:
                time.sleep(options["poll"])
