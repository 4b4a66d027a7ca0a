"""What every admin screen of the project is built from: staff see and pick only their tenants'
rows, every write is audited, and some screens are look-only or superuser-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.constants import AuditAction
from accounts.models import Tenant, User, signed_in
from accounts.selectors import admin_tenants
from accounts.services import audit_record, snapshot


class StaffChoicesMixin:
    """Foreign-key choices limited to the staff user's tenants, so a posted foreign id is refused.

    The autocomplete view asks the related model's admin (scoped by its `get_queryset`), but the
    form field validates against its own queryset: both must be scoped, and this does the second,
    with the same rule: a field offers what the related model's own staff-scoped admin shows
    this user (`staff_scope`), whichever app registered it. A superuser gets all.
    """

    admin_site: admin.AdminSite

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = self.admin_site._registry.get(db_field.related_model)
        if isinstance(related, StaffScopedAdmin) and "queryset" not in kwargs:
            everything = db_field.related_model._default_manager.all()
            kwargs["queryset"] = related.staff_scope(signed_in(request.user), everything)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class StaffScopedAdmin(StaffChoicesMixin, admin.ModelAdmin):
    """Changelist, change, delete, history and bulk actions see only the staff user's tenants' rows.

    Done by the ORM (not left to PostgreSQL's row-level security), so SQLite is as safe; every
    admin page and action starts from `get_queryset`. `staff_tenant_path` is the lookup from
    the model to its tenant; subclasses with another shape override `staff_scope`.
    """

    staff_tenant_path = "tenant"

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        if user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.staff_tenant_path}__in": admin_tenants(user)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.staff_scope(signed_in(request.user), super().get_queryset(request))


class AuditedAdmin(admin.ModelAdmin):
    """Writes an audit row for every add, change and delete made through this admin, with before/after.

    Rows changed in inlines are recorded too, each as its own event. Subclasses name the actions.
    """

    audit_actions: tuple[AuditAction, AuditAction, AuditAction] | None = None
    inline_audit_actions: dict[type[models.Model], tuple[AuditAction, AuditAction, AuditAction]] = {}

    def audit_tenant(self, obj: models.Model) -> Tenant | None:
        tenant = getattr(obj, "tenant", None)
        return tenant if isinstance(tenant, Tenant) else None

    # `obj: Any` as in ModelAdmin: each subclass names its own model.
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        request._audit_before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if self.audit_actions is None:
            return
        obj = form.instance
        before = getattr(request, "_audit_before", None)
        after = snapshot(obj)
        if change and before == after:
            return
        created, changed, _deleted = self.audit_actions
        audit_record(
            actor=signed_in(request.user),
            action=changed if change else created,
            target=obj,
            tenant=self.audit_tenant(obj),
            before=before,
            after=after,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        actions = self.inline_audit_actions.get(formset.model)
        if actions is None:
            super().save_formset(request, form, formset, change)
            return
        created, changed, deleted = actions
        befores = {
            f.instance.pk: snapshot(type(f.instance)._default_manager.get(pk=f.instance.pk))
            for f in formset.initial_forms
            if f.instance.pk and f.has_changed()
        }
        doomed = [(f.instance, snapshot(f.instance)) for f in formset.deleted_forms if f.instance.pk]
        super().save_formset(request, form, formset, change)
        for obj, before in doomed:
            audit_record(
                actor=signed_in(request.user),
                action=deleted,
                target=obj,
                tenant=self.audit_tenant(obj),
                before=before,
            )
        for obj in formset.new_objects:
            audit_record(
                actor=signed_in(request.user),
                action=created,
                target=obj,
                tenant=self.audit_tenant(obj),
                after=snapshot(obj),
            )
        for obj, _fields in formset.changed_objects:
            audit_record(
                actor=signed_in(request.user),
                action=changed,
                target=obj,
                tenant=self.audit_tenant(obj),
                before=befores.get(obj.pk),
                after=snapshot(obj),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        if self.audit_actions is not None:
            audit_record(
                actor=signed_in(request.user),
                action=self.audit_actions[2],
                target=obj,
                tenant=self.audit_tenant(obj),
                before=snapshot(obj),
            )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are looked at (and acted on through actions), never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SuperuserWritesOnly:
    """Staff may look; only superusers add, change or delete."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


def allowed(check: Any, **kwargs: Any) -> bool:
    """Whether a service's check passes: the admin hides what the service would refuse."""
    try:
        check(**kwargs)
    except ValidationError:
        return False
    return True
