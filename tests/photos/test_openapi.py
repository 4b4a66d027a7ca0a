"""OpenAPI: an OAuth2 scheme with the registry's scopes, each operation's scope, Swagger UI without a CDN."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scopes.constants import ScopeName as S


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_oauth2_scheme_uses_authorization_code_with_registry_scopes(schema):
    scheme = schema["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/o/authorize/"
    assert flow["tokenUrl"] == "/o/token/"
    assert set(flow["scopes"]) == {str(s) for s in S}
    assert flow["scopes"]["photos.delete"] == "Delete photos."


@pytest.mark.parametrize(
    ("path", "method", "scope"),
    [
        ("/api/t/{tenant_slug}/photos/", "get", S.PHOTOS_READ),
        ("/api/t/{tenant_slug}/photos/", "post", S.PHOTOS_UPLOAD),
        ("/api/t/{tenant_slug}/photos/{id}/", "patch", S.PHOTOS_UPDATE),
        ("/api/t/{tenant_slug}/photos/{id}/", "delete", S.PHOTOS_DELETE),
        ("/api/t/{tenant_slug}/photos/{id}/image", "get", S.PHOTOS_READ),
        ("/api/t/{tenant_slug}/albums/", "post", S.ALBUMS_WRITE),
        ("/api/t/{tenant_slug}/me/", "get", S.PROFILE_READ),
    ],
)
def test_each_operation_names_its_scope(schema, path, method, scope):
    assert schema["paths"][path][method]["security"] == [{"oauth2": [str(scope)]}]


def test_photo_upload_is_multipart_with_a_binary_file(schema):
    body = schema["paths"]["/api/t/{tenant_slug}/photos/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body


def test_swagger_ui_is_served_locally_with_pkce_for_the_demo_client(db):
    html = APIClient().get("/api/docs/").content.decode()
    assert "cdn." not in html and "unpkg" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script = APIClient().get("/api/docs/?script=").content.decode()
    assert '"clientId": "demo-photos-client"' in script
    assert '"usePkceWithAuthorizationCodeGrant": true' in script


def test_the_oauth2_redirect_page_keeps_the_popup_opener(db):
    response = APIClient().get("/api/docs/oauth2-redirect.html?code=abc&state=xyz")
    assert response.status_code == 200
    assert b"swagger-ui-dist/oauth2-redirect.js" in response.content
    # Served by Django (not as a static file) so its opener policy lets the popup reach Swagger UI.
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert response["X-Frame-Options"] == "DENY"
    docs = APIClient().get("/api/docs/")
    assert docs["Cross-Origin-Opener-Policy"] == "same-origin-allow-popups"


def test_schema_validates_and_list_filters_are_documented(db):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    params = {p["name"] for p in generated["paths"]["/api/t/{tenant_slug}/photos/"]["get"]["parameters"]}
    assert {"album", "owner", "cursor"} <= params


def test_album_references_document_their_albums_read_check(db):
    """A client reads in the schema that naming an album needs albums.read, and how refusals look."""
    from drf_spectacular.generators import SchemaGenerator

    generated = SchemaGenerator().get_schema(request=None, public=True)
    schemas = generated["components"]["schemas"]
    for name in ("PhotoUploadRequest", "PatchedPhotoUpdateRequest"):
        album = schemas[name]["properties"]["album"]
        assert album["type"] == "integer" and album["nullable"] is True
        assert "albums.read" in album["description"] and "does_not_exist" in album["description"]
    listing = generated["paths"]["/api/t/{tenant_slug}/photos/"]["get"]
    (param,) = [p for p in listing["parameters"] if p["name"] == "album"]
    assert "albums.read" in param["description"] and "empty page" in param["description"]
    assert {"400", "403"} <= set(listing["responses"])
