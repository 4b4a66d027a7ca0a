"""The config document: scopes, roles and their grants, apps and their scopes, tenants' policies.

One readable YAML (or JSON) document that `manage.py export_config` writes and `manage.py
apply_config` reads (docs/config-as-code.md describes every field, with a worked example). This
module is the format alone: parsing with a clear error for every mistake (where it is, what is
wrong), and writing, both to and from plain dataclasses, in a stable order so a document kept in
version control changes only where the configuration did. It reads and writes no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from accounts import authn
from scopes.access.personal_tokens import DEFAULT_MAX_DAYS, PersonalTokenMode
from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.constants import SCOPE_NAME_PATTERN, Reach
from scopes.models import SUPPORTED_GRANT_TYPES, Application

VERSION = 1
CLIENT_TYPES = (Application.CLIENT_PUBLIC, Application.CLIENT_CONFIDENTIAL)
GRANT_TYPES = tuple(value for value, _ in SUPPORTED_GRANT_TYPES)
REACHES = tuple(Reach.values)
APP_POLICIES = tuple(m.value for m in AppPolicyMode)
APP_STATUSES = tuple(s.value for s in AppStatus)
TOKEN_MODES = tuple(PersonalTokenMode.values)
_scope_name = RegexValidator(SCOPE_NAME_PATTERN)


class DocumentError(ValueError):
    """What is wrong with a document, and where (`roles[2].grants`)."""


@dataclass(frozen=True)
class ScopeSpec:
    """A scope of the registry: its consent text and what it implies."""

    name: str
    description: str
    implies: tuple[str, ...] = ()
    # Step-up (accounts.authn): the sign-in level using it needs ("" any) and its maximum age.
    required_acr: str = ""
    max_age: int | None = None


@dataclass(frozen=True)
class RoleSpec:
    """A global role (`tenant` None) or a tenant's own, with its grants (scope -> reach)."""

    name: str
    tenant: str | None
    description: str = ""
    grants: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.tenant, self.name)


@dataclass(frozen=True)
class AppScopeSpec:
    """A scope an app may ask for: whether it is required, and the app's reason."""

    required: bool = False
    reason: str = ""


@dataclass(frozen=True)
class AppSpec:
    """An OAuth client: everything but its secret (which is never written down)."""

    client_id: str
    name: str
    client_type: str
    grant_type: str
    publisher: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    tenant: str | None = None
    is_resource_server: bool = False
    scopes: tuple[tuple[str, AppScopeSpec], ...] = ()


@dataclass(frozen=True)
class TenantAppSpec:
    """Where one app stands in one tenant; `cap` None: approved with no cap."""

    status: str
    cap: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TenantSpec:
    """The policies of an existing tenant (a document never creates or deletes a tenant)."""

    slug: str
    app_policy: str = AppPolicyMode.ANY.value
    apps: tuple[tuple[str, TenantAppSpec], ...] = ()
    personal_tokens: str = PersonalTokenMode.ALLOWED.value
    max_days: int = DEFAULT_MAX_DAYS


@dataclass(frozen=True)
class Document:
    """A whole configuration."""

    scopes: tuple[ScopeSpec, ...] = ()
    roles: tuple[RoleSpec, ...] = ()
    apps: tuple[AppSpec, ...] = ()
    tenants: tuple[TenantSpec, ...] = ()


# --- Reading


def _mapping(
    value: Any, where: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DocumentError(f"{where}: expected a mapping, got {type(value).__name__}.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise DocumentError(
            f"{where}: unknown field(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(allowed))}."
        )
    missing = sorted(required - set(value))
    if missing:
        raise DocumentError(f"{where}: missing {', '.join(missing)}.")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DocumentError(f"{where}: expected a list, got {type(value).__name__}.")
    return value


def _text(value: Any, where: str, *, blank: bool = True, limit: int = 300) -> str:
    if value is None and blank:
        return ""
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise DocumentError(f"{where}: expected {'text' if blank else 'non-empty text'}.")
    if len(value) > limit:
        raise DocumentError(f"{where}: at most {limit} characters.")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DocumentError(f"{where}: {value!r} is not one of {', '.join(choices)}.")
    return str(value)


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DocumentError(f"{where}: expected true or false.")
    return value


def _scope_name_of(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"{where}: a scope name must be text.")
    try:
        _scope_name(value)
    except ValidationError:
        raise DocumentError(f"{where}: {value!r} is not a valid scope name ({SCOPE_NAME_PATTERN}).") from None
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    names = [_scope_name_of(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where))]
    if len(set(names)) != len(names):
        raise DocumentError(f"{where}: a scope is listed twice.")
    return tuple(sorted(names))


def _unique(items: list[Any], key: Any, where: str, what: str) -> None:
    seen: set[Any] = set()
    for item in items:
        if key(item) in seen:
            raise DocumentError(f"{where}: {what} {key(item)!r} is listed twice.")
        seen.add(key(item))


