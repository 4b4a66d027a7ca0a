"""From a document and what is stored, the plan: each addition, change and removal, in an order the
services can apply, and each applied through the same service the admin uses.

`plan()` compares (reads only). `rehearse()` applies the whole plan inside a savepoint as the acting
person, collects every refusal a service makes (with its reason), judges what people's rights
become with the API's own code (`scopes.usage.preview`, the admin's what-if), and rolls it all
back. `execute()` applies it for real. Every write is the services' (`scope_save`,
`role_grants_set`, `application_save`, `tenant_app_set`, ...): their rules (superusers only for the
registry and apps, nobody gives more than they hold, a scope in use is never deleted) and their
audit rows hold for a document exactly as for the admin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from oauth2_provider.generators import generate_client_secret

from accounts.models import Membership, Role, Tenant, User
from scopes.config.document import AppSpec, Document, RoleSpec, ScopeSpec, TenantAppSpec, TenantSpec
from scopes.machines.services import token_policy_set
from scopes.models import Application, Scope
from scopes.registry import find_cycle
from scopes.roles.services import role_delete, role_grants_set, role_save
from scopes.services import (
    AllowedScope,
    application_delete,
    application_save,
    application_scopes_set,
    scope_delete,
    scope_save,
)
from scopes.tenant_policy.services import app_policy_set, tenant_app_clear, tenant_app_set
from scopes.usage import preview


class Refused(Exception):
    """A document the rules refuse, with every reason."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class Change:
    """One line of the plan and how to apply it (`run` returns what to tell the operator, if anything)."""

    verb: str  # "add", "change" or "remove"
    what: str  # "scope photos.share", "role Member", "app demo-photos-client", "tenant acme"
    details: list[str]
    run: Callable[[User], str | None]

    @property
    def line(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.verb]
        return f"{sign} {self.what}" + "".join(f"\n      {d}" for d in self.details)


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        return {verb: sum(c.verb == verb for c in self.changes) for verb in ("add", "change", "remove")}


def _diff(label: str, old: object, new: object) -> list[str]:
    return [] if old == new else [f"{label}: {old!r} -> {new!r}"]


def _set_diff(label: str, old: Iterable[object], new: Iterable[object]) -> list[str]:
    before, after = set(old), set(new)
    lines = [f"{label} + {item}" for item in sorted(map(str, after - before))]
    return lines + [f"{label} - {item}" for item in sorted(map(str, before - after))]


# --- Scopes


def _scope_order(scopes: list[ScopeSpec]) -> list[ScopeSpec]:
    """Implied scopes first, so every scope's implications exist when it is saved."""
    graph = {s.name: set(s.implies) for s in scopes}
    cycle = find_cycle(graph)
    if cycle:
        raise Refused([f"scopes: these implications would form a cycle: {' → '.join(cycle)}."])
    ordered: list[ScopeSpec] = []
    placed: set[str] = set()
    by_name = {s.name: s for s in scopes}

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        for implied in sorted(graph[name]):
            place(implied)
        ordered.append(by_name[name])

    for name in sorted(graph):
        place(name)
    return ordered


def _save_scope(spec: ScopeSpec) -> Callable[[User], None]:
    def run(actor: User) -> None:
        scope = Scope.objects.filter(name=spec.name).first() or Scope(name=spec.name)
        scope.description = spec.description
        scope.required_acr = spec.required_acr
        scope.max_age = spec.max_age
        scope_save(actor=actor, scope=scope, implies=Scope.objects.filter(name__in=spec.implies))

    return run


def _delete_scope(name: str) -> Callable[[User], None]:
    def run(actor: User) -> None:
        scope_delete(actor=actor, scope=Scope.objects.get(name=name))

    return run


def _plan_scopes(wanted: Document, stored: Document, plan: Plan) -> list[Change]:
    stored_by_name = {s.name: s for s in stored.scopes}
    wanted_names = {s.name for s in wanted.scopes}
    for spec in _scope_order(list(wanted.scopes)):
        old = stored_by_name.get(spec.name)
        if old is None:
            details = [f"description: {spec.description!r}", *(f"implies {i}" for i in spec.implies)]
            plan.changes.append(Change("add", f"scope {spec.name}", details, _save_scope(spec)))
        elif old != spec:
            details = (
                _diff("description", old.description, spec.description)
                + _set_diff("implies", old.implies, spec.implies)
                + _diff("required_acr", old.required_acr, spec.required_acr)
                + _diff("max_age", old.max_age, spec.max_age)
            )
            plan.changes.append(Change("change", f"scope {spec.name}", details, _save_scope(spec)))
    return [
        Change("remove", f"scope {s.name}", [], _delete_scope(s.name))
        for s in stored.scopes
        if s.name not in wanted_names
    ]


