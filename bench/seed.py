"""The benchmark's data, written as the owner of the tables (row-level security does not apply to it).

Bulk rows go in with `INSERT ... SELECT` (seconds for a million photos and 100,000 tokens). Every
such statement is built from the model (`insert_select`): columns the benchmark does not name get
their model default, so a column added later with a default does not break the seeding.

- Tenants sized for the scale check (the main one, `bench`, included) plus two small ones, twenty
  members each, every tenant's photos spread over one year and inserted in time order.
- Scenario (a): `cold-0001` ... tenants, five members and fifty photos each, and tokens spread
  over their members, listed as `<slug> <token>` lines for the load generator.
- Scenario (b): a pool of tokens of the main tenant, spread over its members, for the load; and,
  made by `mint_revocable` just before the scenario, tokens the side process revokes.

Every token is a Member's, holding `photos.read profile.read`, for the benchmark's public client,
with the consent and the app's allowed scopes a real token would have behind it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"  # token files (git-ignored)
MAIN = "bench"
OTHER_TENANTS = {"other-1": 5_000, "other-2": 5_000}
OWNERS_PER_TENANT = 20
COLD_PREFIX = "cold-"
MEMBERS_PER_COLD_TENANT = 5
PHOTOS_PER_COLD_TENANT = 50  # more than a page of 20
SCOPES = ("photos.read", "profile.read")
TOKEN_LIFETIME = timedelta(days=1)


@dataclass
class Seeded:
    sizes: dict[str, int]  # tenant slug -> photos (the scale check's tenants)
    tokens: dict[str, str]  # tenant slug -> raw token of a Member holding photos.read
    spare_tokens: list[str]  # never used before the probe: cold requests in the main tenant
    main_tenant_id: int
    app_id: int
    pool_file: str  # scenario (b)'s load: "<slug> <token>" lines, all in the main tenant
    cold_file: str  # scenario (a)'s load: "<slug> <token>" lines over the cold tenants
    cold_tenants: int
    cold_tokens: int


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def insert_select(
    model: Any,
    given: dict[str, str],
    source: str,
    params: list[Any] | None = None,
    *,
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """`INSERT INTO <model's table> (...) SELECT ... <source>`: the columns in `given` as SQL
    expressions over `source`, every other concrete column its model default (auto_now: now()).

    `params` fill the placeholders of `given` (in its order), then those of `source`.
    """
    from django.db import connection

    columns = dict(given)
    defaults: list[Any] = []
    for field in model._meta.concrete_fields:
        if field.column in columns or field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns[field.column] = "now()"
        elif field.has_db_default():
            continue
        else:
            value = field.get_default()
            if value is None:
                if field.null:
                    continue
                raise RuntimeError(f"{model.__name__}.{field.name}: no value and no default for the seeding")
            columns[field.column] = "%s"
            defaults.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    given_count = sum(expr.count("%s") for expr in given.values())
    all_params = [*(params or [])[:given_count], *defaults, *(params or [])[given_count:]]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(columns.values())} {source}"
    )
    if returning:
        sql += f" RETURNING {returning}"
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return cursor.fetchall() if returning else []


def _members_table() -> None:
    """bench_member(tenant_id, idx, n, user_id): each tenant's members numbered 0..n-1 (people:
    the OAuth phase's service account is no one's to mint consent tokens for)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_member")
        cursor.execute(
            "CREATE TEMP TABLE bench_member AS SELECT m.tenant_id, m.user_id,"
            " (row_number() OVER (PARTITION BY m.tenant_id ORDER BY m.user_id) - 1) AS idx,"
            " count(*) OVER (PARTITION BY m.tenant_id) AS n FROM accounts_membership m"
            " WHERE NOT EXISTS (SELECT 1 FROM scopes_serviceaccount s WHERE s.user_id = m.user_id)"
        )
        cursor.execute("CREATE INDEX ON bench_member (tenant_id, idx)")


