"""The rights tables and their only writers: a write to one, made while a page (the admin, an
account page, the usage report) is answering, must come from one of its services.

Installed for every test (tests/conftest.py); tests/project/test_guards.py proves it sees a
violation. Hooked on `pre_save` and `m2m_changed`, and on `Model.delete`, `QuerySet.delete`,
`update` and `bulk_create` (not on `pre_delete`: a receiver there would keep Django from
fast-deleting, and so change the query counts the suite asserts). Rows deleted along with a parent
(an app, a tenant, a person) are that deletion's, not a write of rights.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

from django.core.handlers.base import BaseHandler
from django.db import models
from django.db.models.signals import m2m_changed, pre_save

from accounts.models import Membership, Role
from scopes.machines import services as machines_services
from scopes.machines.models import TokenPolicy
from scopes.models import ApplicationScope, RoleGrant, Scope
from scopes.roles import services as roles
from scopes.services import application_scopes_set, scope_delete, scope_save, scope_set_implications
from scopes.tenant_policy import services as policy
from scopes.tenant_policy.models import BlockedClientDomain, TenantApp, TenantAppPolicy

# Each rights model, and the services that alone may write it.
RIGHTS_WRITERS: dict[type[models.Model], tuple[Callable[..., Any], ...]] = {
    Role: (roles.role_save, roles.role_delete),
    RoleGrant: (roles.role_grants_set,),
    Membership: (roles.membership_set, roles.membership_remove),
    Scope: (scope_save, scope_delete, scope_set_implications),
    Scope.implies.through: (scope_set_implications, scope_delete),
    ApplicationScope: (
        application_scopes_set,
        # A service account's and the personal tokens' own apps, made with their allowed scopes
        # by the service that makes the app (audited there).
        machines_services.service_account_create,
        machines_services.personal_token_app_ensure,
    ),
    TenantAppPolicy: (policy.app_policy_set, policy.second_factor_rule_set),
    # Filing a request for an app marks it pending in the tenant (a row that allows nothing, the
    # request's audit row records it); only an administrator's decision sets anything else.
    TenantApp: (policy.tenant_app_set, policy.tenant_app_clear, policy.access_request_file),
    TenantApp.cap.through: (policy.tenant_app_set,),
    BlockedClientDomain: (policy.client_domain_block, policy.client_domain_unblock),
    TokenPolicy: (machines_services.token_policy_set,),
}

_ANSWERING = BaseHandler.get_response.__code__


def _codes(functions: tuple[Callable[..., Any], ...]) -> frozenset[CodeType]:
    return frozenset(inspect.unwrap(f).__code__ for f in functions)


_WRITERS = {model: _codes(functions) for model, functions in RIGHTS_WRITERS.items()}


def unserviced_write(model: type[models.Model]) -> bool:
    """Whether a write to `model` is happening now while a page answers, with none of its services on the stack."""
    writers = _WRITERS.get(model)
    if writers is None:
        return False
    answering = False
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code in writers:
            return False
        answering = answering or frame.f_code is _ANSWERING
        frame = frame.f_back  # type: ignore[assignment]
    return answering


@contextmanager
def rights_writes_guarded() -> Iterator[list[str]]:
    """Inside, every rights write a page makes without its service is recorded (and refused)."""
    found: list[str] = []

    def refuse(model: type[models.Model], how: str) -> None:
        if unserviced_write(model):
            found.append(f"{model._meta.label} {how} outside {[f.__name__ for f in RIGHTS_WRITERS[model]]}")
            raise AssertionError(found[-1])

    def on_save(sender: type[models.Model], **kwargs: Any) -> None:
        refuse(sender, "saved")

    def on_m2m(sender: type[models.Model], action: str, **kwargs: Any) -> None:
        if action.startswith("pre_"):
            refuse(sender, action)

    update, bulk_create = models.QuerySet.update, models.QuerySet.bulk_create
    delete_rows, delete_row = models.QuerySet.delete, models.Model.delete

    def guarded_delete_rows(self: models.QuerySet) -> Any:
        refuse(self.model, "deleted")
        return delete_rows(self)

    def guarded_delete_row(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        refuse(type(self), "deleted")
        return delete_row(self, *args, **kwargs)

    def guarded_update(self: models.QuerySet, **kwargs: Any) -> int:
        refuse(self.model, "updated")
        return update(self, **kwargs)

    def guarded_bulk_create(self: models.QuerySet, *args: Any, **kwargs: Any) -> Any:
        refuse(self.model, "bulk-created")
        return bulk_create(self, *args, **kwargs)

    senders = list(RIGHTS_WRITERS)
    for sender in senders:
        pre_save.connect(on_save, sender=sender, weak=False)
        m2m_changed.connect(on_m2m, sender=sender, weak=False)
    for guarded in (guarded_update, guarded_bulk_create, guarded_delete_rows, guarded_delete_row):
        guarded.alters_data = True  # type: ignore[attr-defined]  # as Django's own: never from a template
    models.QuerySet.update = guarded_update  # type: ignore[method-assign]
    models.QuerySet.bulk_create = guarded_bulk_create  # type: ignore[method-assign]
    models.QuerySet.delete = guarded_delete_rows  # type: ignore[method-assign]
    models.Model.delete = guarded_delete_row  # type: ignore[method-assign]
    try:
        yield found
    finally:
        models.QuerySet.update = update  # type: ignore[method-assign]
        models.QuerySet.bulk_create = bulk_create  # type: ignore[method-assign]
        models.QuerySet.delete = delete_rows  # type: ignore[method-assign]
        models.Model.delete = delete_row  # type: ignore[method-assign]
        for sender in senders:
            pre_save.disconnect(on_save, sender=sender)
            m2m_changed.disconnect(on_m2m, sender=sender)