# --- Roles


def _role_named(key: tuple[str | None, str]) -> Role | None:
    tenant, name = key
    return (
        Role.objects.filter(tenant__slug=tenant, name=name).first()
        if tenant
        else Role.objects.filter(tenant=None, name=name).first()
    )


def _save_role(spec: RoleSpec, *, grants_changed: bool, role_changed: bool) -> Callable[[User], None]:
    def run(actor: User) -> None:
        role = _role_named(spec.key)
        if role is None:
            role = Role(name=spec.name, tenant=Tenant.objects.get(slug=spec.tenant) if spec.tenant else None)
        if role.pk is None or role_changed:
            role.description = spec.description
            role_save(actor=actor, role=role)
        if grants_changed:
            scopes = {s.name: s for s in Scope.objects.filter(name__in=[n for n, _ in spec.grants])}
            role_grants_set(actor=actor, role=role, grants=[(scopes[n], reach) for n, reach in spec.grants])

    return run


def _delete_role(key: tuple[str | None, str]) -> Callable[[User], None]:
    def run(actor: User) -> None:
        role = _role_named(key)
        assert role is not None
        held = Membership.objects.filter(role=role).count()
        if held:
            raise ValidationError(
                "%(count)s member(s) hold the role %(role)s: give them another role first.",
                code="role_held",
                params={"count": held, "role": role.name},
            )
        role_delete(actor=actor, role=role)

    return run


def _role_title(key: tuple[str | None, str]) -> str:
    tenant, name = key
    return f"role {name}" + (f" of {tenant}" if tenant else " (global)")


def _plan_roles(wanted: Document, stored: Document, plan: Plan, tenants: set[str]) -> list[Change]:
    stored_by_key = {r.key: r for r in stored.roles}
    for spec in wanted.roles:
        if spec.tenant and spec.tenant not in tenants:
            raise Refused([f"{_role_title(spec.key)}: there is no tenant {spec.tenant!r}."])
        old = stored_by_key.get(spec.key)
        if old is None:
            details = [f"grant {n} ({reach})" for n, reach in spec.grants]
            run = _save_role(spec, grants_changed=True, role_changed=True)
            plan.changes.append(Change("add", _role_title(spec.key), details, run))
        elif old != spec:
            old_grants, new_grants = dict(old.grants), dict(spec.grants)
            details = _diff("description", old.description, spec.description)
            for name in sorted(old_grants.keys() | new_grants.keys()):
                if old_grants.get(name) != new_grants.get(name):
                    was = old_grants.get(name, "none")
                    now = new_grants.get(name, "none")
                    details.append(f"grant {name}: {was} -> {now}")
            run = _save_role(
                spec,
                grants_changed=old.grants != spec.grants,
                role_changed=old.description != spec.description,
            )
            plan.changes.append(Change("change", _role_title(spec.key), details, run))
    wanted_keys = {r.key for r in wanted.roles}
    return [
        Change("remove", _role_title(r.key), [], _delete_role(r.key))
        for r in stored.roles
        if r.key not in wanted_keys
    ]


# --- Apps