def _mint_sql(
    tenant_where: str,
    where_params: list[Any],
    per_tenant: int,
    app_id: int,
    scopes: tuple[str, ...] = SCOPES,
) -> list[tuple[Any, ...]]:
    """`per_tenant` tokens in each tenant matched, spread over its members: (id, slug, raw token)."""
    from django.db import connection
    from django.utils import timezone

    from scopes.models import AccessToken

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        # `tenant_where` is one of this module's constants, never input.
        cursor.execute(
            "CREATE TEMP TABLE bench_raw AS SELECT *, encode(sha256(convert_to(raw, 'UTF8')), 'hex') AS checksum"  # noqa: S608
            " FROM (SELECT t.id AS tenant_id, t.slug, o.user_id,"
            " md5(random()::text || k) || md5(random()::text || t.id) AS raw"
            " FROM accounts_tenant t CROSS JOIN generate_series(0, %s - 1) AS k"
            f" JOIN bench_member o ON o.tenant_id = t.id AND o.idx = k %% o.n WHERE {tenant_where}) AS fresh",
            [per_tenant, *where_params],
        )
    # Stored as DOT stores them here (RFC 9700 storage): no plaintext, the SHA-256 checksum only.
    inserted = insert_select(
        AccessToken,
        {
            "tenant_id": "r.tenant_id",
            "user_id": "r.user_id",
            "application_id": "%s",
            "expires": "%s",
            "scope": "%s",
            "token": "''",
            "token_checksum": "r.checksum",
        },
        "FROM bench_raw r ORDER BY r.tenant_id, r.raw",
        [app_id, timezone.now() + TOKEN_LIFETIME, " ".join(scopes)],
        returning="id, token_checksum",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT checksum, slug, raw FROM bench_raw")
        raw = {checksum: (slug, token) for checksum, slug, token in cursor.fetchall()}
    return [(pk, *raw[checksum]) for pk, checksum in inserted]


def _write_tokens(name: str, rows: list[tuple[Any, ...]]) -> str:
    WORK.mkdir(exist_ok=True)
    path = WORK / name
    path.write_text("".join(f"{slug} {raw}\n" for _, slug, raw in rows))
    return str(path)


def seed(main_photos: int, sizes: list[int], cold_tenants: int, cold_tokens: int, pool_tokens: int) -> Seeded:
    """Everything the benchmark loads; small parts by the ORM, bulk rows by SQL (see the module)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone
    from oauth2_provider.models import set_token_value

    from accounts.constants import RoleName
    from accounts.models import Membership, Role, Tenant, User
    from photos.models import Photo
    from scopes.models import AccessToken, Application, ApplicationScope, Consent, Scope

    started = time.monotonic()
    tenant_sizes = {MAIN: main_photos}
    for size in sizes:
        if size != main_photos:
            tenant_sizes[f"size-{size}"] = size
    tenant_sizes.update(OTHER_TENANTS)
    member = Role.objects.get(name=RoleName.MEMBER, tenant=None)
    unusable = make_password(None)
    tokens: dict[str, str] = {}
    spare: list[str] = []
    expires = timezone.now() + TOKEN_LIFETIME

    with transaction.atomic():
        app = Application.objects.create(
            name="Bench client",
            client_id="bench-client",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1:8765/callback",
        )
        for scope in Scope.objects.filter(name__in=SCOPES):
            ApplicationScope.objects.create(application=app, scope=scope, reason="the benchmark")

        def mint(user: User, tenant: Tenant) -> str:
            raw = secrets.token_urlsafe(32)
            token = AccessToken(
                user=user, tenant=tenant, application=app, expires=expires, scope=" ".join(SCOPES)
            )
            set_token_value(token, raw)
            token.save()
            return raw

        for slug in tenant_sizes:
            tenant = Tenant.objects.create(slug=slug, name=slug.title())
            users = User.objects.bulk_create(
                User(username=f"{slug}-member-{i}", password=unusable) for i in range(OWNERS_PER_TENANT)
            )
            Membership.objects.bulk_create(Membership(user=u, tenant=tenant, role=member) for u in users)
            tokens[slug] = mint(users[0], tenant)
            if slug == MAIN:
                spare = [mint(users[i], tenant) for i in range(1, 4)]
        main_tenant_id = Tenant.objects.get(slug=MAIN).pk

        # Scenario (a)'s tenants, their members and memberships.
        insert_select(
            Tenant,
            {"slug": "%s || lpad(i::text, 4, '0')", "name": "'Cold ' || i"},
            "FROM generate_series(1, %s) AS i",
            [COLD_PREFIX, cold_tenants],
        )
        cold = "t.slug LIKE %s"
        cold_like = COLD_PREFIX + "%"
        insert_select(
            User,
            {"username": "t.slug || '-member-' || k", "password": "%s"},
            f"FROM accounts_tenant t CROSS JOIN generate_series(0, %s - 1) AS k WHERE {cold}",
            [unusable, MEMBERS_PER_COLD_TENANT, cold_like],
        )
        insert_select(
            Membership,
            {"tenant_id": "t.id", "user_id": "u.id", "role_id": "%s"},
            "FROM accounts_tenant t JOIN accounts_user u ON split_part(u.username, '-member-', 1) = t.slug"
            f" WHERE {cold}",
            [member.pk, cold_like],
        )
        _members_table()

        # Every tenant's photos spread over the same year, inserted in time order: tenants
        # interleave on disk as uploads would, rather than one tenant per stretch of the table.
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_size")
            cursor.execute(
                "CREATE TEMP TABLE bench_size AS SELECT t.id AS tenant_id, s.n FROM accounts_tenant t"  # noqa: S608 (constants)
                " JOIN unnest(%s::text[], %s::int[]) AS s(slug, n) ON s.slug = t.slug"
                " UNION ALL SELECT t.id, %s::int FROM accounts_tenant t WHERE " + cold,
                [list(tenant_sizes), list(tenant_sizes.values()), PHOTOS_PER_COLD_TENANT, cold_like],
            )
        when = "now() - interval '1 day' - (i * interval '365 days' / s.n)"
        insert_select(
            Photo,
            {
                "tenant_id": "s.tenant_id",
                "owner_id": "o.user_id",
                "album_id": "NULL",
                "title": "'Photo ' || i",
                "description": "''",
                "image": "'photos/' || s.tenant_id || '/' || i || '.jpg'",
                "content_type": "'image/jpeg'",
                "byte_size": "100000 + i",
                "width": "640",
                "height": "480",
                "created": when,
                "updated": when,
            },
            "FROM bench_size s CROSS JOIN LATERAL generate_series(1, s.n) AS i"
            " JOIN bench_member o ON o.tenant_id = s.tenant_id AND o.idx = i % o.n"
            " ORDER BY i * interval '365 days' / s.n DESC".replace("%", "%%"),
        )
        photos_done = time.monotonic()
        log(f"seeding: tenants, members and photos in {photos_done - started:.1f} s")

        per_cold_tenant = max(1, cold_tokens // max(1, cold_tenants))
        cold_rows = _mint_sql(cold, [cold_like], per_cold_tenant, app.pk)
        pool_rows = _mint_sql("t.id = %s", [main_tenant_id], pool_tokens, app.pk)
        log(f"seeding: {len(cold_rows) + len(pool_rows):,} tokens in {time.monotonic() - photos_done:.1f} s")

        # The consent behind every member's tokens, as the authorization-code flow leaves it.
        insert_select(
            Consent,
            {"tenant_id": "m.tenant_id", "user_id": "m.user_id", "application_id": "%s"},
            "FROM accounts_membership m",
            [app.pk],
        )
        through = Consent.scopes.through
        insert_select(
            through,
            {"consent_id": "c.id", "scope_id": "s.id"},
            "FROM scopes_consent c CROSS JOIN scopes_scope s WHERE c.application_id = %s AND s.name = ANY(%s)",
            [app.pk, list(SCOPES)],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(
        f"seeded {sum(tenant_sizes.values()) + cold_tenants * PHOTOS_PER_COLD_TENANT:,} photos in "
        f"{photos_done - started:.1f} s; {len(cold_rows):,} tokens over {cold_tenants:,} cold tenants and "
        f"{len(pool_rows)} in the main tenant's pool; {time.monotonic() - started:.1f} s in all"
    )
    size_of = {slug: n for slug, n in tenant_sizes.items() if slug not in OTHER_TENANTS}
    return Seeded(
        sizes=size_of,
        tokens=tokens,
        spare_tokens=spare,
        main_tenant_id=main_tenant_id,
        app_id=app.pk,
        pool_file=_write_tokens("pool-tokens.txt", pool_rows),
        cold_file=_write_tokens("cold-tokens.txt", cold_rows),
        cold_tenants=cold_tenants,
        cold_tokens=len(cold_rows),
    )


def mint_revocable(seeded: Seeded, count: int) -> list[tuple[int, str]]:
    """`count` more live tokens of the main tenant's members, for scenario (b)'s side process to
    revoke: (id, raw token), in the order it revokes them.

    Made just before the scenario (so `--reuse` gets fresh ones), never used by the load.
    """
    from django.db import transaction

    with transaction.atomic():
        _members_table()
        rows = _mint_sql("t.id = %s", [seeded.main_tenant_id], count, seeded.app_id)
    analyze("scopes_accesstoken")
    return [(pk, raw) for pk, _slug, raw in rows]


def analyze(*tables: str) -> None:
    """Fresh planner statistics after a bulk write (all tables when none is named).

    A bulk INSERT or UPDATE read with the statistics of before it can be planned badly: half the
    main tenant's photos moved into one album made the album page sort 50,000 rows through the
    single-column album index (78 ms) instead of reading 21 rows through the composite index
    (0.1 ms) until autovacuum caught up (issue 26). Every scenario analyzes what it wrote.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables))


