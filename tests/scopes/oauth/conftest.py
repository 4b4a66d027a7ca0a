"""Fixtures of the OAuth tests: a self-registering client's metadata document (`agents.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scopes.oauth.agents import Agent, serve_agent


@pytest.fixture
def agent(settings, tmp_path, monkeypatch) -> Iterator[Agent]:
    yield from serve_agent(settings, tmp_path, monkeypatch)
