"""`GET /api/t/<slug>/audit/`: the tenant's audit events for its administrators' tools.

Built on the tenant base view: the token, the tenant and the `audit.read` scope and role grant are
decided by `TenantScopePermission` like every other endpoint (403 `scope_missing` /
`role_forbids`, the tenant's 404). The grant's reach decides which events: `tenant` all of the
tenant's, `own` the caller's own actions. Pages are newest first by id (a keyset: `before` id);
the cursor is opaque to clients and checked like any input.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit_stream.events import event_json
from accounts.models import AuditEvent, signed_in
from accounts.untrusted import UntrustedInput, loads_bounded
from api.viewsets import TenantScopedAPIView
from scopes.constants import Reach, ScopeName

DEFAULT_PAGE = 100
MAX_PAGE = 500
CURSOR_MAX_LENGTH = 64  # ours are {"before": <id>}, base64url: under 40 characters


class NDJSONRenderer(BaseRenderer):
    """One event per line (`?format=ndjson` or `Accept: application/x-ndjson`); errors stay JSON."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, dict) and "results" in data:
            return b"".join(json.dumps(item, sort_keys=True).encode() + b"\n" for item in data["results"])
        return json.dumps(data).encode() + b"\n"


def encode_cursor(before: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    """The id a page starts below; a cursor that is not one of ours is a 400, never a 500."""
    try:
        if len(raw) > CURSOR_MAX_LENGTH:
            raise UntrustedInput("too long")
        # Bounded (accounts.untrusted): a cursor of ours is one flat object of a few dozen bytes.
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        value = loads_bounded(decoded, max_size=CURSOR_MAX_LENGTH, max_depth=1)
        before = value["before"]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": ["Not a cursor from this API."]}, code="invalid_cursor") from None
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before < 2**63:
        raise ValidationError({"cursor": ["Not a cursor from this API."]}, code="invalid_cursor")
    return before


def _moment(name: str, raw: str, *, end: bool) -> datetime:
    """An ISO 8601 time (a date alone means its start, or for `until` its end), as UTC if naive."""
    moment = None
    try:
        moment = parse_datetime(raw)
        if moment is None and (day := parse_date(raw)) is not None:
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError({name: ["Must be an ISO 8601 date or time."]}, code="invalid_filter")
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


def _event_serializer(**kwargs: Any) -> serializers.Serializer:
    return inline_serializer(
        "AuditEvent",
        {
            "id": serializers.IntegerField(),
            "created_at": serializers.DateTimeField(),
            "action": serializers.CharField(),
            "tenant": serializers.CharField(),
            "actor": serializers.CharField(allow_null=True),
            "target": serializers.DictField(),
            "before": serializers.JSONField(allow_null=True),
            "after": serializers.JSONField(allow_null=True),
        },
        **kwargs,
    )


class AuditEventsView(TenantScopedAPIView):
    """The tenant's audit log, newest first."""

    action_scopes = {"get": ScopeName.AUDIT_READ}
    renderer_classes = [JSONRenderer, NDJSONRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        """Refusals and bad input are JSON whatever format was asked for (the API's error bodies)."""
        response = super().handle_exception(exc)
        # finalize_response copies the request's negotiated renderer onto the response.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    def events(self, request: Request) -> QuerySet[AuditEvent]:
        """The tenant's events within the reach of the caller's `audit.read` grant, filtered."""
        assert self.decision is not None  # has_permission decided before the handler runs
        events = AuditEvent.objects.filter(tenant=self.authorized_tenant())
        if self.decision.visible_reach == Reach.OWN:
            events = events.filter(actor=signed_in(request.user))
        elif self.decision.visible_reach != Reach.TENANT:
            return events.none()
        params = request.query_params
        actions = [a for raw in params.getlist("action") for a in raw.split(",") if a]
        if actions:
            events = events.filter(action__in=actions)
        if raw := params.get("since"):
            events = events.filter(created_at__gte=_moment("since", raw, end=False))
        if raw := params.get("until"):
            events = events.filter(created_at__lte=_moment("until", raw, end=True))
        if raw := params.get("cursor"):
            events = events.filter(pk__lt=decode_cursor(raw))
        return events.order_by("-pk")

    def page_size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if raw is None:
            return DEFAULT_PAGE
        # ASCII and short before int(): "²" is a digit int() refuses, 5,000 digits past its limit.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_PAGE:
            raise ValidationError({"page_size": [f"Must be 1 to {MAX_PAGE}."]}, code="invalid_filter")
        return int(raw)

    @extend_schema(
        summary="The tenant's audit events, newest first",
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, many=True, description="Only these actions."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="At or after (ISO 8601)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="At or before (ISO 8601)."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From a previous page's `next`."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1 to {MAX_PAGE}."),
        ],
        responses={
            200: inline_serializer(
                "AuditEventPage",
                {"next": serializers.URLField(allow_null=True), "results": _event_serializer(many=True)},
            )
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        size = self.page_size(request)
        found = list(self.events(request)[: size + 1])
        page, more = found[:size], len(found) > size
        next_url = None
        if more:
            query = request.query_params.copy()
            query["cursor"] = encode_cursor(page[-1].pk)
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")
        response = Response({"next": next_url, "results": [event_json(event) for event in page]})
        if next_url:
            response["Link"] = f'<{next_url}>; rel="next"'
        return response