def _scope(raw: Any, where: str) -> ScopeSpec:
    data = _mapping(
        raw, where, {"name", "description", "implies", "required_acr", "max_age"}, {"name", "description"}
    )
    max_age = data.get("max_age")
    if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0):
        raise DocumentError(f"{where}.max_age: a whole number of seconds, or none.")
    return ScopeSpec(
        name=_scope_name_of(data["name"], f"{where}.name"),
        description=_text(data["description"], f"{where}.description", blank=False),
        implies=_names(data.get("implies"), f"{where}.implies"),
        required_acr=_choice(data.get("required_acr", ""), f"{where}.required_acr", ("", *authn.LEVELS[1:])),
        max_age=max_age,
    )


def _role(raw: Any, where: str) -> RoleSpec:
    data = _mapping(raw, where, {"name", "tenant", "description", "grants"}, {"name"})
    grants = _mapping(data.get("grants") or {}, f"{where}.grants", set(data.get("grants") or {}))
    return RoleSpec(
        name=_text(data["name"], f"{where}.name", blank=False, limit=100),
        tenant=_text(data["tenant"], f"{where}.tenant", blank=False, limit=63)
        if data.get("tenant")
        else None,
        description=_text(data.get("description"), f"{where}.description", limit=2000),
        grants=tuple(
            sorted(
                (_scope_name_of(name, f"{where}.grants"), _choice(reach, f"{where}.grants.{name}", REACHES))
                for name, reach in grants.items()
            )
        ),
    )


def _uris(value: Any, where: str) -> tuple[str, ...]:
    return tuple(
        _text(v, f"{where}[{i}]", blank=False, limit=2000) for i, v in enumerate(_list(value, where))
    )


def _app(raw: Any, where: str) -> AppSpec:
    data = _mapping(
        raw,
        where,
        {
            "client_id",
            "name",
            "publisher",
            "client_type",
            "grant_type",
            "redirect_uris",
            "post_logout_redirect_uris",
            "tenant",
            "is_resource_server",
            "scopes",
        },
        {"client_id", "name", "client_type", "grant_type"},
    )
    scopes = _mapping(data.get("scopes") or {}, f"{where}.scopes", set(data.get("scopes") or {}))
    links = []
    for name, options in sorted(scopes.items()):
        at = f"{where}.scopes.{name}"
        _scope_name_of(name, at)
        spec = _mapping(options or {}, at, {"required", "reason"})
        links.append(
            (
                name,
                AppScopeSpec(
                    required=_boolean(spec.get("required", False), f"{at}.required"),
                    reason=_text(spec.get("reason"), f"{at}.reason"),
                ),
            )
        )
    return AppSpec(
        client_id=_text(data["client_id"], f"{where}.client_id", blank=False, limit=100),
        name=_text(data["name"], f"{where}.name", blank=False, limit=255),
        publisher=_text(data.get("publisher"), f"{where}.publisher", limit=200),
        client_type=_choice(data["client_type"], f"{where}.client_type", CLIENT_TYPES),
        grant_type=_choice(data["grant_type"], f"{where}.grant_type", GRANT_TYPES),
        redirect_uris=_uris(data.get("redirect_uris"), f"{where}.redirect_uris"),
        post_logout_redirect_uris=_uris(
            data.get("post_logout_redirect_uris"), f"{where}.post_logout_redirect_uris"
        ),
        tenant=_text(data["tenant"], f"{where}.tenant", blank=False, limit=63)
        if data.get("tenant")
        else None,
        is_resource_server=_boolean(data.get("is_resource_server", False), f"{where}.is_resource_server"),
        scopes=tuple(links),
    )


def _tenant(raw: Any, where: str) -> TenantSpec:
    data = _mapping(raw, where, {"slug", "app_policy", "apps", "token_policy"}, {"slug"})
    apps = _mapping(data.get("apps") or {}, f"{where}.apps", set(data.get("apps") or {}))
    decisions = []
    for client_id, raw_decision in sorted(apps.items()):
        at = f"{where}.apps.{client_id}"
        spec = _mapping(raw_decision, at, {"status", "cap"}, {"status"})
        status = _choice(spec["status"], f"{at}.status", APP_STATUSES)
        cap = spec.get("cap")
        if cap is not None and status != AppStatus.APPROVED:
            raise DocumentError(f"{at}.cap: only an approved app has a cap.")
        decisions.append(
            (
                str(client_id),
                TenantAppSpec(status=status, cap=_names(cap, f"{at}.cap") if cap is not None else None),
            )
        )
    tokens = _mapping(
        data.get("token_policy") or {}, f"{where}.token_policy", {"personal_tokens", "max_days"}
    )
    max_days = tokens.get("max_days", DEFAULT_MAX_DAYS)
    if not isinstance(max_days, int) or isinstance(max_days, bool) or not 1 <= max_days <= 3650:
        raise DocumentError(f"{where}.token_policy.max_days: a whole number of days, 1 to 3650.")
    return TenantSpec(
        slug=_text(data["slug"], f"{where}.slug", blank=False, limit=63),
        app_policy=_choice(
            data.get("app_policy", AppPolicyMode.ANY.value), f"{where}.app_policy", APP_POLICIES
        ),
        apps=tuple(decisions),
        personal_tokens=_choice(
            tokens.get("personal_tokens", PersonalTokenMode.ALLOWED.value),
            f"{where}.token_policy.personal_tokens",
            TOKEN_MODES,
        ),
        max_days=max_days,
    )


