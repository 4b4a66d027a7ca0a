"""Cache invalidation (the one use of signals): the scope registry, app registrations and contexts.

Any write, from the admin, a service, DOT's own views or a shell, deletes the cached copies and
stamps it makes stale, in the shared cache, so every worker process sees the change on its next
read. Signals catch them all except `QuerySet.update()` and raw SQL: no code updates the models
below that way (refresh tokens are updated in bulk, but they are not part of a context).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_save
from django.dispatch import receiver

from accounts.models import Membership, Role, Tenant, User
from scopes import context_cache
from scopes.models import AccessToken, ApplicationScope, RoleGrant, Scope
from scopes.selectors import APP_SCOPES_CACHE_KEY, REGISTRY_STAMP_KEY


def _drop(*keys: str) -> None:
    cache.delete_many(list(keys))
    # Again after commit: a reader between the write and the commit may have re-cached old rows.
    transaction.on_commit(lambda: cache.delete_many(list(keys)))


@receiver([post_save, post_delete], sender=Scope)
def _scope_changed(**kwargs: Any) -> None:
    _drop(REGISTRY_STAMP_KEY)
    # Role grants in cached contexts carry scope names.
    context_cache.forget_all()


@receiver(m2m_changed, sender=Scope.implies.through)
def _implications_changed(**kwargs: Any) -> None:
    _drop(REGISTRY_STAMP_KEY)


@receiver([post_save, post_delete], sender=ApplicationScope)
def _app_scopes_changed(instance: ApplicationScope, **kwargs: Any) -> None:
    _drop(APP_SCOPES_CACHE_KEY.format(pk=instance.application_id))


@receiver(post_migrate)
def _migrated(**kwargs: Any) -> None:
    # Data migrations write through historical models, which send no signals to the receivers here.
    _drop(REGISTRY_STAMP_KEY)
    context_cache.forget_all()


# --- Authorization contexts (`scopes.context_cache`).


@receiver(post_save, sender=AccessToken)
def _token_saved(instance: AccessToken, created: bool, **kwargs: Any) -> None:
    if not created:  # a new token has no entry yet; a rewritten one (consent narrowed) has
        context_cache.forget_token(instance.token_checksum)


@receiver(post_delete, sender=AccessToken)
def _token_deleted(instance: AccessToken, **kwargs: Any) -> None:
    # Revocation (ours and DOT's /o/revoke_token/), refresh rotation, consent revoked, cascades.
    context_cache.forget_token(instance.token_checksum)


@receiver(post_save, sender=User)
def _user_saved(instance: User, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # no tokens yet; a sign-in changes nothing a decision reads
    context_cache.forget_user(instance.pk)
    # On PostgreSQL the listing above sees only the tenants this request entered (row-level
    # security): a staff user deactivating someone would miss their tokens elsewhere. User
    # changes are rare, so every entry is read again as well.
    context_cache.forget_all()


@receiver(post_save, sender=Tenant)
def _tenant_saved(created: bool, **kwargs: Any) -> None:
    if not created:  # deactivated or renamed; a new tenant is in no entry
        context_cache.forget_all()


@receiver(post_delete, sender=Tenant)
def _tenant_deleted(**kwargs: Any) -> None:
    context_cache.forget_all()


# Memberships, roles and grants can move (another tenant, another role): the tenant they leave is
# as stale as the one they join, so pre_save notes where the row was.
_BEFORE = "_context_cache_before"


def _note_before(instance: models.Model, field: str) -> None:
    before: list[Any] = []
    if instance.pk is not None and not instance._state.adding:
        manager = type(instance)._default_manager
        before = list(manager.filter(pk=instance.pk).values_list(field, flat=True))
    setattr(instance, _BEFORE, before)


def _pop_before(instance: models.Model) -> list[Any]:
    """What pre_save noted for this save (nothing for a new row, or for a delete)."""
    return instance.__dict__.pop(_BEFORE, [])


def _forget_tenants(tenant_ids: set[int | None]) -> None:
    """Invalidate each tenant's stamp; a global role (None), or a tenant already gone, touches all."""
    if None in tenant_ids:
        context_cache.forget_all()
        return
    slugs = list(Tenant.objects.filter(pk__in=tenant_ids).values_list("slug", flat=True))
    if len(slugs) < len(tenant_ids):
        context_cache.forget_all()
    for slug in slugs:
        context_cache.forget_tenant(slug)


@receiver(pre_save, sender=Membership)
def _membership_saving(instance: Membership, **kwargs: Any) -> None:
    _note_before(instance, "tenant_id")


@receiver([post_save, post_delete], sender=Membership)
def _membership_changed(instance: Membership, **kwargs: Any) -> None:
    _forget_tenants({instance.tenant_id, *_pop_before(instance)})


def _forget_roles(role_ids: set[int], tenant_ids: set[int | None]) -> None:
    """Tenants whose members may hold these roles: the roles' own, and wherever one is held."""
    if None in tenant_ids:
        context_cache.forget_all()  # a global role
        return
    # A tenant's role is given only in its tenant; where a row says otherwise, that tenant too.
    held = Membership.objects.filter(role_id__in=role_ids).values_list("tenant_id", flat=True).distinct()
    _forget_tenants(tenant_ids | set(held))


@receiver(pre_save, sender=Role)
def _role_saving(instance: Role, **kwargs: Any) -> None:
    _note_before(instance, "tenant_id")


@receiver([post_save, post_delete], sender=Role)
def _role_changed(instance: Role, created: bool = False, **kwargs: Any) -> None:
    if created:
        _pop_before(instance)
        return  # nobody holds a new role yet
    _forget_roles({instance.pk}, {instance.tenant_id, *_pop_before(instance)})


@receiver(pre_save, sender=RoleGrant)
def _grant_saving(instance: RoleGrant, **kwargs: Any) -> None:
    _note_before(instance, "role_id")


@receiver([post_save, post_delete], sender=RoleGrant)
def _grant_changed(instance: RoleGrant, **kwargs: Any) -> None:
    role_ids = {instance.role_id, *_pop_before(instance)}
    found = dict(Role.objects.filter(pk__in=role_ids).values_list("pk", "tenant_id"))
    if len(found) < len(role_ids):
        context_cache.forget_all()  # the role is gone: do not guess where it was held
        return
    _forget_roles(role_ids, set(found.values()))