def seed_guardian(seeded: Seeded) -> dict[str, int]:
    """The do-it-yourself variant's object permissions (bench/diy.py), in django-guardian's
    direct-foreign-key tables (bench/diy_perms): the main tenant's members in one group, which may
    view each of the tenant's photos; each photo's owner may change and delete it. Counts of the
    rows written."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    from accounts.models import User
    from bench.diy import group_name
    from bench.diy_perms.models import PhotoGroupObjectPermission, PhotoUserObjectPermission
    from photos.models import Photo

    photo_type = ContentType.objects.get_for_model(Photo)
    perms = {p.codename: p.pk for p in Permission.objects.filter(content_type=photo_type)}
    tenant = seeded.main_tenant_id
    started = time.monotonic()
    with transaction.atomic():
        group = Group.objects.create(name=group_name(MAIN))
        members = insert_select(
            User.groups.through,
            {"user_id": "m.user_id", "group_id": "%s"},
            "FROM accounts_membership m WHERE m.tenant_id = %s",
            [group.pk, tenant],
            returning="1",
        )
        viewable = insert_select(
            PhotoGroupObjectPermission,
            {"group_id": "%s", "permission_id": "%s", "content_object_id": "p.id"},
            "FROM photos_photo p WHERE p.tenant_id = %s",
            [group.pk, perms["view_photo"], tenant],
            returning="1",
        )
        owned = insert_select(
            PhotoUserObjectPermission,
            {"user_id": "p.owner_id", "permission_id": "k", "content_object_id": "p.id"},
            "FROM photos_photo p CROSS JOIN unnest(%s::int[]) AS k WHERE p.tenant_id = %s",
            [[perms["change_photo"], perms["delete_photo"]], tenant],
            returning="1",
        )
    analyze(
        User.groups.through._meta.db_table,
        PhotoGroupObjectPermission._meta.db_table,
        PhotoUserObjectPermission._meta.db_table,
    )
    log(
        f"seeding: guardian's object permissions for the main tenant ({len(viewable):,} group, "
        f"{len(owned):,} user) in {time.monotonic() - started:.1f} s"
    )
    return {"members": len(members), "group_permissions": len(viewable), "user_permissions": len(owned)}


@dataclass
class OAuthSeeded:
    """The OAuth phase's credentials and form files (bench/oauth_phase.py), per endpoint and variant."""

    forms: dict[str, dict[str, str]]  # endpoint -> variant -> form file ("<path> <body>" lines)
    basic: dict[str, str]  # endpoint -> Authorization: Basic credential ("" for the public client)
    counts: dict[str, int]


