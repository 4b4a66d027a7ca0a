"""Seed a demo world (idempotent): two tenants, one user per role in each, a demo client, an admin."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import tenancy
from accounts.constants import RoleName
from accounts.models import Role, Tenant, User
from scopes.models import Application
from scopes.oauth.demo import seed_demo_client
from scopes.roles.services import membership_set

DEMO_PASSWORD = "demo-password"
ADMIN_USERNAME = "admin"
TENANTS = {"acme": "Acme Corporation", "globex": "Globex Inc."}
ROLE_USERS = [RoleName.OWNER, RoleName.ADMIN, RoleName.MEMBER, RoleName.GUEST]
# One user in both tenants with different roles, to show the tenant picker and per-tenant roles.
BOTH_TENANTS_USER = ("sam", {"acme": RoleName.ADMIN, "globex": RoleName.GUEST})


def _user(username: str, *, email: str, first_name: str = "", **flags: bool) -> User:
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": email, "first_name": first_name, **flags}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


class Command(BaseCommand):
    help = "Create (or leave as is) the demo tenants, users, OAuth client and admin, and print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            logins = self._seed_people()
            client = self._seed_client()
        self._print(logins, client)

    def _seed_people(self) -> list[tuple[str, str]]:
        logins: list[tuple[str, str]] = []
        _user(ADMIN_USERNAME, email="admin@example.com", is_staff=True, is_superuser=True)
        logins.append((ADMIN_USERNAME, "superuser: the admin site"))
        roles = {r.name: r for r in Role.objects.filter(tenant=None, name__in=[str(n) for n in RoleName])}
        tenants = {}
        for slug, name in TENANTS.items():
            tenants[slug], _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
            # Memberships are tenant rows: on PostgreSQL they are written with the tenant entered.
            tenancy.enter_tenant(tenants[slug].pk)
            for role_name in ROLE_USERS:
                username = f"{slug}-{role_name.lower()}"
                user = _user(username, email=f"{username}@example.com", first_name=f"{name} {role_name}")
                membership_set(actor=None, user=user, tenant=tenants[slug], role=roles[role_name])
                logins.append((username, f"{role_name} in {slug}"))
        username, placement = BOTH_TENANTS_USER
        user = _user(username, email=f"{username}@example.com", first_name="Sam")
        for slug, role_name in placement.items():
            tenancy.enter_tenant(tenants[slug].pk)
            membership_set(actor=None, user=user, tenant=tenants[slug], role=roles[role_name])
        logins.append((username, ", ".join(f"{r} in {s}" for s, r in placement.items())))
        return logins

    def _seed_client(self) -> Application:
        return seed_demo_client()

    def _print(self, logins: list[tuple[str, str]], client: Application) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data is ready."))
        out.write("")
        out.write(f"Logins (password for every demo user: {DEMO_PASSWORD}):")
        width = max(len(u) for u, _ in logins)
        for username, what in logins:
            out.write(f"  {username.ljust(width)}  {what}")
        out.write("")
        out.write("Demo OAuth client (public, authorization code + PKCE S256):")
        out.write(f"  client_id     {client.client_id}")
        out.write(f"  redirect URIs {client.redirect_uris}")
        out.write("")
        out.write("Where to go (server on http://127.0.0.1:8000):")
        out.write("  http://127.0.0.1:8000/admin/         the admin (log in as admin)")
        out.write("  http://127.0.0.1:8000/o/authorize/   the consent page (an OAuth client sends you here)")
        out.write("  http://127.0.0.1:8000/account/apps/  apps you have granted, per organisation")
        out.write("  http://127.0.0.1:8000/api/docs/      the API, with a Try-it-out that signs in via PKCE")
        out.write("  http://127.0.0.1:8000/.well-known/openid-configuration   OpenID Connect discovery")
        out.write("  http://127.0.0.1:8000/o/device/      type a device's code (RFC 8628 device flow)")
