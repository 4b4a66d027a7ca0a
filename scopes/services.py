"""Writes to the scope registry, to apps and to what each app may ask for: locked, checked, audited.

The admin, the usage page's narrowing, the commands and the seeds call these; nothing else writes
`Scope`, its implications or `ApplicationScope` rows (tests/project/test_guards.py holds the admin
and the views to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.constants import AuditAction
from accounts.models import User
from accounts.services import audit_record, snapshot
from accounts.tenancy import writing_in
from scopes.access.personal_tokens import PERSONAL_TOKENS_CLIENT_ID
from scopes.access.selectors import implication_graph, scope_usage
from scopes.models import Application, ApplicationScope, Scope
from scopes.registry import find_cycle


def check_implications(*, scope_name: str, implies: Iterable[str]) -> None:
    """Raise ValidationError naming the cycle if `scope_name` implying `implies` would close one."""
    graph = implication_graph()
    graph[scope_name] = set(implies)
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationError(
            "These implications would form a cycle: %(cycle)s.",
            code="implication_cycle",
            params={"cycle": " → ".join(cycle)},
        )


def _lock_registry() -> None:
    # Every registry row, in one order: two concurrent edits cannot each close half of a cycle.
    list(Scope.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def scope_set_implications(*, actor: User | None, scope: Scope, implies: Iterable[Scope]) -> Scope:
    """Replace the scopes `scope` directly implies, refusing any cycle (not audited: `scope_save` is)."""
    implied = list(implies)
    _lock_registry()
    check_implications(scope_name=scope.name, implies=[s.name for s in implied])
    scope.implies.set(implied)
    return scope


@transaction.atomic
def scope_save(*, actor: User | None, scope: Scope, implies: Iterable[Scope]) -> Scope:
    """Create `scope` or store what is set on it (its description), with exactly `implies`.

    Platform-wide, so superusers (or the system) only. Audited as `scope.created`/`scope.changed`
    with the row and its implications before and after; a save that changes nothing records nothing.
    """
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a superuser changes the scope registry.")
    _lock_registry()
    before = snapshot(Scope.objects.get(pk=scope.pk)) if scope.pk is not None else None
    scope.save()
    scope_set_implications(actor=actor, scope=scope, implies=implies)
    after = snapshot(scope)
    if before != after:
        audit_record(
            actor=actor,
            action=AuditAction.SCOPE_CHANGED if before is not None else AuditAction.SCOPE_CREATED,
            target=scope,
            before=before,
            after=after,
        )
    return scope


@transaction.atomic
def scope_delete(*, actor: User | None, scope: Scope) -> None:
    """Delete a scope nothing uses (no role, app, implying scope or consent); audited."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a superuser changes the scope registry.")
    _lock_registry()
    usage = scope_usage(scope)
    if usage:
        listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in usage.items())
        raise ValidationError(
            "The scope %(name)s is still in use and cannot be deleted. Used by %(listed)s.",
            code="scope_in_use",
            params={"name": scope.name, "listed": listed},
        )
    audit_record(actor=actor, action=AuditAction.SCOPE_DELETED, target=scope, before=snapshot(scope))
    scope.delete()


@dataclass(frozen=True)
class AllowedScope:
    """One scope an app may ask for: whether the consent page may untick it, and the app's reason."""

    scope: Scope
    required: bool = False
    reason: str = ""


def _allowed_picture(rows: Iterable[ApplicationScope]) -> dict[str, object]:
    ordered = sorted(rows, key=lambda r: r.scope.name)
    return {
        "allowed_scopes": [r.scope.name for r in ordered],
        "required": [r.scope.name for r in ordered if r.required],
        "reasons": {r.scope.name: r.reason for r in ordered if r.reason},
    }


# The allowed scopes to write, or how to derive them from the app's rows as stored (read under
# the app's row lock; it may raise ValidationError to refuse, as the usage page's narrowing does).
Wanted = Iterable[AllowedScope] | Callable[[list[ApplicationScope]], Iterable[AllowedScope]]