def _save_app(spec: AppSpec) -> Callable[[User], str | None]:
    def run(actor: User) -> str | None:
        app = Application.objects.filter(client_id=spec.client_id).first()
        secret = None
        if app is None:
            app = Application(client_id=spec.client_id)
            if spec.client_type == Application.CLIENT_CONFIDENTIAL:
                secret = generate_client_secret()
            app.client_secret = secret or ""
            app.hash_client_secret = True
        elif (
            spec.client_type == Application.CLIENT_CONFIDENTIAL
            and app.client_type == Application.CLIENT_PUBLIC
        ):
            raise ValidationError(
                "%(app)s: a public client cannot become confidential here (it has no secret); register "
                "a new app.",
                code="no_secret",
                params={"app": spec.client_id},
            )
        app.name = spec.name
        app.publisher = spec.publisher
        app.client_type = spec.client_type
        app.authorization_grant_type = spec.grant_type
        app.redirect_uris = " ".join(spec.redirect_uris)
        app.post_logout_redirect_uris = " ".join(spec.post_logout_redirect_uris)
        app.tenant = Tenant.objects.get(slug=spec.tenant) if spec.tenant else None
        app.is_resource_server = spec.is_resource_server
        application_save(actor=actor, application=app)
        scopes = {s.name: s for s in Scope.objects.filter(name__in=[n for n, _ in spec.scopes])}
        allowed = [AllowedScope(scopes[n], required=s.required, reason=s.reason) for n, s in spec.scopes]
        application_scopes_set(actor=actor, application=app, allowed=allowed)
        return f"{spec.client_id}: client secret (shown once, stored hashed): {secret}" if secret else None

    return run


def _delete_app(client_id: str) -> Callable[[User], None]:
    def run(actor: User) -> None:
        application_delete(actor=actor, application=Application.objects.get(client_id=client_id))

    return run


def _plan_apps(wanted: Document, stored: Document, plan: Plan, tenants: set[str]) -> list[Change]:
    stored_by_id = {a.client_id: a for a in stored.apps}
    unmanaged = set(Application.objects.values_list("client_id", flat=True)) - set(stored_by_id)
    for spec in wanted.apps:
        if spec.client_id in unmanaged:
            raise Refused(
                [f"app {spec.client_id}: a service account's or the personal tokens' app; change it there."]
            )
        if spec.tenant and spec.tenant not in tenants:
            raise Refused([f"app {spec.client_id}: there is no tenant {spec.tenant!r}."])
        old = stored_by_id.get(spec.client_id)
        details: list[str] = []
        if old is None:
            details = [f"{spec.client_type}, {spec.grant_type}", *(f"scope {n}" for n, _ in spec.scopes)]
            plan.changes.append(Change("add", f"app {spec.client_id}", details, _save_app(spec)))
        elif old != spec:
            for name in ("name", "publisher", "client_type", "grant_type", "tenant", "is_resource_server"):
                details += _diff(name, getattr(old, name), getattr(spec, name))
            details += _set_diff("redirect URI", old.redirect_uris, spec.redirect_uris)
            details += _set_diff(
                "post-logout redirect URI", old.post_logout_redirect_uris, spec.post_logout_redirect_uris
            )
            old_scopes, new_scopes = dict(old.scopes), dict(spec.scopes)
            for name in sorted(old_scopes.keys() | new_scopes.keys()):
                was, now = old_scopes.get(name), new_scopes.get(name)
                if was is None:
                    details.append(f"scope + {name}")
                elif now is None:
                    details.append(f"scope - {name}")
                elif was != now:
                    details.append(
                        f"scope {name}: required {was.required} -> {now.required}, reason {was.reason!r} -> {now.reason!r}"
                    )
            plan.changes.append(Change("change", f"app {spec.client_id}", details, _save_app(spec)))
    wanted_ids = {a.client_id for a in wanted.apps}
    return [
        Change(
            "remove",
            f"app {a.client_id}",
            ["its tokens, codes and consents go with it"],
            _delete_app(a.client_id),
        )
        for a in stored.apps
        if a.client_id not in wanted_ids
    ]


# --- Tenants


def _apply_tenant(spec: TenantSpec, old: TenantSpec) -> Callable[[User], None]:
    def run(actor: User) -> None:
        tenant = Tenant.objects.get(slug=spec.slug)
        if spec.app_policy != old.app_policy:
            app_policy_set(actor=actor, tenant=tenant, mode=spec.app_policy)
        if (spec.personal_tokens, spec.max_days) != (old.personal_tokens, old.max_days):
            token_policy_set(
                actor=actor, tenant=tenant, personal_tokens=spec.personal_tokens, max_days=spec.max_days
            )
        old_apps, new_apps = dict(old.apps), dict(spec.apps)
        for client_id in sorted(old_apps.keys() | new_apps.keys()):
            decision = new_apps.get(client_id)
            if decision == old_apps.get(client_id):
                continue
            app = Application.objects.get(client_id=client_id)
            if decision is None:
                tenant_app_clear(actor=actor, tenant=tenant, application=app)
            else:
                tenant_app_set(
                    actor=actor, tenant=tenant, application=app, status=decision.status, cap=decision.cap
                )

    return run


