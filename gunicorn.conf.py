"""gunicorn's configuration: what `make bench` and `make soak` measure, and what docs/deployment.md runs.

gunicorn reads this file from the working directory by itself (`gunicorn project.wsgi:application`);
its command-line options win over it. Every value can be changed from the environment.

Sync workers: a request holds one worker from start to end, and a request's time is database
time (one probe and one query warm: docs/performance.md), so throughput grows with workers up to
the cores and the database's connections. Persistent database connections come from Django
(`DB_CONN_MAX_AGE`, 600 in the benchmark), not from here.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

# The project's modules, whichever way gunicorn was started (its console script does not put the
# working directory on the import path before reading this file).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from project.logs import FORMATS, capture_warnings, gunicorn_logconfig

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a stuck worker is replaced after this
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "5"))  # rolling restarts
keepalive = 2
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# The application writes one JSON line per request itself (project/observability.py), with the
# request id and the route; gunicorn's own access log would repeat it without them.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
# gunicorn's own lines (an invalid request line, a worker timeout) in the application's format: one
# JSON object per line, client text inside JSON strings (docs/deployment.md). Python's warnings
# too, from the master and from the workers before Django configures logging.
_log_format = os.environ.get("LOG_FORMAT", "json")
logconfig_dict = gunicorn_logconfig(
    log_format=_log_format if _log_format in FORMATS else "json", level=loglevel
)
capture_warnings()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus: each worker writes its metrics to files in one directory; /metrics adds them up.
# A directory of this server's own unless the environment names one (then it is emptied at start).
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="gp-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server: Any) -> None:
    """A fresh metrics directory: counts of a previous server are not this one's."""
    for entry in Path(_metrics_dir).glob("*.db"):
        entry.unlink()


def worker_exit(server: Any, worker: Any) -> None:
    """A worker that stops (a restart, a deploy, max_requests) writes its bookkeeping first:
    scope usage and personal tokens' last use noted since the last flush (accounts.background)."""
    from accounts import background

    background.at_exit()


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits leaves its counters to the sum, and its gauges out of it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """The directory made here goes with the server; one the environment named stays."""
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