SERVICE_CLIENT_ID = "bench-service"
RESOURCE_SERVER_CLIENT_ID = "bench-resource-server"


def seed_oauth(seeded: Seeded, paths: dict[str, dict[str, str]], per_variant: int) -> OAuthSeeded:
    """What the OAuth phase uses up or asks about, in the main tenant.

    - refresh: `per_variant` access and refresh token pairs per variant, of the benchmark's public
      client, holding `offline_access` too (the product refreshes nothing without it: the Members'
      consents and the client's allowed scopes get it here);
    - revocation: `per_variant` access tokens per variant, never used by anything else;
    - client credentials: a service account of the main tenant (its user, membership, consent and
      confidential client, as scopes.machines makes one), allowed `photos.read`;
    - introspection: a confidential client marked as the main tenant's resource server, asking
      about the main tenant's pool tokens (scenario (b)'s, live and unused at that point).

    Both confidential clients keep their secret unhashed (`hash_client_secret=False`, as the soak
    and the demo clients do): the product hashes a service account's secret with Django's password
    hasher, whose cost (the same for DOT and ours, tens of milliseconds by design) would drown
    what the comparison is about. `paths`: endpoint -> variant -> the endpoint's path.
    """
    import base64

    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from accounts.constants import RoleName
    from accounts.models import Membership, Role, User
    from scopes.machines.models import ServiceAccount
    from scopes.models import Application, ApplicationScope, Consent, RefreshToken, Scope

    started = time.monotonic()
    refresh_scopes = (*SCOPES, "offline_access")
    secret = secrets.token_urlsafe(32)
    forms: dict[str, dict[str, str]] = {name: {} for name in paths}
    with transaction.atomic():
        app = Application.objects.get(pk=seeded.app_id)
        offline = Scope.objects.get(name="offline_access")
        ApplicationScope.objects.get_or_create(
            application=app, scope=offline, defaults={"reason": "the benchmark's refreshes"}
        )
        through = Consent.scopes.through._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {through} (consent_id, scope_id) SELECT c.id, %s"  # noqa: S608 (a model's table)
                " FROM scopes_consent c WHERE c.application_id = %s AND c.tenant_id = %s"
                " ON CONFLICT DO NOTHING",
                [offline.pk, app.pk, seeded.main_tenant_id],
            )
        _members_table()
        for variant, path in paths["refresh"].items():
            minted = _mint_sql("t.id = %s", [seeded.main_tenant_id], per_variant, app.pk, refresh_scopes)
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_refresh")
                cursor.execute(
                    "CREATE TEMP TABLE bench_refresh AS SELECT a.id AS access_id, a.tenant_id, a.user_id,"
                    " md5(random()::text || a.id) || md5(random()::text) AS raw"
                    " FROM scopes_accesstoken a WHERE a.id = ANY(%s)",
                    [[pk for pk, _, _ in minted]],
                )
            insert_select(
                RefreshToken,
                {
                    "tenant_id": "r.tenant_id",
                    "user_id": "r.user_id",
                    "application_id": "%s",
                    "access_token_id": "r.access_id",
                    "token": "''",
                    "token_checksum": "encode(sha256(convert_to(r.raw, 'UTF8')), 'hex')",
                    "token_family": "gen_random_uuid()",
                },
                "FROM bench_refresh r ORDER BY r.access_id",
                [app.pk],
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT raw FROM bench_refresh ORDER BY random()")
                raws = [raw for (raw,) in cursor.fetchall()]
            forms["refresh"][variant] = _write_forms(
                f"refresh-{variant}.txt",
                path,
                [f"grant_type=refresh_token&refresh_token={raw}&client_id={app.client_id}" for raw in raws],
            )
        for variant, path in paths["revocation"].items():
            minted = _mint_sql("t.id = %s", [seeded.main_tenant_id], per_variant, app.pk)
            forms["revocation"][variant] = _write_forms(
                f"revoke-{variant}.txt",
                path,
                [
                    f"token={raw}&token_type_hint=access_token&client_id={app.client_id}"
                    for _, _, raw in minted
                ],
            )

        # A service account of the main tenant, as scopes.machines.services makes one (its user never
        # signs in; a Member there; consent for photos.read), with a confidential client; and the
        # tenant's resource server. Made once (`--reuse` keeps them); the secret is set every run.
        tenant_id = seeded.main_tenant_id
        service = Application.objects.filter(client_id=SERVICE_CLIENT_ID).first()
        if service is None:
            user = User.objects.create(username=f"svc-{MAIN}-bench", password=make_password(None))
            member = Role.objects.get(name=RoleName.MEMBER, tenant=None)
            Membership.objects.create(user=user, tenant_id=tenant_id, role=member)
            service = Application.objects.create(
                name="Bench service (service account)",
                client_id=SERVICE_CLIENT_ID,
                client_secret=secret,
                hash_client_secret=False,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                tenant_id=tenant_id,
            )
            photos_read = Scope.objects.get(name="photos.read")
            ApplicationScope.objects.create(application=service, scope=photos_read)
            consent = Consent.objects.create(user=user, tenant_id=tenant_id, application=service)
            consent.scopes.set([photos_read])
            ServiceAccount.objects.create(
                tenant_id=tenant_id, user=user, application=service, name="Bench service"
            )
            Application.objects.create(
                name="Bench resource server",
                client_id=RESOURCE_SERVER_CLIENT_ID,
                client_secret=secret,
                hash_client_secret=False,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                tenant_id=tenant_id,
                is_resource_server=True,
            )
        Application.objects.filter(client_id__in=[SERVICE_CLIENT_ID, RESOURCE_SERVER_CLIENT_ID]).update(
            client_secret=secret
        )
    for variant, path in paths["client_credentials"].items():
        forms["client_credentials"][variant] = _write_forms(
            f"client-credentials-{variant}.txt", path, ["grant_type=client_credentials&scope=photos.read"]
        )
    pool = [line.split()[1] for line in Path(seeded.pool_file).read_text().splitlines()]
    for variant, path in paths["introspection"].items():
        forms["introspection"][variant] = _write_forms(
            f"introspect-{variant}.txt", path, [f"token={raw}" for raw in pool]
        )
    analyze("scopes_accesstoken", "scopes_refreshtoken", "scopes_consent_scopes", "scopes_application")

    def basic(client_id: str) -> str:
        return base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    log(
        f"seeding: OAuth phase, {per_variant:,} refresh token pairs and {per_variant:,} tokens to revoke "
        f"per variant, a service account and a resource server, in {time.monotonic() - started:.1f} s"
    )
    return OAuthSeeded(
        forms=forms,
        basic={
            "refresh": "",
            "revocation": "",
            "client_credentials": basic(SERVICE_CLIENT_ID),
            "introspection": basic(RESOURCE_SERVER_CLIENT_ID),
        },
        counts={"per_variant": per_variant, "introspected_tokens": len(pool)},
    )


def _write_forms(name: str, path: str, bodies: list[str]) -> str:
    WORK.mkdir(exist_ok=True)
    target = WORK / name
    target.write_text("".join(f"{path} {body}\n" for body in bodies))
    return str(target)
