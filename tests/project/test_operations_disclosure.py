"""Second audit, item 6: the operations endpoints never name a host or a version.

The audit read `python_info{version="3.11.7",...}` (and the process collector's series) from an
anonymous `GET /metrics`. The exposition is parsed here, as Prometheus would, in both of the ways
`/metrics` is served: one process (runserver, the test client) and gunicorn's workers summed from
`PROMETHEUS_MULTIPROC_DIR`; anonymously and with `METRICS_TOKEN`. A scrape changes nothing.
"""

from __future__ import annotations

import platform
import socket
import sys

import django
import gunicorn
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

# What would identify the machine or the software under it.
_IDENTIFYING_NAMES = ("python_info", "python_", "process_")
_IDENTIFYING_LABELS = {"version", "host", "hostname", "instance", "node", "implementation", "patchlevel"}


def _identifying_values() -> set[str]:
    values = {platform.python_version(), django.get_version(), gunicorn.__version__, socket.gethostname()}
    values |= {platform.node(), sys.version.split()[0]}
    return {value for value in values if value}


def _leaks(exposition: str) -> list[str]:
    """Every series, label or label value in the exposition that names a version or a host."""
    found = []
    secrets = _identifying_values()
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name.startswith(_IDENTIFYING_NAMES):
                found.append(sample.name)
            for label, value in sample.labels.items():
                if label in _IDENTIFYING_LABELS or any(secret in value for secret in secrets):
                    found.append(f"{sample.name}{{{label}={value!r}}}")
    for secret in secrets:
        if secret in exposition:
            found.append(f"text {secret!r}")
    return found


def _scrapes(settings, client_kwargs: dict[str, str]) -> str:
    client = Client(**client_kwargs)
    client.get("/healthz")  # something counted, so the exposition is not empty
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.mark.parametrize(
    ("token", "client_kwargs"),
    [("", {}), ("scrape-secret", {"HTTP_AUTHORIZATION": "Bearer scrape-secret"})],
    ids=["anonymous", "with-token"],
)
@pytest.mark.parametrize("multiprocess", [False, True], ids=["one-process", "gunicorn-workers"])
def test_metrics_name_no_version_and_no_host(
    settings, monkeypatch, tmp_path, unchanged, token, client_kwargs, multiprocess
):
    settings.METRICS_TOKEN = token
    if multiprocess:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with unchanged():
        exposition = _scrapes(settings, client_kwargs)
    assert _leaks(exposition) == []
    if not multiprocess:  # the application's own series are still there
        names = {family.name for family in text_string_to_metric_families(exposition)}
        assert {"http_requests", "http_request_duration_seconds"} <= names


def test_the_other_operations_endpoints_name_nothing_either(unchanged):
    with unchanged():
        answers = [Client().get(path) for path in ("/healthz", "/readyz")]
    for answer in answers:
        text = answer.content.decode() + "".join(f"{k}: {v}\n" for k, v in answer.items())
        assert [secret for secret in _identifying_values() if secret in text] == []
        assert "Server" not in answer
