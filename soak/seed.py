"""Seed the soak's fresh database: two tenants, one user per role in each, one public client.

Run by `python -m soak` inside the soak's environment (its DATABASE_URL, REDIS_URL, ...); prints
the world as JSON on stdout. Uses the product's own services, as an administrator would.
"""

from __future__ import annotations

import json
import os

import django

TENANTS = {"acme": "Acme Soak", "globex": "Globex Soak"}
ROLES = {"owner": "Owner", "admin": "Admin", "member1": "Member", "member2": "Member", "guest": "Guest"}
PASSWORD = "soak-password-not-secret"
CLIENT_ID = "soak-client"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the soak reads the Location header


def seed() -> dict:
    from django.core.cache import cache
    from django.db import transaction

    from accounts.models import Role, Tenant, User
    from scopes.models import Application, ApplicationScope, Scope
    from scopes.roles.services import membership_set

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # only this run's key prefix: no stale registry from an earlier soak
    else:
        cache.clear()
    users = []
    with transaction.atomic():
        roles = {r.name: r for r in Role.objects.filter(tenant=None)}
        for slug, name in TENANTS.items():
            tenant = Tenant.objects.create(slug=slug, name=name)
            for suffix, role in ROLES.items():
                username = f"{slug}-{suffix}"
                user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
                membership_set(actor=None, user=user, tenant=tenant, role=roles[role])
                users.append({"username": username, "tenant": slug, "role": role})
        app = Application.objects.create(
            name="Soak client",
            publisher="the soak test",
            client_id=CLIENT_ID,
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=REDIRECT_URI,
            client_secret="",
            hash_client_secret=False,
        )
        for scope in Scope.objects.all():
            ApplicationScope.objects.create(application=app, scope=scope, reason="soak")
    return {"users": users, "password": PASSWORD, "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    print(json.dumps(seed()))
