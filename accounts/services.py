"""Writes that belong to identity: the audit row every service records, and a person's own account.

Memberships, roles and their grants are written by `scopes.roles.services`, beside the rule that
judges them (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from accounts.audit_stream.outbox import record
from accounts.constants import AuditAction
from accounts.models import AuditEvent, Tenant, User

SECRET_FIELDS = {"password", "client_secret", "token", "token_checksum", "code", "secret"}


def snapshot(obj: models.Model) -> dict[str, Any]:
    """A JSON-able picture of a row for the audit log: fields and many-to-many names, no secrets."""
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.name in SECRET_FIELDS or f.primary_key:
            continue
        value = getattr(obj, f.attname)
        data[f.name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    if obj.pk:
        for f in obj._meta.many_to_many:
            data[f.name] = sorted(str(o) for o in getattr(obj, f.name).all())
    return data


# What is making the changes when it is not a page: a command names itself, so the log says
# "admin via manage.py apply_config" rather than a bare "admin" (or nothing, for the system).
_source: ContextVar[str] = ContextVar("audit_source", default="")


@contextmanager
def audit_source(label: str) -> Iterator[None]:
    """Inside, every audit row names `label` (a command) beside its actor, or as the actor when there is none."""
    token = _source.set(label)
    try:
        yield
    finally:
        _source.reset(token)


def _actor_label(actor: User | None) -> str:
    name = actor.get_username() if actor is not None and actor.pk else ""
    source = _source.get()
    if not source:
        return name
    return f"{name} via {source}"[:150] if name else source[:150]


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    target: models.Model,
    tenant: Tenant | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row; callers run it inside the transaction of the change it records.

    Its webhook deliveries are queued in the same transaction, on PostgreSQL in the same statement
    (accounts.audit_stream.outbox.record).
    """
    event = AuditEvent(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=_actor_label(actor),
        tenant=tenant,
        tenant_label=tenant.slug if tenant else "",
        action=action,
        target_type=target._meta.label,
        target_id=str(target.pk or ""),
        target_label=str(target)[:300],
        before=before,
        after=after,
    )
    record(event)
    return event


# Django's own powers: whoever holds them reaches every tenant, so only a superuser hands them out.
PRIVILEGED_USER_FIELDS = frozenset({"is_superuser", "is_staff", "groups", "user_permissions"})


def check_user_change(*, actor: User, user: User, changed: Iterable[str] = ()) -> None:
    """Refuse a non-superuser changing another person's account, or anyone's Django powers.

    An account (password, e-mail, being active) is the person's in every tenant they belong to,
    tenants a staff member may not even see; so staff change only their own, and manage
    everyone else through memberships, which are tenant-scoped. Superuser, staff, groups and
    permissions reach every tenant: only a superuser changes them, for anyone.
    """
    if actor.is_superuser:
        return
    if actor.pk != user.pk:
        raise ValidationError(
            "Only a superuser changes another person's account; change their membership instead.",
            code="not_your_account",
        )
    touched = sorted(PRIVILEGED_USER_FIELDS.intersection(changed))
    if touched:
        raise ValidationError(
            "Only a superuser changes %(fields)s.",
            code="privileged_field",
            params={"fields": ", ".join(touched)},
        )


@transaction.atomic
def user_update(*, actor: User, user: User, changed: Iterable[str]) -> User:
    """Save changes to an account (fields already set on `user`), after the check above."""
    changed = list(changed)
    check_user_change(actor=actor, user=user, changed=changed)
    user.save()
    return user
