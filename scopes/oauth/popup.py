"""Cross-Origin-Opener-Policy for the pages of an OAuth popup flow (the site default is same-origin)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase


def opener_policy(
    value: str,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Set this view's Cross-Origin-Opener-Policy (the site default is `same-origin`).

    OAuth sign-in in a popup (Swagger UI's "Authorize", or any client doing a popup flow) needs the
    popup's pages to keep `window.opener`: the opener allows popups, and the pages shown inside the
    popup (sign-in, consent, the redirect page) opt out of isolation. Framing stays denied.
    """

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            response["Cross-Origin-Opener-Policy"] = value
            return response

        return wrapped

    return decorate


POPUP_PAGE = opener_policy("unsafe-none")
POPUP_OPENER = opener_policy("same-origin-allow-popups")