def parse(text: str) -> Document:
    """A document from YAML (JSON is YAML too); DocumentError says what is wrong, and where."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DocumentError(f"Not valid YAML or JSON: {error}") from None
    data = _mapping(raw, "document", {"version", "scopes", "roles", "apps", "tenants"}, {"version"})
    if data["version"] != VERSION:
        raise DocumentError(f"version: this server reads version {VERSION}, not {data['version']!r}.")
    scopes = [_scope(s, f"scopes[{i}]") for i, s in enumerate(_list(data.get("scopes"), "scopes"))]
    roles = [_role(r, f"roles[{i}]") for i, r in enumerate(_list(data.get("roles"), "roles"))]
    apps = [_app(a, f"apps[{i}]") for i, a in enumerate(_list(data.get("apps"), "apps"))]
    tenants = [_tenant(t, f"tenants[{i}]") for i, t in enumerate(_list(data.get("tenants"), "tenants"))]
    _unique(scopes, lambda s: s.name, "scopes", "scope")
    _unique(roles, lambda r: r.key, "roles", "role (tenant, name)")
    _unique(apps, lambda a: a.client_id, "apps", "app")
    _unique(tenants, lambda t: t.slug, "tenants", "tenant")
    document = Document(
        scopes=tuple(sorted(scopes, key=lambda s: s.name)),
        roles=tuple(sorted(roles, key=lambda r: (r.tenant or "", r.name))),
        apps=tuple(sorted(apps, key=lambda a: a.client_id)),
        tenants=tuple(sorted(tenants, key=lambda t: t.slug)),
    )
    _check_names(document)
    return document


def _check_names(document: Document) -> None:
    """Every scope named anywhere is one of the document's scopes: the document is the whole registry."""
    known = {s.name for s in document.scopes}

    def check(names: Any, where: str) -> None:
        unknown = sorted(set(names) - known)
        if unknown:
            raise DocumentError(f"{where}: unknown scope(s) {', '.join(unknown)} (not in `scopes`).")

    for scope in document.scopes:
        check(scope.implies, f"scopes.{scope.name}.implies")
    for role in document.roles:
        check((name for name, _ in role.grants), f"roles.{role.name}.grants")
    for app in document.apps:
        check((name for name, _ in app.scopes), f"apps.{app.client_id}.scopes")
    for tenant in document.tenants:
        for client_id, decision in tenant.apps:
            check(decision.cap or (), f"tenants.{tenant.slug}.apps.{client_id}.cap")


# --- Writing


def _scope_data(spec: ScopeSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name, "description": spec.description, "implies": list(spec.implies)}
    # The step-up fields only where a scope has them: a registry without step-up reads as before.
    if spec.required_acr:
        data["required_acr"] = spec.required_acr
    if spec.max_age is not None:
        data["max_age"] = spec.max_age
    return data


def to_data(document: Document) -> dict[str, Any]:
    """The document as plain data, every field written out (so a diff shows every change)."""
    return {
        "version": VERSION,
        "scopes": [_scope_data(s) for s in document.scopes],
        "roles": [
            {
                "name": r.name,
                "tenant": r.tenant,
                "description": r.description,
                "grants": dict(r.grants),
            }
            for r in document.roles
        ],
        "apps": [
            {
                "client_id": a.client_id,
                "name": a.name,
                "publisher": a.publisher,
                "client_type": a.client_type,
                "grant_type": a.grant_type,
                "redirect_uris": list(a.redirect_uris),
                "post_logout_redirect_uris": list(a.post_logout_redirect_uris),
                "tenant": a.tenant,
                "is_resource_server": a.is_resource_server,
                "scopes": {name: {"required": s.required, "reason": s.reason} for name, s in a.scopes},
            }
            for a in document.apps
        ],
        "tenants": [
            {
                "slug": t.slug,
                "app_policy": t.app_policy,
                "apps": {
                    client_id: {"status": d.status, **({"cap": list(d.cap)} if d.cap is not None else {})}
                    for client_id, d in t.apps
                },
                "token_policy": {"personal_tokens": t.personal_tokens, "max_days": t.max_days},
            }
            for t in document.tenants
        ],
    }


HEADER = (
    "# Granular Photos configuration (manage.py export_config; apply with manage.py apply_config FILE).\n"
    "# The format: docs/config-as-code.md. Secrets are never written here.\n"
)


def dump(document: Document, *, fmt: str = "yaml") -> str:
    """The document as YAML (with a header comment) or JSON."""
    data = to_data(document)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
