"""What the project imports is what it declares, and the lock installs what pyproject.toml asks for.

A package that arrives only because another one depends on it today (redis with django-redis,
jwcrypto with django-oauth-toolkit) can vanish with that package's next release; so every
third-party module the code imports must map to a distribution pyproject.toml names. The lock
(requirements.lock, `make lock`) is what `bin/setup` installs: a range in pyproject.toml that the
locked version does not satisfy means the lock is stale.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
OURS = {"accounts", "scopes", "api", "photos", "project", "tests", "bench", "soak"}
PRODUCT = ("accounts", "scopes", "api", "photos", "project")
# Imported by test, bench and soak code only: they may come from the dev extra.
TOOLING = ("tests", "bench", "soak")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _declared(*, dev: bool) -> set[str]:
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    if dev:
        requirements += project["optional-dependencies"]["dev"]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _third_party_imports(folders: tuple[str, ...]) -> dict[str, str]:
    """Top-level module -> a file importing it, for modules neither ours nor the standard library's."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in OURS and top not in sys.stdlib_module_names and top != "__future__":
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _undeclared(folders: tuple[str, ...], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(_third_party_imports(folders).items()):
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not names & declared:
            missing.append(f"{module} (imported by {where}; installed by {sorted(names) or 'nothing'})")
    return missing


def test_every_module_the_product_imports_is_a_declared_dependency():
    assert _undeclared(PRODUCT, _declared(dev=False)) == []


def test_every_module_the_tests_import_is_declared_with_the_dev_extra():
    assert _undeclared(TOOLING, _declared(dev=True)) == []


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", (ROOT / "requirements.lock").read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_lock_satisfies_every_range_in_pyproject():
    project = _pyproject()["project"]
    locked = _locked()
    unmet = []
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(text)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{text}: locked {version}")
    assert unmet == [], "requirements.lock is stale: run `make lock`"


def test_the_lock_pins_every_file_by_hash():
    text = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^[A-Za-z0-9._-]+==[^\s\\]+((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    assert len(pins) == len(_locked()) > 0
