"""The shared world: two tenants, users named for their roles, and a client that holds a real token.

acme:   owner_a (Owner), admin_a (Admin), member_a (Member), member2_a (Member), guest_a (Guest)
globex: member_b (Member)
nobody: outsider
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.constants import RoleName
from accounts.models import Role, Tenant, User
from scopes.constants import ScopeName
from scopes.models import AccessToken, Application, ApplicationScope, Consent, Scope
from tests import databases, rls
from tests.attacks import (  # noqa: F401  (the attack tests' fixtures, wherever those tests live)
    _attacks_write_under_their_own_media_root,
    media_root,
    unchanged,
)
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.oauth import RS_SECRET


@pytest.fixture(scope="session")
def _template_database(
    request,
    django_db_blocker,
    django_db_keepdb,
    django_db_use_migrations,
    django_db_modify_db_settings,
    tmp_path_factory,
) -> bool:
    """Whether this xdist worker's fresh test database was copied from the run's one migrated
    template (tests/databases.py) instead of being migrated again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    fresh = request.config.getvalue("create_db") and django_db_keepdb  # --create-db (and --reuse-db)
    if not databases.can_share(worker=worker, createdb=fresh, migrations=django_db_use_migrations):
        return False
    assert worker is not None
    shared = tmp_path_factory.getbasetemp().parent  # one directory for all workers of this run
    with django_db_blocker.unblock():
        databases.prepare(worker=worker, shared=shared, verbosity=request.config.option.verbose)
    return True


@pytest.fixture(scope="session")
def django_db_createdb(django_db_createdb, _template_database) -> bool:
    """A database copied from the template is fresh: pytest-django then reuses it as it finds it."""
    return django_db_createdb and not _template_database


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, on PostgreSQL the runtime role every request runs as (tests/rls.py), and
    the shared world, committed once per worker: each test's transaction rolls its own changes back."""
    with django_db_blocker.unblock():
        rls.prepare()
        _Shared.world = _world_committed()
    _Shared.blocker = django_db_blocker
    yield


@pytest.fixture(scope="session", autouse=True)
def _requests_run_as_runtime_role():
    """Installed before any handler (the live server's too) is built; inert until prepare() ran."""
    with override_settings(MIDDLEWARE=[rls.MIDDLEWARE, *django_settings.MIDDLEWARE]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _rights_written_by_their_services():
    """A page that writes a rights row without its service fails the test (tests/rights_guard.py)."""
    from tests.rights_guard import rights_writes_guarded

    with rights_writes_guarded():
        yield


@pytest.fixture(scope="session", autouse=True)
def _oidc_signing_key(tmp_path_factory):
    """A signing key for ID tokens, as OIDC_KEY_DIR names one in production (scopes.oidc.keys)."""
    from scopes.oidc import keys

    directory = tmp_path_factory.mktemp("oidc-keys")
    keys.make_key(directory)
    with override_settings(OIDC_KEY_DIR=str(directory)):
        yield directory


@pytest.fixture
def tenancy_statements() -> int:
    """Statements every Bearer request spends before its own work: the token's probe (scopes.access.freshness),
    which on PostgreSQL also enters the token's tenant for row-level security. One on both databases."""
    return 1


@pytest.fixture(scope="session", autouse=True)
def _static_files_listed_once() -> Iterator[None]:
    """Django's test client builds the middleware afresh for each client, and WhiteNoise then lists
    and stats every static file again (30 ms of CPU, thousands of times a run). The files do not
    change during a run: each new middleware gets the table the first one built, for the same
    settings. Production builds it once per process, as here."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    listed: dict[tuple[Any, ...], dict[str, Any]] = {}
    original = WhiteNoiseMiddleware.add_files_from_finders

    def add_files_from_finders(self: WhiteNoiseMiddleware) -> None:
        key = (
            self.static_prefix,
            self.max_age,
            self.charset,
            self.allow_all_origins,
            self.index_file,
            repr(django_settings.STATICFILES_DIRS),
            tuple(django_settings.STATICFILES_FINDERS),
            tuple(django_settings.INSTALLED_APPS),
        )
        if key not in listed:
            before = dict(self.files)
            original(self)
            listed[key] = {url: file for url, file in self.files.items() if before.get(url) is not file}
        self.files.update(listed[key])

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders  # type: ignore[method-assign]
    try:
        yield
    finally:
        WhiteNoiseMiddleware.add_files_from_finders = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    """Everyone the tests talk about, by role."""

    acme: Tenant
    globex: Tenant
    owner_a: User
    admin_a: User
    member_a: User
    member2_a: User
    guest_a: User
    member_b: User
    outsider: User
    app: Application

    def role(self, name: RoleName) -> Role:
        return Role.objects.get(name=name, tenant=None)


class _Shared:
    """This worker's committed world, and the blocker that lets it be rebuilt between tests."""

    world: World | None = None
    blocker: Any = None


def _seed() -> None:
    """The seeded registry and roles, as the migrations leave them (a flush empties every table)."""
    if Role.objects.filter(tenant=None).exists():
        return
    import_module("scopes.migrations.0002_seed_scopes_and_roles").seed(django_apps, None)
    import_module("scopes.migrations.0008_tenant_policy").seed(django_apps, None)  # tenant.admin
    import_module("scopes.migrations.0012_openid_scopes").seed(django_apps, None)
    import_module("scopes.migrations.0015_audit_read_scope").seed(django_apps, None)


_MEMBERS = (
    ("owner_a", "acme", RoleName.OWNER),
    ("admin_a", "acme", RoleName.ADMIN),
    ("member_a", "acme", RoleName.MEMBER),
    ("member2_a", "acme", RoleName.MEMBER),
    ("guest_a", "acme", RoleName.GUEST),
    ("member_b", "globex", RoleName.MEMBER),
)


def _world_committed() -> World:
    """Seed and build the world outside any test's transaction, or find it where a reused test
    database (--reuse-db) kept it. Runs once per worker, and again after a test flushed the tables."""
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(PASSWORD_HASHERS=hashers), transaction.atomic():
        _seed()
        if not Tenant.objects.filter(slug="acme").exists():
            roles = {r.name: r for r in Role.objects.filter(tenant=None)}
            tenants = {
                "acme": TenantFactory(slug="acme", name="Acme"),
                "globex": TenantFactory(slug="globex", name="Globex"),
            }
            for username, tenant, role in _MEMBERS:
                MembershipFactory(
                    user=UserFactory(username=username), tenant=tenants[tenant], role=roles[role]
                )
            UserFactory(username="outsider")
            ApplicationFactory(name="Test Gallery", client_id="test-gallery")
    tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=["acme", "globex"])}
    users = {u.username: u for u in User.objects.filter(username__in=[*(m[0] for m in _MEMBERS), "outsider"])}
    return World(
        acme=tenants["acme"],
        globex=tenants["globex"],
        **{name: users[name] for name in (*(m[0] for m in _MEMBERS), "outsider")},
        app=Application.objects.get(client_id="test-gallery"),
    )


