"""Guards that make the safe way the only way: one-way imports, and a base viewset that cannot be widened."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Count

from accounts import tenancy
from accounts.querysets import TenantKeyed, TenantManager, TenantMissing, TenantOwned
from api.viewsets import TenantScopedViewSet
from photos.models import Photo
from tests.factories import AlbumFactory, PhotoFactory

ROOT = Path(__file__).resolve().parents[2]
# Imports flow one way: photos -> api -> scopes -> accounts. What each app may not import.
# `project` (settings, urls) sits above them all.
FORBIDDEN = {
    "accounts": {"api", "scopes", "photos", "project"},
    "scopes": {"api", "photos", "project"},
    "api": {"photos", "project"},
    "photos": {"project"},
}


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


# Inside scopes, too, every package and top-level module has a layer, and imports only from the
# layers below its own (docs/architecture.md, "Layers"): the decision and the standing (`access`)
# know nothing of the features built on them; the OAuth endpoints sit on every feature; the admin,
# the commands, the URLs and the app's start-up wire them together and nothing imports them.
SCOPES_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"constants"}),
    frozenset({"registry"}),
    frozenset({"models"}),
    frozenset({"access"}),
    frozenset({"services"}),
    frozenset({"usage"}),
    frozenset({"roles"}),
    frozenset({"tenant_policy"}),
    frozenset({"consent"}),
    frozenset({"machines", "device", "oidc"}),
    frozenset({"oauth"}),
    frozenset({"config"}),  # configuration as code: applies a document through the services below
    frozenset({"admin", "management", "urls", "apps"}),
)


def scopes_part(module: str) -> str | None:
    """The layer-holding part of a `scopes` module name: its package, or the top-level module."""
    parts = module.split(".")
    return parts[1] if parts[0] == "scopes" and len(parts) > 1 else None


def scopes_parts_imported(source: str, *, modules: set[str]) -> set[str]:
    """The parts of `scopes` a module imports, lazy imports included (`from scopes import x` names x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in modules
            ]
        else:
            continue
        found |= {part for name in names if (part := scopes_part(name)) is not None}
    return found


def layer_violations(sources: dict[str, str]) -> list[str]:
    """Each import of a part of `scopes` from the same layer or one above (or of a part with no layer)."""
    layer_of = {part: level for level, parts in enumerate(SCOPES_LAYERS) for part in parts}
    found = []
    for module, source in sorted(sources.items()):
        own = scopes_part(module)
        if own is None:
            continue
        if own not in layer_of:
            found.append(f"{module}: scopes.{own} has no layer in SCOPES_LAYERS")
            continue
        for part in sorted(scopes_parts_imported(source, modules=set(sources)) - {own}):
            if layer_of.get(part, len(SCOPES_LAYERS)) >= layer_of[own]:
                found.append(f"{module} imports scopes.{part}, which is not below scopes.{own}")
    return found


def test_scopes_packages_import_one_way():
    """Every package of scopes imports only from the layers below it, so no two packages are a circle."""
    sources = {
        _module_name(path): path.read_text()
        for path in sorted((ROOT / "scopes").rglob("*.py"))
        if "migrations" not in path.parts and path.parent != ROOT / "scopes" / "templates"
    }
    assert layer_violations(sources) == []


