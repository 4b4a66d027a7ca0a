"""The admin's what-if step: a change to rights is shown (who gains or loses what) before it is saved.

`PreviewBeforeSave` wraps a ModelAdmin's change page. On a POST, the people and tokens the object
can affect are judged before; Django's change view then validates and saves in its own atomic
block as usual (every service check and audit row included); `response_change`, still inside that
block, judges them again, and when anyone gains or loses anything the block is rolled back and the
preview shown, with the posted form kept in hidden fields and a confirm button. Posting it again
with `_preview_confirmed` saves for real. A change that moves nobody's rights (a description, a
reason) is saved at once. Judging uses `scopes.usage.preview`, i.e. the API's own standing and
decision code.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from scopes.usage.preview import Capture, Selection, capture, compare

CONFIRM = "_preview_confirmed"


class PreviewBeforeSave:
    """Mix into a ModelAdmin (before it) and say which tokens and members an object can affect."""

    def preview_selection(self, obj: Any) -> Selection:
        raise NotImplementedError

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and object_id is not None and CONFIRM not in request.POST:
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if obj is not None:
                selection = self.preview_selection(obj)
                request._rights_before = (selection, capture(selection))  # type: ignore[attr-defined]
        return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        pending: tuple[Selection, Capture] | None = getattr(request, "_rights_before", None)
        if pending is None:
            return super().response_change(request, obj)  # type: ignore[misc]
        selection, before = pending
        result = compare(before, capture(selection))
        if result.empty:
            return super().response_change(request, obj)  # type: ignore[misc]
        transaction.set_rollback(True)  # the change view's atomic block: nothing is saved
        posted = [
            (key, value)
            for key, values in request.POST.lists()
            if key != "csrfmiddlewaretoken"
            for value in values
        ]
        opts = obj._meta
        return TemplateResponse(
            request,
            "admin/scopes/preview_change.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "title": f"Preview: change {opts.verbose_name} {obj}",
                "opts": opts,
                "original": obj,
                "preview": result,
                "posted": posted,
                "confirm": CONFIRM,
            },
        )