@transaction.atomic
def application_scopes_set(
    *, actor: User | None, application: Application, allowed: Wanted
) -> list[ApplicationScope]:
    """Make what `application` may ask for exactly `allowed`; returns the rows, by scope name.

    Platform-wide (an app may be usable in every tenant), so superusers (or the system) only. The
    app row is locked and its rows read once, so two writers apply one after the other and a
    refusal derived from the rows (`allowed` as a function) is judged on what is written. One
    audit row per call, with the allowed scopes before and after: `application.scopes_narrowed`
    when scopes were only taken away, `application.scopes_changed` otherwise; nothing when nothing
    changed. Live tokens see the change at their next request (the app's row version moves with
    its allowed scopes: `scopes.access.freshness`).
    """
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a superuser changes what an app may ask for (platform-wide).")
    locked = Application.objects.select_for_update().get(pk=application.pk)
    stored = {
        r.scope_id: r for r in ApplicationScope.objects.select_related("scope").filter(application=locked)
    }
    wanted = {a.scope.pk: a for a in (allowed(list(stored.values())) if callable(allowed) else allowed)}
    before = _allowed_picture(stored.values())
    gone = [pk for pk in stored if pk not in wanted]
    if gone:
        ApplicationScope.objects.filter(application=locked, scope_id__in=gone).delete()
    rows: list[ApplicationScope] = []
    changed = False
    for pk, spec in wanted.items():
        row = stored.get(pk)
        if row is None:
            row = ApplicationScope.objects.create(
                application=locked, scope=spec.scope, required=spec.required, reason=spec.reason
            )
        elif (row.required, row.reason) != (spec.required, spec.reason):
            row.required, row.reason = spec.required, spec.reason
            row.save(update_fields=["required", "reason"])
            changed = True
        rows.append(row)
    rows.sort(key=lambda r: r.scope.name)
    after = _allowed_picture(rows)
    if before != after:
        removed = sorted(stored[pk].scope.name for pk in gone)
        added = sorted(wanted[pk].scope.name for pk in wanted if pk not in stored)
        narrowed = bool(removed) and not added and not changed
        audit_record(
            actor=actor,
            action=AuditAction.APPLICATION_SCOPES_NARROWED
            if narrowed
            else AuditAction.APPLICATION_SCOPES_CHANGED,
            target=locked,
            tenant=locked.tenant,
            before=before,
            after={**after, "removed": removed, "added": added},
        )
    return rows


# --- Applications themselves (what `apply_config` and `createapplication` write; the admin's
# application page still saves through its own audited form).


def _not_machine_app(application: Application) -> None:
    """Refuse the apps of service accounts and of personal tokens: their own services own them."""
    machine = application.client_id == PERSONAL_TOKENS_CLIENT_ID
    if not machine and application.tenant_id is not None:
        # A service account's app always has its tenant, whose rows are visible once entered.
        with writing_in(application.tenant_id):
            # (through the reverse link: the registry's services sit below the machines package)
            machine = Application.objects.filter(pk=application.pk, service_account__isnull=False).exists()
    if machine:
        raise ValidationError(
            "The app %(client_id)s belongs to a service account or to personal tokens: change it there.",
            code="machine_app",
            params={"client_id": application.client_id},
        )


@transaction.atomic
def application_save(*, actor: User | None, application: Application) -> Application:
    """Register `application`, or store what is set on it; validated as the admin's form validates it.

    Platform-wide (an app may be usable in every tenant), so superusers (or the system) only. A new
    confidential client's secret is whatever the caller set (it is hashed on save: keep the plain
    value to show once). Audited as `application.created`/`application.changed`, secrets left out;
    a save that changes nothing records nothing.
    """
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a superuser registers or changes an app (platform-wide).")
    before = None
    if application.pk is not None:
        stored = Application.objects.select_for_update().get(pk=application.pk)
        _not_machine_app(stored)
        before = snapshot(stored)
    application.full_clean()
    application.save()
    after = snapshot(application)
    if before != after:
        audit_record(
            actor=actor,
            action=AuditAction.APPLICATION_CHANGED if before is not None else AuditAction.APPLICATION_CREATED,
            target=application,
            tenant=application.tenant,
            before=before,
            after=after,
        )
    return application


@transaction.atomic
def application_delete(*, actor: User | None, application: Application) -> None:
    """Delete an app, and with it every token, code and consent it holds (they stop at once); audited."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a superuser deletes an app (platform-wide).")
    locked = Application.objects.select_for_update().get(pk=application.pk)
    _not_machine_app(locked)
    audit_record(
        actor=actor,
        action=AuditAction.APPLICATION_DELETED,
        target=locked,
        tenant=locked.tenant,
        before=snapshot(locked),
    )
    locked.delete()