def resource_tables_named(source: str, tables: set[str]) -> set[str]:
    """The given table names a module's string constants mention (SQL in strings, f-strings too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {table for table in tables if table in node.value}
    return found


def test_scopes_names_no_resource_table():
    """The authorization server knows the photos app only through the resource registry
    (scopes.access.resources): no model of scopes relates to one of photos, and no SQL of scopes
    names a photos table (migrations are history and keep theirs)."""
    photo_models = set(django_apps.get_app_config("photos").get_models())
    tables = {model._meta.db_table for model in photo_models}
    related = [
        f"{model.__name__}.{field.name}"
        for model in django_apps.get_app_config("scopes").get_models()
        for field in model._meta.get_fields()
        if field.is_relation and field.related_model in photo_models
    ]
    named = [
        f"{path.relative_to(ROOT)} names {', '.join(sorted(found))}"
        for path in sorted((ROOT / "scopes").rglob("*.py"))
        if "migrations" not in path.parts and (found := resource_tables_named(path.read_text(), tables))
    ]
    assert related == [] and named == []
    assert resource_tables_named('sql = f"JOIN photos_album al ON {x}"', tables) == {"photos_album"}


def test_the_layer_check_sees_a_violation():
    """The check itself: an import upwards, a lazy one, one between peers, and a part with no layer."""
    assert layer_violations({"scopes.access.rows": "from scopes.consent.rules import ConsentPlan"}) == [
        "scopes.access.rows imports scopes.consent, which is not below scopes.access"
    ]
    assert layer_violations(
        {"scopes.models": "def f():\n    from scopes import urls\n", "scopes.urls": ""}
    ) == ["scopes.models imports scopes.urls, which is not below scopes.models"]
    assert layer_violations({"scopes.device.views": "import scopes.oidc.views"}) == [
        "scopes.device.views imports scopes.oidc, which is not below scopes.device"
    ]
    assert layer_violations({"scopes.newthing.x": "from scopes.models import Scope"}) == [
        "scopes.newthing.x: scopes.newthing has no layer in SCOPES_LAYERS"
    ]
    assert layer_violations({"scopes.oauth.views": "from scopes.consent.flow import situation_of"}) == []


PACKAGES = ("accounts", "scopes", "api", "photos", "project")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(modules: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, lazy (function-level) imports included."""
    graph: dict[str, set[str]] = {}
    for name, source in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from a.b import c` names the module a.b.c when there is one, else a.b.
                targets |= {
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                }
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_in_a_circle():
    """No import cycle anywhere in the product, lazy imports included: each module has one place in
    the layering (docs/architecture.md), so a cycle is a rule living in two homes."""
    modules = {
        _module_name(path): path.read_text()
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert cycles(module_imports(modules)) == []


def package_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph seen a package at a time: `scopes.consent.flow` counts as `scopes.consent`."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {package(module): set() for module in graph}
    for module, targets in graph.items():
        packages[package(module)] |= {package(target) for target in targets} - {package(module)}
    return packages


def test_no_package_imports_itself_in_a_circle():
    """Nor at the level of packages (`accounts.admin`, `scopes.consent`, `photos.api`...): a package
    that imports one that imports it back is one job in two homes, even if no module is in a cycle."""
    modules = {
        _module_name(path): path.read_text()
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert cycles(package_imports(module_imports(modules))) == []


def test_the_package_cycle_check_sees_a_cycle():
    graph = {
        "scopes.a.x": {"scopes.b.y"},
        "scopes.b.y": set(),
        "scopes.b.z": {"scopes.a.w"},
        "scopes.a.w": set(),
    }
    assert cycles(package_imports(graph)) == [["scopes.a", "scopes.b"]]


def test_the_cycle_check_sees_a_cycle():
    graph = module_imports(
        {
            "scopes.a": "from scopes.b import thing",
            "scopes.b": "def f():\n    from scopes import a\n",
            "scopes": "",
        }
    )
    assert cycles(graph) == [["scopes.a", "scopes.b"]]


def test_the_import_check_sees_a_violation():
    """The check itself: a module of accounts importing scopes, in either form, is caught."""
    assert "scopes" in imported_apps("from scopes.models import Scope")
    assert "photos" in imported_apps("import photos.models")
    assert "scopes" in imported_apps("def f():\n    from scopes import standing\n")


def imported_test_modules(source: str) -> set[str]:
    """The test modules (`tests.<...>.test_<name>`) a module imports, at any depth of the file.

    A test module imported by another runs its tests twice and ties two behaviours together:
    what tests share lives in conftest modules and helper modules (tests/oauth.py,
    tests/servers.py), which are not named `test_`.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {
            name
            for name in names
            if name.split(".")[0] == "tests" and any(part.startswith("test_") for part in name.split(".")[1:])
        }
    return found


def test_no_test_module_imports_another_test_module():
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(found)}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if (found := imported_test_modules(path.read_text()))
    ]
    assert not offenders, offenders


def test_the_test_module_check_sees_an_import_of_a_test_module():
    """The check itself: both import forms, at any depth, and helper modules left alone."""
    assert imported_test_modules("from tests.scopes.roles.test_admin import make_staff")
    assert imported_test_modules("import tests.scopes.access.test_freshness")
    assert imported_test_modules("def f():\n    from tests.scopes.roles import test_admin\n")
    assert not imported_test_modules("from tests.oauth import Flow\nfrom tests.attacks import unchanged")


def test_a_tenant_viewset_cannot_replace_its_queryset():
    for name in TenantScopedViewSet.SEALED:
        with pytest.raises(ImproperlyConfigured, match=name):
            type("Widened", (TenantScopedViewSet,), {name: lambda self, *a, **k: None})


def test_a_tenant_viewset_may_narrow_its_queryset():
    narrowed = type("Narrowed", (TenantScopedViewSet,), {"narrow_queryset": lambda self, q: q})
    assert issubclass(narrowed, TenantScopedViewSet)


# --- Tenant models refuse a query that names no tenant (accounts.querysets)

REFUSED = {
    "list": lambda qs: list(qs),
    "first": lambda qs: qs.first(),
    "get": lambda qs: qs.get(pk=1),
    "count": lambda qs: qs.count(),
    "exists": lambda qs: qs.exists(),
    "iterator": lambda qs: list(qs.iterator()),
    "aggregate": lambda qs: qs.aggregate(Count("pk")),
    "values": lambda qs: list(qs.values_list("pk", flat=True)),
    "update": lambda qs: qs.update(title="x"),
    "delete": lambda qs: qs.delete(),
    "in_bulk": lambda qs: qs.in_bulk([1]),
}


@pytest.mark.parametrize("operation", REFUSED, ids=str)
def test_a_query_naming_no_tenant_is_refused(world, operation):
    PhotoFactory(tenant=world.acme, owner=world.member_a)
    before = list(Photo.all_tenants.values_list("pk", "title"))
    with pytest.raises(TenantMissing, match="names no tenant"):
        REFUSED[operation](Photo.objects.filter(owner=world.member_a))
    assert list(Photo.all_tenants.values_list("pk", "title")) == before


def test_a_person_spans_tenants_so_their_related_manager_is_refused(world):
    with pytest.raises(TenantMissing):
        list(world.member_a.photos.all())


def test_queries_naming_a_tenant_run(world):
    album = AlbumFactory(tenant=world.acme, owner=world.member_a)
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a, album=album)
    PhotoFactory(tenant=world.globex, owner=world.member_b)
    assert list(Photo.objects.for_tenant(world.acme)) == [photo]
    assert Photo.objects.for_tenant(world.acme).filter(owner=world.member_a).count() == 1
    assert list(album.photos.all()) == [photo]  # an album is in one tenant: so are its photos
    assert Photo.all_tenants.count() == 2
    photo.refresh_from_db()  # what Django does to a row it holds uses the base manager
    assert photo.album == album


def test_every_tenant_model_guards_its_default_manager():
    for model in tenancy.tenant_owned_models():
        if model._meta.label in tenancy.MANAGER_EXEMPT:
            continue
        manager = model._default_manager
        assert isinstance(manager, TenantManager) and not manager.scoped, (
            f"{model._meta.label}: its default manager must be TenantManager() "
            "(or list it in accounts.tenancy.MANAGER_EXEMPT with the reason)"
        )
        assert model._base_manager.get_queryset()._tenant_scoped, model._meta.label


def test_every_tenant_model_inherits_the_tenant_owned_contract():
    """One abstract model holds the contract (managers, base manager, key), so none drifts from it."""
    for model in tenancy.tenant_owned_models():
        label = model._meta.label
        if label in tenancy.TENANT_KEY_EXEMPT:
            continue
        assert issubclass(model, TenantKeyed), (
            f"{label}: inherit accounts.querysets.TenantOwned (or TenantKeyed if it is in MANAGER_EXEMPT), "
            "or list it in accounts.tenancy.TENANT_KEY_EXEMPT with the reason"
        )
        key = f"{model._meta.model_name}_tenant_id_key"
        assert [c.fields for c in model._meta.constraints if c.name == key] == [("tenant", "id")], label
        if label not in tenancy.MANAGER_EXEMPT:
            assert issubclass(model, TenantOwned), f"{label}: inherit accounts.querysets.TenantOwned"


def test_the_guard_check_sees_an_unguarded_tenant_model():
    from photos.models import Album

    class Unguarded(models.Model):
        tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "photos"

    try:
        assert not isinstance(Unguarded._default_manager, TenantManager)
        assert Unguarded in tenancy.tenant_owned_models()
    finally:
        django_apps.all_models["photos"].pop("unguarded", None)
        django_apps.clear_cache()
    assert isinstance(Album._default_manager, TenantManager)


def test_a_viewset_that_forgot_its_tenant_filter_fails_on_every_database(world, api_client, monkeypatch):
    """The guard in action: the API's tenant-and-reach filter removed, the list is refused (not
    every tenant's photos), on SQLite as on PostgreSQL, before any row is read."""
    PhotoFactory(tenant=world.globex, owner=world.member_b)
    monkeypatch.setattr("api.viewsets.restrict", lambda queryset, **kwargs: queryset)
    client = api_client(world.member_a, world.acme, ["photos.read"])
    with pytest.raises(TenantMissing):
        client.get("/api/t/acme/photos/")


# Every write to a rights table goes through its service, from the admin and the pages alike
# (tests/rights_guard.py, on for every test): the list of rights models is complete, and a page
# that writes one around its service fails.
def test_every_rights_model_has_its_writers():
    from accounts.models import Membership, Role
    from scopes.machines.models import TokenPolicy
    from scopes.models import ApplicationScope, RoleGrant, Scope
    from scopes.tenant_policy.models import TenantApp, TenantAppPolicy
    from tests.rights_guard import RIGHTS_WRITERS

    rights = {Role, RoleGrant, Membership, Scope, ApplicationScope, TenantAppPolicy, TenantApp, TokenPolicy}
    assert rights <= set(RIGHTS_WRITERS)
    assert all(RIGHTS_WRITERS[model] for model in RIGHTS_WRITERS)


def test_the_rights_guard_sees_an_admin_writing_around_its_service(world, client, monkeypatch):
    from django.contrib import admin
    from django.urls import reverse

    from accounts.constants import RoleName
    from scopes.roles.admin import RoleAdmin

    superuser = django_apps.get_model("accounts", "User").objects.create_superuser(
        "root", "r@example.com", "pw"
    )
    client.force_login(superuser)
    # The role page saving the role with Django's own save, as it did before role_save existed.
    monkeypatch.setattr(RoleAdmin, "save_model", admin.ModelAdmin.save_model)
    role = world.role(RoleName.GUEST)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    data = {"name": "Renamed", "description": "", "grants-TOTAL_FORMS": "0", "grants-INITIAL_FORMS": "0"}
    with pytest.raises(AssertionError, match=r"accounts\.Role saved outside"):
        client.post(url, {**data, "_preview_confirmed": "1"})
    monkeypatch.undo()
    assert client.post(url, {**data, "_preview_confirmed": "1"}).status_code == 302