def _decision(decision: TenantAppSpec | None) -> str:
    if decision is None:
        return "undecided"
    return decision.status + (f" (cap: {' '.join(decision.cap)})" if decision.cap is not None else "")


def _plan_tenants(wanted: Document, stored: Document, plan: Plan) -> None:
    stored_by_slug = {t.slug: t for t in stored.tenants}
    app_ids = {a.client_id for a in wanted.apps}
    for spec in wanted.tenants:
        old = stored_by_slug.get(spec.slug)
        if old is None:
            raise Refused(
                [f"tenant {spec.slug}: no such tenant (a document sets the policies of existing tenants)."]
            )
        unknown = sorted({client_id for client_id, _ in spec.apps} - app_ids)
        if unknown:
            raise Refused([f"tenant {spec.slug}: apps not in the document's apps: {', '.join(unknown)}."])
        if old == spec:
            continue
        details = _diff("app_policy", old.app_policy, spec.app_policy)
        details += _diff("personal_tokens", old.personal_tokens, spec.personal_tokens)
        details += _diff("max_days", old.max_days, spec.max_days)
        old_apps, new_apps = dict(old.apps), dict(spec.apps)
        for client_id in sorted(old_apps.keys() | new_apps.keys()):
            was, now = old_apps.get(client_id), new_apps.get(client_id)
            if was != now:
                details.append(f"app {client_id}: {_decision(was)} -> {_decision(now)}")
        plan.changes.append(Change("change", f"tenant {spec.slug}", details, _apply_tenant(spec, old)))
    left = sorted(set(stored_by_slug) - {t.slug for t in wanted.tenants})
    if left:
        plan.notes.append(f"Tenants not in the document keep their policies as they are: {', '.join(left)}.")


def plan(wanted: Document, stored: Document) -> Plan:
    """What applying `wanted` would change, in the order the services can apply it.

    Additions and changes first (scopes before the roles and apps that name them, apps before the
    tenants that decide about them), removals last (apps, then roles, then scopes, once nothing
    that stays names them). Raises `Refused` for what no service could do (a tenant that does not
    exist, an implication cycle).
    """
    result = Plan()
    tenants = {t.slug for t in stored.tenants}
    scope_removals = _plan_scopes(wanted, stored, result)
    role_removals = _plan_roles(wanted, stored, result, tenants)
    app_removals = _plan_apps(wanted, stored, result, tenants)
    _plan_tenants(wanted, stored, result)
    result.changes += app_removals + role_removals + scope_removals
    return result


# --- Applying


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    if isinstance(error, ProtectedError):
        return "still in use: " + ", ".join(sorted({str(o) for o in error.protected_objects})[:5])
    return str(error) or type(error).__name__


def _run_all(changes: list[Change], actor: User) -> tuple[list[str], list[str]]:
    """Apply each change in its own savepoint; (messages, refusals with the change they refused)."""
    messages: list[str] = []
    refusals: list[str] = []
    for change in changes:
        try:
            with transaction.atomic():
                said = change.run(actor)
        except (ValidationError, PermissionDenied, ProtectedError) as error:
            refusals.append(f"{change.what}: {_reason(error)}")
        else:
            if said:
                messages.append(said)
    return messages, refusals


@dataclass
class Rehearsal:
    """What applying the plan would do, found by doing it and rolling it back."""

    refusals: list[str]
    rights: preview.Preview | None


def rehearse(result: Plan, actor: User) -> Rehearsal:
    """Apply the plan in a savepoint as `actor`, judge everyone's rights before and after, roll back."""
    selection = preview.for_registry()
    before = preview.capture(selection)
    with transaction.atomic():
        _messages, refusals = _run_all(result.changes, actor)
        after = preview.capture(selection) if not refusals else None
        transaction.set_rollback(True)
    return Rehearsal(refusals=refusals, rights=preview.compare(before, after) if after is not None else None)


@transaction.atomic
def execute(result: Plan, actor: User) -> list[str]:
    """Apply the plan for real, all or nothing; returns what to tell the operator (new secrets)."""
    messages, refusals = _run_all(result.changes, actor)
    if refusals:
        transaction.set_rollback(True)
        raise Refused(refusals)
    return messages
