"""DOT's swapped models live in `scopes` and carry the tenant they were issued for."""

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from oauth2_provider.models import get_access_token_model, get_application_model, get_grant_model

from scopes.models import AccessToken, Application, Grant, Scope
from scopes.services import scope_set_implications
from tests.factories import AccessTokenFactory, ScopeFactory


def test_dot_uses_the_swapped_models():
    assert get_access_token_model() is AccessToken
    assert get_application_model() is Application
    assert get_grant_model() is Grant
    assert settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"] == []


def test_access_token_carries_its_tenant(world):
    token = AccessTokenFactory(user=world.member_a, tenant=world.acme, application=world.app)
    assert AccessToken.objects.get(pk=token.pk).tenant == world.acme


def test_access_token_without_tenant_is_refused(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessToken.objects.create(
            user=world.member_a, application=world.app, token="x", expires="2030-01-01T00:00Z", scope=""
        )


@pytest.mark.django_db
def test_implication_cycle_is_refused_and_nothing_changes():
    a, b, c = ScopeFactory(name="x.a"), ScopeFactory(name="x.b"), ScopeFactory(name="x.c")
    scope_set_implications(actor=None, scope=a, implies=[b])
    scope_set_implications(actor=None, scope=b, implies=[c])
    with pytest.raises(ValidationError) as excinfo:
        scope_set_implications(actor=None, scope=c, implies=[a])
    assert "x.a → x.b → x.c → x.a" in str(excinfo.value)
    assert not c.implies.exists()


@pytest.mark.django_db
def test_scope_names_must_be_safe_tokens():
    for bad in ['photos "read"', "Photos.read", "1photos", "photos read", "a\r\nb"]:
        with pytest.raises(ValidationError):
            Scope(name=bad, description="x").full_clean()
    Scope(name="photos.read-all_v2:x", description="x").full_clean()
