"""Each request is one transaction that has entered what it may see (PostgreSQL row-level security).

Where the tenant is known decides who enters it (docs/security.md):

- `/api/...`: nothing here. The Bearer token names its tenant; authentication enters it.
- `/o/token/`, `/o/revoke_token/`, `/o/introspect/`: nothing here. The credential in the body
  names its tenant; the view enters it through a SECURITY DEFINER resolver.
- Other pages for a signed-in person (consent, connected apps): the person's own rows, read-only,
  in every tenant. A page enters a tenant before it writes there.
- The admin, for staff: the tenants they belong to; for superusers, every tenant.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts import tenancy
from accounts.models import Membership, Tenant

API_PREFIX = "/api/"


def _admin_prefix() -> str:
    return reverse("admin:index")


class TenancyMiddleware:
    """Runs each request in one transaction and enters its session's scope (PostgreSQL only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not tenancy.rls_enforced():
            return self.get_response(request)
        outermost = not connection.in_atomic_block
        # No savepoint when nested (tests run inside a transaction): a savepoint would add two
        # statements to every request that production never runs.
        with transaction.atomic(savepoint=False), tenancy.request_scope():
            self._enter_session_scope(request)
            response = self.get_response(request)
            if outermost and response.status_code >= 500:
                transaction.set_rollback(True)
        return response

    def _enter_session_scope(self, request: HttpRequest) -> None:
        if request.path.startswith(API_PREFIX):
            return
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        if user.is_staff and request.path.startswith(_admin_prefix()):
            if user.is_superuser:
                tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
            else:
                tenancy.enter(user_id=user.pk)
                tenant_ids = list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))
            tenancy.enter(tenant_ids=tenant_ids, user_id=user.pk)
        else:
            tenancy.enter(user_id=user.pk)
