"""The admin's roles-by-scopes grid (`/admin/roles/grid/`): every role a person may see, every scope,
and in each cell the reach the role grants (own objects, the whole tenant, or none).

Reading it answers "who may do what" at a glance; a cell the person may change is a choice, and
saving writes each changed role's grants through `role_grants_set` (the escalation rule under the
role's lock, one audit row per grant). Before anything moves people's rights, the page shows the
admin's what-if (`scopes.usage.preview`, the API's own decision before and after, rolled back) and
saves only on "Confirm and save", as a role's own page does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_protect

from accounts.admin.base import allowed
from accounts.models import Role, User, signed_in
from accounts.selectors import admin_roles
from scopes.access.selectors import registry
from scopes.constants import Reach
from scopes.models import RoleGrant, Scope
from scopes.registry import grant_reaches
from scopes.roles.rules import check_role_editable, check_role_grants
from scopes.roles.services import role_grants_set
from scopes.usage import preview

CONFIRM = "_preview_confirmed"
NONE = ""
CHOICES = [(NONE, "—"), (Reach.OWN.value, "own"), (Reach.TENANT.value, "tenant")]


@dataclass(frozen=True)
class Cell:
    """One role and one scope: what it grants itself, and what it reaches through a composite."""

    role: Role
    scope: str
    granted: str  # "", "own" or "tenant": the role's own grant of this scope
    reached: str  # the reach it has through any grant (a composite's parts included)
    editable: bool

    @property
    def field(self) -> str:
        return f"cell-{self.role.pk}-{self.scope}"


def _roles_of(user: User) -> list[Role]:
    return list(admin_roles(user).select_related("tenant").order_by("tenant__slug", "name"))


def _grants(roles: list[Role]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {role.pk: {} for role in roles}
    for role_id, scope, reach in RoleGrant.objects.filter(role__in=roles).values_list(
        "role_id", "scope__name", "reach"
    ):
        found[role_id][scope] = reach
    return found


def _wanted(post: Any, role: Role, scopes: list[str], current: dict[str, str]) -> dict[str, str] | None:
    """The grants the form asks for `role` (None: the form did not include this role's cells)."""
    if not any(f"cell-{role.pk}-{s}" in post for s in scopes):
        return None
    wanted = {}
    for scope in scopes:
        value = post.get(f"cell-{role.pk}-{scope}", current.get(scope, NONE))
        if value not in {c for c, _ in CHOICES}:
            raise ValidationError(f"{role.name}, {scope}: {value!r} is not a reach.")
        if value:
            wanted[scope] = value
    return wanted


def _selection(role_ids: list[int]) -> preview.Selection:
    """The live tokens and members whose rights these roles decide."""
    marks = ", ".join(["%s"] * len(role_ids))  # placeholders only: the ids are parameters
    return preview.Selection(
        f"(user_id, tenant_id) IN (SELECT user_id, tenant_id FROM accounts_membership WHERE role_id IN ({marks}))",  # noqa: S608
        tuple(role_ids),
        members=Q(role_id__in=role_ids),
    )


def _write(actor: User, changes: dict[Role, dict[str, str]]) -> None:
    scopes = {s.name: s for s in Scope.objects.all()}
    for role, wanted in changes.items():
        role_grants_set(
            actor=actor, role=role, grants=[(scopes[name], reach) for name, reach in sorted(wanted.items())]
        )


@csrf_protect
@staff_member_required
def role_grid(request: HttpRequest) -> HttpResponse:
    """Show the grid; on POST check, preview and (once confirmed) save the changed roles' grants."""
    user = signed_in(request.user)
    if not user.has_perm("accounts.view_role"):
        raise PermissionDenied
    snapshot = registry()
    scopes = sorted(snapshot.implications)
    roles = _roles_of(user)
    may_change = user.has_perm("scopes.change_rolegrant") or user.is_superuser
    editable = {r.pk for r in roles if may_change and allowed(check_role_editable, actor=user, role=r)}
    grants = _grants(roles)
    errors: list[str] = []
    result = None
    if request.method == "POST":
        changes: dict[Role, dict[str, str]] = {}
        for role in roles:
            try:
                wanted = _wanted(request.POST, role, scopes, grants[role.pk])
            except ValidationError as error:
                errors.extend(error.messages)
                continue
            if wanted is None or wanted == grants[role.pk]:
                continue
            if role.pk not in editable:
                errors.append(f"You cannot change the grants of {role}.")
                continue
            try:
                check_role_grants(actor=user, role=role, grants=list(wanted.items()))
            except ValidationError as error:
                errors.append(f"{role}: {' '.join(error.messages)}")
                continue
            changes[role] = wanted
        if not errors and changes:
            confirmed = CONFIRM in request.POST
            if not confirmed:
                result = preview.preview_of(
                    _selection([r.pk for r in changes]), lambda: _write(user, changes)
                )
            if confirmed or result is None or result.empty:
                try:
                    with transaction.atomic():
                        _write(user, changes)
                except ValidationError as error:  # the rule again, under the roles' locks
                    errors.extend(error.messages)
                else:
                    messages.success(request, f"Saved the grants of {', '.join(str(r) for r in changes)}.")
                    return redirect("admin-role-grid")
        elif not errors:
            messages.info(request, "Nothing changed.")
            return redirect("admin-role-grid")
    posted = request.POST if request.method == "POST" else {}
    rows = []
    for scope in scopes:
        cells = []
        for role in roles:
            own = grants[role.pk]
            reached = grant_reaches(own.items(), snapshot.implications).get(scope, NONE)
            cell = Cell(role, scope, own.get(scope, NONE), reached, role.pk in editable)
            chosen = posted.get(cell.field, cell.granted) if posted else cell.granted
            cells.append((cell, chosen))
        rows.append(
            (scope, snapshot.descriptions.get(scope, ""), sorted(snapshot.implications.get(scope, ())), cells)
        )
    context = {
        **admin.site.each_context(request),
        "title": "Roles × scopes",  # noqa: RUF001  (the sign is meant)
        "roles": roles,
        "rows": rows,
        "choices": CHOICES,
        "editable_any": bool(editable),
        "errors": errors,
        "preview": result,
        "confirm": CONFIRM,
        "has_permission": True,
    }
    return render(request, "admin/scopes/role_grid.html", context, status=400 if errors else 200)
