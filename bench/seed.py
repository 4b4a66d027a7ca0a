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
    """bench_member(tenant_id, idx, n, user_id): each tenant's members numbered 0..n-1."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_member")
        cursor.execute(
            "CREATE TEMP TABLE bench_member AS SELECT m.tenant_id, m.user_id,"
            " (row_number() OVER (PARTITION BY m.tenant_id ORDER BY m.user_id) - 1) AS idx,"
            " count(*) OVER (PARTITION BY m.tenant_id) AS n FROM accounts_membership m"
        )
        cursor.execute("CREATE INDEX ON bench_member (tenant_id, idx)")


def _mint_sql(
    tenant_where: str, where_params: list[Any], per_tenant: int, app_id: int
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
        [app_id, timezone.now() + TOKEN_LIFETIME, " ".join(SCOPES)],
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
    return [(pk, raw) for pk, _slug, raw in rows]