def _flushes(item: pytest.Item) -> bool:
    """Whether pytest-django ran this test as a TransactionTestCase, which empties every table after it."""
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    names = getattr(item, "fixturenames", ())
    return any(name in names for name in ("transactional_db", "live_server", "django_db_reset_sequences"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a test that committed and flushed, rebuild the committed world for the tests after it."""
    yield
    if nextitem is not None and _Shared.blocker is not None and _flushes(item):
        with _Shared.blocker.unblock():
            _Shared.world = _world_committed()


@pytest.fixture
def seeded(db) -> None:
    """The seeded registry and roles: committed with the world (django_db_setup), rolled back per test."""


@pytest.fixture
def world(seeded) -> World:
    """This test's own copies of the committed world's instances: what a test sets on one in memory
    stays in that test (Django's setUpTestData does the same), and its database writes roll back."""
    assert _Shared.world is not None, "django_db_setup builds the world"
    return copy.deepcopy(_Shared.world)


MintToken = Callable[..., AccessToken]


def grant_for_token(
    *, user: User | None, tenant: Tenant, application: Application, scopes: Iterable[str]
) -> None:
    """What a token's consent flow leaves behind: the app may ask for the scopes, the user consented."""
    found = list(Scope.objects.filter(name__in=list(scopes)))
    for scope in found:
        ApplicationScope.objects.get_or_create(application=application, scope=scope)
    if user is not None:
        consent, _ = Consent.objects.get_or_create(user=user, tenant=tenant, application=application)
        consent.scopes.add(*found)


@pytest.fixture
def mint_token(world: World) -> MintToken:
    """Mint a real access token row (as DOT would) for a user, tenant and scopes."""

    def mint(user: User, tenant: Tenant, scopes: Iterable[str], **extra) -> AccessToken:
        scopes = list(scopes)
        application = extra.pop("application", world.app)
        if extra.pop("grant", True):
            # A token stands only on a grant: the app may ask for the scopes and the user consented
            # (scopes.access.standing). Pass grant=False to mint a token without one.
            grant_for_token(user=user, tenant=tenant, application=application, scopes=scopes)
        return AccessTokenFactory(
            user=user, tenant=tenant, application=application, scope=" ".join(scopes), **extra
        )

    return mint


@pytest.fixture
def api_client(mint_token: MintToken) -> Callable[..., APIClient]:
    """`api_client(user, tenant, scopes=[...])`: a DRF client sending a real Bearer token."""

    def make(user: User, tenant: Tenant, scopes: Iterable[str] = (), **extra) -> APIClient:
        token = mint_token(user, tenant, scopes, **extra)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
        client.token = token  # type: ignore[attr-defined]
        return client

    return make


def pytest_configure(config) -> None:
    """On a shared Redis each xdist worker keeps its own keys, so clearing them leaves the other's alone."""
    from django.conf import settings

    config.addinivalue_line(
        "markers", "postgresql_leg: cannot fail differently on SQLite; runs on the PostgreSQL leg only"
    )

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    for cache_settings in settings.CACHES.values():
        if "redis" in cache_settings["BACKEND"].lower():
            cache_settings["KEY_PREFIX"] = f"{cache_settings.get('KEY_PREFIX') or 'gp'}-test-{worker}"


# Tests that cannot fail differently on SQLite. They run on the PostgreSQL leg only; the SQLite leg
# keeps everything that touches SQL, managers, triggers or migrations. A single test elsewhere can
# say the same with @pytest.mark.postgresql_leg.
POSTGRESQL_LEG = (
    # A real browser, relying parties, schemathesis: clients of the HTTP interface.
    "tests/browser/",
    "tests/oidc/",
    "tests/fuzz/",
    # Settings, log and deploy-check subprocesses.
    "tests/project/test_settings.py",
    "tests/project/test_deploy_settings.py",
    "tests/project/test_json_logs.py",
    # Pure functions: no database at all.
    "tests/scopes/access/test_decision.py",
    "tests/scopes/consent/test_consent_rule.py",
    "tests/scopes/consent/test_consent_outcome.py",
    "tests/scopes/test_registry.py",
    "tests/accounts/test_outbound.py",
    # Middleware that answers before any view reads or writes a row: refused control characters,
    # security headers.
    "tests/project/test_control_characters.py",
    "tests/project/test_security_headers.py",
    # The schema and what operators see, against the Redis and S3 servers these tests start.
    "tests/photos/test_openapi.py",
    "tests/photos/test_object_storage.py",
    "tests/project/test_operations.py",
    "tests/project/test_operations_disclosure.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL-leg tests, and skip them (with the reason) when the suite runs on SQLite."""
    for item in items:
        if item.path.relative_to(config.rootpath).as_posix().startswith(POSTGRESQL_LEG):
            item.add_marker(pytest.mark.postgresql_leg)
    if "sqlite" not in django_settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="cannot fail differently on SQLite: runs on the PostgreSQL leg only")
    for item in items:
        if item.get_closest_marker("postgresql_leg"):
            item.add_marker(skip)


def clear_cache() -> None:
    """Empty this test run's caches: on Redis only this worker's keys (`cache.clear()` flushes the DB)."""
    from django.core.cache import caches

    for cache in caches.all():
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()
    # This process's own copies (never needed for correctness: versions are never reused; this keeps
    # query counts in tests independent of the order tests run in).
    from scopes.access import cache as context_cache
    from scopes.access import selectors
    from scopes.machines import usage as personal_token_usage
    from scopes.usage import consent_use, recorder

    context_cache.clear()
    selectors.forget_registry()
    recorder.forget()
    personal_token_usage.forget()
    consent_use.forget()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: rolled-back edits must not leak through it."""
    clear_cache()
    yield


@pytest.fixture(autouse=True, scope="session")
def _cache_left_clean() -> Iterator[None]:
    yield
    clear_cache()


@pytest.fixture
def gallery(world):
    """The world's app, allowed every scope (none required unless a test says so)."""
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.update_or_create(
            application=world.app, scope=scope, defaults={"reason": f"to use {scope.name}"}
        )
    return world.app


@pytest.fixture
def resource_server(db):
    """The photo API as a resource server that may introspect every token (tests/oauth.py's
    `introspect` authenticates as it)."""
    return ApplicationFactory(
        name="Photo API",
        client_id="photo-api",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=RS_SECRET,
        hash_client_secret=True,
        is_resource_server=True,
    )


@pytest.fixture
def browser_of():
    """`browser_of(user)`: a Django test client signed in as that user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="session")
def s3_server():
    """One S3-compatible server (moto, a separate process) per test session (per xdist worker)."""
    from tests.servers import S3Server

    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings) -> str:
    """A fresh private bucket on the session's S3 server, and images stored in it for this test."""
    bucket = s3_server.new_bucket()
    settings.STORAGES = s3_server.storages_setting(bucket, django_settings.STORAGES["staticfiles"])
    return bucket
