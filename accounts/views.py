"""Sign-in pages, rate limited per account and per address (accounts.ratelimit).

A refused or failed sign-in looks the same whether or not the account exists: the same message,
the same counters (keyed by what was typed, never by what exists), and the same work, since
Django's ModelBackend runs the password hasher for unknown usernames too.
"""

from __future__ import annotations

import unicodedata
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import ngettext

from accounts import factors, ratelimit
from accounts.factor_views import hold_for_second_factor


def account_key(form_class: type[forms.Form], typed: str) -> str:
    """The account a sign-in attempt names, as the per-account limit counts it.

    The name goes through the very field the sign-in form authenticates with (Django's
    `UsernameField`: stripped, then NFKC, as `User.normalize_username` stores names), so every
    spelling that can sign in as an account (`member3` typed in fullwidth letters) lands in that account's
    bucket. It is then case-folded (and NFKC again, as folding can undo it): sign-in itself is
    case-sensitive, so folding only makes buckets coarser (`Member3` shares `member3`'s); it never
    gives one account two.
    """
    # A CharField: text, never None (an empty value is "").
    looked_up = cast(str, form_class.base_fields["username"].to_python(typed))
    return unicodedata.normalize("NFKC", looked_up.casefold())


def sign_in_limits(request: HttpRequest, form_class: type[forms.Form]) -> list[ratelimit.Limit]:
    """The account named (see `account_key`) and the client's address."""
    account = account_key(form_class, request.POST.get("username", ""))
    return [("login-account", account), ("login-ip", ratelimit.client_address(request))]


def too_many_message(wait: int) -> str:
    minutes = max(1, round(wait / 60))
    return ngettext(
        "Too many failed sign-ins. Try again in %(n)d minute.",
        "Too many failed sign-ins. Try again in %(n)d minutes.",
        minutes,
    ) % {"n": minutes}


def _refusal_form(form_class: type, request: HttpRequest, message: str) -> Any:
    """An empty sign-in form carrying only the refusal: nothing typed is looked at."""
    form = form_class(request)
    form.cleaned_data = {}  # unbound, so never cleaned; add_error expects the attribute
    form.add_error(None, message)
    return form


def _refused(response: HttpResponse, wait: int) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


class SignInView(LoginView):
    """`/account/login/`: counts failed sign-ins; 429 with Retry-After once a limit is reached."""

    redirect_authenticated_user = True

    def get_initial(self) -> dict[str, Any]:
        # OpenID Connect's login_hint, passed on by the consent view: the username, filled in.
        hint = self.request.GET.get("login_hint", "")
        return {"username": hint} if 0 < len(hint) <= 150 and hint.isprintable() else {}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.limits = sign_in_limits(request, self.get_form_class())
        wait = ratelimit.retry_after(self.limits)
        if wait is not None:
            # The page again, unchecked: no password is looked at while the limit holds.
            form = _refusal_form(self.get_form_class(), request, too_many_message(wait))
            context = self.get_context_data(form=form, rate_limited=too_many_message(wait))
            return _refused(self.render_to_response(context), wait)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        ratelimit.record_failure(self.limits)
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        """The password was right: sign in, or, for a person with a second factor, ask for it first."""
        user = form.get_user()
        if factors.has_second_factor(user):
            return hold_for_second_factor(
                self.request, user, backend=user.backend, next_url=self.get_redirect_url()
            )
        return super().form_valid(form)


def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """`/admin/login/`: Django's admin sign-in page, under the same limits as `/account/login/`."""
    if request.method != "POST":
        return admin.site.login(request)
    limits = sign_in_limits(request, admin.site.login_form or AdminAuthenticationForm)
    wait = ratelimit.retry_after(limits)
    if wait is not None:
        form = _refusal_form(AdminAuthenticationForm, request, too_many_message(wait))
        context = {
            **admin.site.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "form": form,
            "app_path": request.get_full_path(),
            REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME) or reverse("admin:index"),
        }
        return _refused(TemplateResponse(request, "admin/login.html", context), wait)
    form = AdminAuthenticationForm(request, data=request.POST)
    if form.is_valid() and factors.has_second_factor(form.get_user()):
        # A person with a second factor gives it here too (the sign-in's second step, then the admin).
        user = form.get_user()
        backend = cast(Any, user).backend  # set by authenticate()
        return hold_for_second_factor(request, user, backend=backend, next_url=reverse("admin:index"))
    response = admin.site.login(request)
    if response.status_code == 200:  # the form came back: the sign-in failed
        ratelimit.record_failure(limits)
    return response
