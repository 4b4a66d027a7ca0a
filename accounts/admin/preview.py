"""The admin's what-if step: a change that moves rights is shown (who gains or loses what) before it is saved.

`PreviewBeforeSave` wraps a ModelAdmin's change page. On a POST it asks the admin's `rights_judge`
(set by the admin classes of `scopes`, which knows what a right is: `scopes.usage.admin_preview`)
to capture the people and tokens the object can affect; Django's change view then validates and
saves in its own atomic block as usual (every service check and audit row included);
`response_change`, still inside that block, captures them again, and when anyone gains or loses
anything the block is rolled back and the preview shown, with the posted form in hidden fields and
a confirm button. Posting it with `_preview_confirmed` saves for real. A change that moves nobody's
rights (a description, a reason) is saved at once. With no judge installed the page is Django's.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.contrib.admin.utils import unquote
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

CONFIRM = "_preview_confirmed"


class RightsJudge(Protocol):
    """What a preview needs: a picture of rights now, and the difference between two (with `.empty`)."""

    @property
    def template(self) -> str:
        """The template that shows a comparison (included in the preview page)."""
        ...

    def capture(self, obj: Any) -> Any: ...

    def compare(self, before: Any, after: Any) -> Any: ...


class PreviewBeforeSave:
    """Mix into a ModelAdmin (before it): its change page previews a change of rights."""

    model: type[models.Model]
    rights_judge: RightsJudge | None = None

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        judge = self.rights_judge
        if (
            judge is not None
            and request.method == "POST"
            and object_id is not None
            and CONFIRM not in request.POST
        ):
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if obj is not None:
                request._rights_before = (judge, obj, judge.capture(obj))  # type: ignore[attr-defined]
        return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        pending = getattr(request, "_rights_before", None)
        if pending is None:
            return super().response_change(request, obj)  # type: ignore[misc]
        judge, before_obj, before = pending
        result = judge.compare(before, judge.capture(before_obj))
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
            "admin/preview_change.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "title": f"Preview: change {opts.verbose_name} {obj}",
                "opts": opts,
                "original": obj,
                "preview": result,
                "preview_template": judge.template,
                "posted": posted,
                "confirm": CONFIRM,
            },
        )
