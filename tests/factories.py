"""factory-boy factories for everything the shared world does not already build."""

from __future__ import annotations

import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Membership, Role, Tenant, User
from scopes.models import AccessToken, Application, ApplicationScope, Consent, RoleGrant, Scope


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    name = factory.Sequence(lambda n: f"Role {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = factory.LazyFunction(lambda: Role.objects.get(name="Member", tenant=None))


class ScopeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scope

    name = factory.Sequence(lambda n: f"test.scope{n}")
    description = factory.LazyAttribute(lambda o: f"Do {o.name}")


class RoleGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleGrant

    role = factory.SubFactory(RoleFactory)
    scope = factory.SubFactory(ScopeFactory)
    reach = "own"


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"App {n}")
    client_id = factory.Sequence(lambda n: f"client-{n}")
    client_type = Application.CLIENT_PUBLIC
    authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    redirect_uris = "http://127.0.0.1:8765/callback"
    client_secret = ""
    hash_client_secret = False


class ApplicationScopeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApplicationScope

    application = factory.SubFactory(ApplicationFactory)
    scope = factory.SubFactory(ScopeFactory)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    application = factory.SubFactory(ApplicationFactory)


class AccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessToken

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    application = factory.SubFactory(ApplicationFactory)
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    expires = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    scope = "profile.read"


class AlbumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "photos.Album"

    tenant = factory.SubFactory(TenantFactory)
    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Album {n}")


class PhotoFactory(factory.django.DjangoModelFactory):
    """A photo row whose file is a tiny PNG written to the configured storage."""

    class Meta:
        model = "photos.Photo"

    tenant = factory.SubFactory(TenantFactory)
    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Photo {n}")
    image = factory.django.FileField(filename="p.png", data=b"\x89PNG\r\n\x1a\n-not-decoded-in-tests")
    content_type = "image/png"
    byte_size = 24
    width = 4
    height = 3
