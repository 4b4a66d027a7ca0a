"""Rights in the admin: roles with their grants inline, memberships on their own page and inline
on a tenant's and a user's page (those two pages are registered here, built on accounts' classes).

Every row added, changed or deleted is written by `scopes.roles.services` (which check the rule
under a row lock and audit); the forms ask the same rule first, to show the refusal as a form
error. tests/project/test_guards.py fails if a screen here writes a rights row any other way.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import people
from accounts.admin.base import StaffChoicesMixin, StaffScopedAdmin, allowed
from accounts.admin.preview import PreviewBeforeSave
from accounts.models import Membership, Role, Tenant, User, signed_in
from accounts.selectors import admin_roles, admin_tenants
from scopes.models import RoleGrant
from scopes.roles.rules import check_membership_change, check_role_editable, check_role_grants
from scopes.roles.services import (
    membership_remove,
    membership_set,
    role_delete,
    role_grants_set,
    role_save,
)
from scopes.usage.admin_preview import MEMBERSHIP_JUDGE, ROLE_JUDGE


class MembershipInline(StaffChoicesMixin, admin.TabularInline):
    """Memberships edited in place, on the tenant and on the user (a user's, in the staff's tenants only)."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user", "role"]
    fields = ["user", "tenant", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        qs = super().get_queryset(request)
        return (
            qs if request.user.is_superuser else qs.filter(tenant__in=admin_tenants(signed_in(request.user)))
        )


def check_membership_form(
    *, actor: User, before: Membership | None, user: User, tenant: Tenant, role: Role | None, delete: bool
) -> None:
    """What the membership services will say about this admin row, asked before anything is written.

    A row whose user or tenant was changed is the removal of the old membership and a new one.
    """
    current = before.role if before is not None else None
    if before is not None and (delete or before.user_id != user.pk or before.tenant_id != tenant.pk):
        check_membership_change(actor=actor, tenant=before.tenant, current=before.role, new=None)
        current = None
    if not delete and role is not None:
        check_membership_change(actor=actor, tenant=tenant, current=current, new=role)


def _stored(pk: int | None) -> Membership | None:
    return Membership.objects.select_related("tenant", "role").filter(pk=pk).first() if pk else None


class MembershipForm(forms.ModelForm):
    """One membership on its own page: the services' rule shown as a form error."""

    request: HttpRequest

    class Meta:
        model = Membership
        fields = ["user", "tenant", "role"]

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; its stub allows None
        user = cleaned.get("user") or getattr(self.instance, "user", None)
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        role = cleaned.get("role")
        if user is not None and tenant is not None and role is not None:
            try:
                check_membership_form(
                    actor=signed_in(self.request.user),
                    before=_stored(self.instance.pk),
                    user=user,
                    tenant=tenant,
                    role=role,
                    delete=False,
                )
            except ValidationError as exc:
                self.add_error("role", exc)
        return cleaned


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    """Memberships on a tenant's or a user's page: every added, changed or deleted row is checked.

    In the formset, not the row's form: Django ignores the errors of a row marked for deletion.
    """

    request: HttpRequest

    def clean(self) -> None:
        super().clean()
        problems: list[ValidationError] = []
        for form in self.forms:
            # _should_delete_form: Django's own test for a row marked for deletion (not in the stubs).
            deleting = self._should_delete_form(form)  # type: ignore[attr-defined]
            if not form.cleaned_data or not (form.has_changed() or deleting):
                continue
            if form.errors:
                continue  # a row already refused (e.g. a tenant or user the viewer cannot choose)
            data = form.cleaned_data
            # getattr: an unsaved row has no user or tenant yet (RelatedObjectDoesNotExist).
            user = data.get("user") or getattr(form.instance, "user", None)
            tenant = data.get("tenant") or getattr(form.instance, "tenant", None)
            if user is None or tenant is None:
                continue
            try:
                check_membership_form(
                    actor=signed_in(self.request.user),
                    before=_stored(form.instance.pk),
                    user=user,
                    tenant=tenant,
                    role=data.get("role"),
                    delete=deleting,
                )
            except ValidationError as exc:
                problems.append(exc)
        if problems:
            raise ValidationError(problems)


def save_membership_formset(request: HttpRequest, formset: Any) -> None:
    """Write a membership formset through the services (which audit), never by saving rows directly."""
    formset.save(commit=False)  # fills new_objects, changed_objects, deleted_objects; writes nothing
    actor = signed_in(request.user)
    for obj in formset.deleted_objects:
        before = _stored(obj.pk)
        if before is not None:
            membership_remove(actor=actor, user=before.user, tenant=before.tenant)
    for obj, _fields in formset.changed_objects:
        before = _stored(obj.pk)
        if before is not None and (before.user_id, before.tenant_id) != (obj.user_id, obj.tenant_id):
            membership_remove(actor=actor, user=before.user, tenant=before.tenant)
        obj.pk = membership_set(actor=actor, user=obj.user, tenant=obj.tenant, role=obj.role).pk
    for obj in formset.new_objects:
        obj.pk = membership_set(actor=actor, user=obj.user, tenant=obj.tenant, role=obj.role).pk


def _with_request(form_class: type, request: HttpRequest) -> type:
    return type(form_class.__name__, (form_class,), {"request": request})


class TenantMembershipInline(MembershipInline):
    fields = ["user", "role", "created_at"]
    formset = MembershipInlineFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return _with_request(super().get_formset(request, obj, **kwargs), request)


class UserMembershipInline(MembershipInline):
    fields = ["tenant", "role", "created_at"]
    autocomplete_fields = ["tenant", "role"]
    formset = MembershipInlineFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return _with_request(super().get_formset(request, obj, **kwargs), request)


@admin.register(Membership)
class MembershipAdmin(PreviewBeforeSave, StaffScopedAdmin):
    """One membership per page, written by the services; stronger members are read-only to staff."""

    rights_judge = MEMBERSHIP_JUDGE
    form = MembershipForm
    list_display = ["user", "tenant", "role", "created_at"]
    # Only what the (scoped) changelist holds: the plain filters would list every tenant and role.
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter), ("role", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["user", "tenant", "role"]
    list_select_related = ["user", "tenant", "role"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Who and where is what a membership is: to move it, remove it and add another.
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "user", "tenant"]

    def _may_act_on(self, request: HttpRequest, obj: Membership) -> bool:
        return allowed(
            check_membership_change, actor=request.user, tenant=obj.tenant, current=obj.role, new=None
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self._may_act_on(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self._may_act_on(request, obj))

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        obj.pk = membership_set(
            actor=signed_in(request.user), user=obj.user, tenant=obj.tenant, role=obj.role
        ).pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(actor=signed_in(request.user), user=obj.user, tenant=obj.tenant)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset.select_related("user", "tenant"):
            self.delete_model(request, obj)


class MembershipsViaServices(admin.ModelAdmin):
    """Tenant and user pages: their membership inlines are written by the services."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Membership:
            save_membership_formset(request, formset)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Tenant)
class TenantAdmin(MembershipsViaServices, people.TenantAdmin):
    inlines = [TenantMembershipInline]


@admin.register(User)
class UserAdmin(MembershipsViaServices, people.UserAdmin):
    inlines = [UserMembershipInline]


class RoleGrantInlineFormSet(forms.BaseInlineFormSet):
    """Grants a staff user writes must be within what they hold in the role's (stored) tenant.

    Checked here to show the refusal on the page; `role_grants_set` asks again under the lock.
    """

    request: HttpRequest

    def grants(self) -> list[tuple[str, str]]:
        return [(scope.name, reach) for scope, reach in self.wanted()]

    def wanted(self) -> list[tuple[Any, str]]:
        """The (scope, reach) pairs the page shows once saved: every row not marked for deletion."""
        return [
            (f.cleaned_data["scope"], f.cleaned_data["reach"])
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("scope")
        ]

    def clean(self) -> None:
        super().clean()
        # `self.instance` already carries what the role form posted (a new tenant, say): the
        # rule judges the role in the tenant the database holds for it.
        check_role_grants(actor=signed_in(self.request.user), role=self.instance, grants=self.grants())


class RoleGrantInline(admin.TabularInline):
    """A role's grants, edited on the role (every role at once: the roles-by-scopes grid, scopes.roles.grid)."""

    model = RoleGrant
    formset = RoleGrantInlineFormSet
    extra = 0
    autocomplete_fields = ["scope"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A grant names a scope; it does not edit it. Django's pencil, plus and cross icons beside
        # the choice would open the scope itself (its consent text, its implications) from here.
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if (
            db_field.name == "scope"
            and field is not None
            and isinstance(field.widget, RelatedFieldWidgetWrapper)
        ):
            widget = field.widget
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return field

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = cast(type[RoleGrantInlineFormSet], super().get_formset(request, obj, **kwargs))
        formset.request = request
        return formset


@admin.register(Role)
class RoleAdmin(PreviewBeforeSave, StaffScopedAdmin):
    """Staff see the global templates and their tenants' roles; they edit only their tenants' roles
    that reach no further than their own, and never move a role to another tenant.

    The role and its grants (inline) are written by `role_save` and `role_grants_set`.
    """

    rights_judge = ROLE_JUDGE
    list_display = ["name", "tenant", "description"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["tenant"]
    inlines = [RoleGrantInline]

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_roles(user))

    def _may_write(self, request: HttpRequest, obj: Role | None) -> bool:
        return obj is None or allowed(check_role_editable, actor=request.user, role=obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser or obj is None else [*fields, "tenant"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser and "tenant" in form.base_fields:
            form.base_fields["tenant"].required = True
            form.base_fields["tenant"].help_text = "Only superusers create global roles."
        return form

    def save_model(self, request: HttpRequest, obj: Role, form: Any, change: bool) -> None:
        role_save(actor=signed_in(request.user), role=obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not RoleGrant:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # fills new/changed/deleted_objects for the history; writes nothing
        if not (formset.new_objects or formset.changed_objects or formset.deleted_objects):
            return  # an untouched inline writes nothing and records nothing, as Django's save would
        role_grants_set(actor=signed_in(request.user), role=form.instance, grants=formset.wanted())

    def delete_model(self, request: HttpRequest, obj: Role) -> None:
        role_delete(actor=signed_in(request.user), role=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
