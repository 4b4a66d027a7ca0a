"""Serializer fields for ids in a request body: parsed here, judged by `scopes.api.permissions.resolve_reference`."""

from __future__ import annotations

from typing import Any, cast

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.querysets import TenantQuerySet
from scopes.api.permissions import resolve_reference

MAX_ID = 2**63 - 1  # the largest key a 64-bit column holds


def parse_id(data: Any) -> int | None:
    """An object id, given as an int or as ASCII digits, from 0 to MAX_ID; None for anything else.

    The ORM would quietly read 1.5 and `True` as 1, and a number past 64 bits fails in the driver,
    so those are refused here as bad input rather than looked up.
    """
    if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= 19:
        data = int(data)
    if isinstance(data, bool) or not isinstance(data, int):
        return None
    return data if 0 <= data <= MAX_ID else None


@extend_schema_field(OpenApiTypes.INT)
class ReferenceField(serializers.RelatedField):
    """The id of an object the caller could read: the same decision as `GET <collection>/<id>/`.

    A token without the read scope, or a role without a grant for it, is refused with that 403
    whatever the id; an id that is missing, in another tenant or outside the reach of the caller's
    read grant is one and the same 400 (`does_not_exist`, "No such album."), so a reference is
    never an existence oracle. `null` references nothing and is not checked.
    """

    default_error_messages = {
        "does_not_exist": "No such {name}.",
        "incorrect_type": "Must be an id (a whole number), not {data_type}.",
    }

    def __init__(
        self, *, read_scope: str, owner_field: str = "owner", album_field: str | None = None, **kwargs: Any
    ) -> None:
        self.read_scope = read_scope
        self.owner_field = owner_field
        self.album_field = album_field
        super().__init__(**kwargs)

    def _references(self) -> TenantQuerySet:
        """What an id may name: the field's queryset (required; a reference names a tenant-owned model)."""
        return cast(TenantQuerySet, self.get_queryset())

    def _name(self) -> str:
        return str(self._references().model._meta.verbose_name)

    def to_internal_value(self, data: Any) -> models.Model:
        pk = parse_id(data)
        if pk is None:
            self.fail("incorrect_type", data_type=type(data).__name__)
        view = self.context["view"]
        obj = resolve_reference(
            self.context["request"],
            self._references(),
            pk,
            tenant_slug=view.kwargs.get("tenant_slug", ""),
            read_scope=self.read_scope,
            owner_field=self.owner_field,
            album_field=self.album_field,
        )
        if obj is None:
            self.fail("does_not_exist", name=self._name())
        return obj

    def to_representation(self, value: Any) -> Any:
        return value.pk

    def get_choices(self, cutoff: int | None = None) -> dict[Any, str]:
        """Never enumerate the queryset (browsable API, OPTIONS): it would list what is not visible."""
        return {}
