"""The demo world `manage.py seed_demo` makes on a new database, and the pictures in it.

Two organisations with a person per role, a person in both, albums and photos owned by different
members (so `not_owner`, album limits and the album picker have something to show), the demo OAuth
clients, and tenant administrators who can use the admin. It lives here, in the top layer,
because it spans every layer: people (accounts), rights and apps (scopes), photos.

It is made once. A database that already has a demo person is left exactly as it is: whatever an
administrator changed since (a role, a membership, a deleted photo) stays changed, so `make run`
can be run again and again (README, "Try it from a shell").
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.db import transaction
from PIL import Image, ImageDraw

from accounts import tenancy
from accounts.constants import RoleName
from accounts.models import Role, Tenant, User
from accounts.services import audit_source
from photos.models import Album
from photos.services import album_create, photo_create
from scopes.oauth.demo import seed_demo_clients
from scopes.roles.services import membership_set

DEMO_PASSWORD = "demo-password"
ADMIN_USERNAME = "admin"
TENANTS = {"acme": "Acme Corporation", "globex": "Globex Inc."}
ROLE_USERS = [RoleName.OWNER, RoleName.ADMIN, RoleName.MEMBER, RoleName.GUEST]
# One person in both tenants with different roles: the tenant picker and per-tenant roles.
BOTH_TENANTS_USER = ("sam", {"acme": RoleName.ADMIN, "globex": RoleName.GUEST})

# What a tenant administrator needs in the admin (Django's model permissions; the services still
# decide every write, within their own tenants and never beyond their own role). Seeded for the
# demo's `<tenant>-admin`; give the same to a real tenant administrator on their user page.
TENANT_ADMINISTRATOR_PERMISSIONS = [
    *(f"{verb}_{model}" for verb in ("view", "add", "change", "delete") for model in ("membership", "role")),
    *(f"{verb}_{model}" for verb in ("view", "add", "change", "delete") for model in ("serviceaccount",)),
    *(
        f"{verb}_{model}"
        for verb in ("view", "add", "change")
        for model in ("tokenpolicy", "tenantapppolicy")
    ),
    *(f"{verb}_{model}" for verb in ("view", "add", "change") for model in ("tenantapp",)),
    "view_rolegrant",
    "add_rolegrant",
    "change_rolegrant",
    "delete_rolegrant",
    "view_accessrequest",
    "change_accessrequest",
    "view_tenant",
    "change_tenant",
    "view_user",
    "view_scope",
    "view_application",
    "view_consent",
    "change_consent",
    "view_accesstoken",
    "view_refreshtoken",
    "view_personalaccesstoken",
    "view_auditevent",
]


@dataclass(frozen=True)
class DemoPhoto:
    """A photo of the demo: who took it, in which album (by name, None: none), and what it shows."""

    tenant: str
    owner: str
    title: str
    scene: str
    album: str | None = None


# (tenant, owner, album name): the albums, in the order they are made (so their ids are 1, 2, 3).
ALBUMS = [
    ("acme", "acme-owner", "Harbour walk"),
    ("acme", "acme-member", "Team picnic"),
    ("globex", "globex-owner", "Launch day"),
]
# In the order they are made, so on a new database their ids are 1, 2, 3... (the README uses them).
PHOTOS = [
    DemoPhoto("acme", "acme-owner", "Harbour", "harbour", album="Harbour walk"),
    DemoPhoto("acme", "acme-owner", "Lighthouse", "lighthouse", album="Harbour walk"),
    DemoPhoto("acme", "acme-member", "Picnic", "meadow", album="Team picnic"),
    DemoPhoto("acme", "acme-admin", "Office plant", "plant"),
    DemoPhoto("globex", "globex-owner", "Rocket", "rocket", album="Launch day"),
    DemoPhoto("globex", "globex-member", "Desk", "desk"),
]


@dataclass(frozen=True)
class Login:
    """A demo sign-in and what it is for, as `seed_demo` prints it."""

    username: str
    what: str


def logins() -> list[Login]:
    """Every demo sign-in (the password of each is DEMO_PASSWORD)."""
    found = [Login(ADMIN_USERNAME, "superuser: the whole admin")]
    for slug in TENANTS:
        for role in ROLE_USERS:
            what = f"{role} in {slug}"
            if role == RoleName.ADMIN:
                what += ", and its tenant administrator in the admin"
            found.append(Login(f"{slug}-{role.lower()}", what))
    username, placement = BOTH_TENANTS_USER
    found.append(Login(username, ", ".join(f"{r} in {s}" for s, r in placement.items())))
    return found


def demo_seeded() -> bool:
    """Whether this database already has the demo (any of its people): then `seed_demo` changes nothing."""
    return User.objects.filter(username__in=[login.username for login in logins()]).exists()


def _user(username: str, *, email: str, password: str, first_name: str = "", **flags: bool) -> User:
    # `password` is already hashed: one hash for every demo user (each would cost the hasher's
    # full work, seconds in all, for the same demo password).
    user = User(username=username, email=email, first_name=first_name, password=password, **flags)
    user.save()
    return user


def _tenant_administrator(user: User) -> None:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(Permission.objects.filter(codename__in=TENANT_ADMINISTRATOR_PERMISSIONS))


@contextmanager
def _in_tenant(tenant: Tenant) -> Iterator[None]:
    # Memberships, albums and photos are tenant rows: on PostgreSQL they are written in the tenant.
    with tenancy.tenant_scope(tenant.pk):
        yield


@transaction.atomic
def seed_world() -> bool:
    """Make the demo world on a database that has none; True if it was made, False if left alone."""
    if demo_seeded():
        return False
    with audit_source("manage.py seed_demo"):
        _seed()
    return True


def _seed() -> None:
    password = make_password(DEMO_PASSWORD)
    _user(ADMIN_USERNAME, email="admin@example.com", password=password, is_staff=True, is_superuser=True)
    roles = {r.name: r for r in Role.objects.filter(tenant=None, name__in=[str(n) for n in RoleName])}
    users: dict[str, User] = {}
    tenants: dict[str, Tenant] = {}
    for slug, name in TENANTS.items():
        tenants[slug], _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
        with _in_tenant(tenants[slug]):
            for role_name in ROLE_USERS:
                username = f"{slug}-{role_name.lower()}"
                user = _user(
                    username,
                    email=f"{username}@example.com",
                    password=password,
                    first_name=f"{name} {role_name}",
                )
                membership_set(actor=None, user=user, tenant=tenants[slug], role=roles[role_name])
                if role_name == RoleName.ADMIN:
                    _tenant_administrator(user)
                users[username] = user
    username, placement = BOTH_TENANTS_USER
    sam = _user(username, email=f"{username}@example.com", password=password, first_name="Sam")
    for slug, role_name in placement.items():
        with _in_tenant(tenants[slug]):
            membership_set(actor=None, user=sam, tenant=tenants[slug], role=roles[role_name])
    seed_demo_clients()
    albums: dict[str, Album] = {}
    for slug, owner, album_name in ALBUMS:
        albums[album_name] = album_create(actor=users[owner], tenant=tenants[slug], name=album_name)
    for photo in PHOTOS:
        image = picture(photo.scene)
        photo_create(
            actor=users[photo.owner],
            tenant=tenants[photo.tenant],
            image=io.BytesIO(image),
            filename=f"{photo.scene}.jpg",
            size=len(image),
            title=photo.title,
            album=albums[photo.album] if photo.album else None,
        )


# --- The pictures: drawn, not downloaded, so the demo needs no network and no binary files.

Colour = tuple[int, int, int]


def _sea(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    draw.ellipse([w * 0.7 - 40, horizon * 0.55 - 40, w * 0.7 + 40, horizon * 0.55 + 40], fill=accent)
    for i in range(6):  # waves, or furrows in a field
        y = horizon + 12 + i * 20
        draw.arc([i * 37 % 90 - 60, y - 8, w + 60, y + 8], 0, 180, fill=accent, width=2)


def _harbour(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    _sea(draw, w, h, horizon, accent)
    for i in range(3):  # boats
        x = 80 + i * 150
        hull = [(x, horizon + 30), (x + 90, horizon + 30), (x + 70, horizon + 55), (x + 20, horizon + 55)]
        draw.polygon(hull, fill=(120, 50, 30))
        draw.line([(x + 45, horizon + 30), (x + 45, horizon - 40)], fill=(60, 40, 30), width=3)


def _lighthouse(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    base = w * 0.35
    tower = [
        (base - 30, horizon),
        (base + 30, horizon),
        (base + 18, horizon - 200),
        (base - 18, horizon - 200),
    ]
    draw.polygon(tower, fill=(240, 240, 240))
    for band in range(3):
        y = horizon - 40 - band * 60
        draw.rectangle([base - 28 + band * 4, y - 15, base + 28 - band * 4, y], fill=accent)
    for angle in (-0.3, 0.3):  # the beam
        end = (base + math.cos(angle) * 400, horizon - 205 + math.sin(angle) * 400)
        draw.line([(base, horizon - 205), end], fill=(255, 250, 200), width=4)


def _plant(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    draw.rectangle([w * 0.4, horizon - 10, w * 0.6, h - 30], fill=(180, 90, 60))
    for i in range(9):  # leaves in an arc over the pot
        angle = math.pi * (0.15 + 0.7 * i / 8)
        x, y = w * 0.5 - math.cos(angle) * 150, horizon - 20 - math.sin(angle) * 170
        draw.ellipse([x - 30, y - 12, x + 30, y + 12], fill=accent)


def _rocket(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    for i in range(40):  # stars
        sx, sy = (i * 97) % w, (i * 53) % horizon
        draw.point([(sx, sy), (sx + 1, sy)], fill=(255, 255, 255))
    x = w * 0.5
    body = [
        (x - 25, horizon - 20),
        (x + 25, horizon - 20),
        (x + 25, horizon - 180),
        (x, horizon - 240),
        (x - 25, horizon - 180),
    ]
    draw.polygon(body, fill=(220, 220, 230))
    draw.polygon([(x - 20, horizon - 20), (x + 20, horizon - 20), (x, horizon + 40)], fill=accent)


def _desk(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    draw.rectangle([w * 0.15, horizon - 10, w * 0.85, horizon + 10], fill=(90, 60, 40))
    draw.rectangle([w * 0.35, horizon - 150, w * 0.65, horizon - 40], fill=accent)
    draw.rectangle([w * 0.37, horizon - 145, w * 0.63, horizon - 45], fill=(70, 130, 200))


def _scan(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, accent: Colour) -> None:
    for i in range(12):  # lines of text on a page
        draw.rectangle([60, 50 + i * 28, w - 60 - (i * 53) % 180, 60 + i * 28], fill=accent)


# Each scene: its colours (sky top, sky bottom, ground, accent) and what stands in it.
SCENES: dict[str, tuple[tuple[Colour, Colour, Colour, Colour], Callable[..., None]]] = {
    "harbour": (((24, 70, 140), (250, 190, 120), (20, 60, 90), (240, 240, 235)), _harbour),
    "lighthouse": (((40, 40, 90), (200, 120, 160), (30, 80, 60), (230, 50, 40)), _lighthouse),
    "meadow": (((90, 160, 230), (200, 230, 250), (70, 150, 60), (250, 210, 40)), _sea),
    "plant": (((230, 225, 215), (245, 240, 230), (150, 110, 80), (40, 130, 60)), _plant),
    "rocket": (((5, 10, 40), (60, 40, 110), (70, 70, 80), (250, 120, 30)), _rocket),
    "desk": (((200, 210, 220), (235, 235, 240), (120, 90, 60), (40, 40, 50)), _desk),
    "sunset": (((60, 30, 90), (255, 150, 60), (30, 40, 70), (255, 230, 120)), _sea),
    "scan": (((245, 245, 240), (245, 245, 240), (245, 245, 240), (30, 30, 30)), _scan),
}


def picture(scene: str, width: int = 640, height: int = 427) -> bytes:
    """A JPEG of `scene` (a key of SCENES): a sky, a horizon and a subject; the same bytes every time."""
    (top, bottom, ground, accent), subject = SCENES[scene]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    for y in range(horizon):
        t = y / max(horizon - 1, 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    draw.rectangle([0, horizon, width, height], fill=ground)
    subject(draw, width, height, horizon, accent)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()
