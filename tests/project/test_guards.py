"""Guards that make the safe way the only way: one-way imports, and a base viewset that cannot be widened."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from scopes.api.viewsets import TenantScopedViewSet

ROOT = Path(__file__).resolve().parents[2]
# Imports flow one way: photos -> scopes -> accounts. What each app may not import.
FORBIDDEN = {"accounts": {"scopes", "photos"}, "scopes": {"photos"}}


def imported_apps(source: str) -> set[str]:
    """The top-level packages a module imports (absolute imports only: the project uses no others)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations() -> list[str]:
    found = []
    for app, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / app).rglob("*.py")):
            bad = imported_apps(path.read_text()) & forbidden
            if bad:
                found.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    return found


def test_imports_flow_one_way():
    assert violations() == []


def test_the_import_check_sees_a_violation():
    """The check itself: a module of accounts importing scopes, in either form, is caught."""
    assert "scopes" in imported_apps("from scopes.models import Scope")
    assert "photos" in imported_apps("import photos.models")
    assert "scopes" in imported_apps("def f():\n    from scopes import standing\n")


def test_a_tenant_viewset_cannot_replace_its_queryset():
    for name in TenantScopedViewSet.SEALED:
        with pytest.raises(ImproperlyConfigured, match=name):
            type("Widened", (TenantScopedViewSet,), {name: lambda self, *a, **k: None})


def test_a_tenant_viewset_may_narrow_its_queryset():
    narrowed = type("Narrowed", (TenantScopedViewSet,), {"narrow_queryset": lambda self, q: q})
    assert issubclass(narrowed, TenantScopedViewSet)
