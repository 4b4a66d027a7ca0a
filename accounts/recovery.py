"""Password reset (docs/security.md, "Recovering an account"): Django's views, with our limits.

Django's reset answers the same page whether or not an account has the address typed, sends mail
only to active accounts with a usable password, and its links are single-use (the token covers the
password hash and the last sign-in, so a used or superseded link stops working) and expire
(`PASSWORD_RESET_TIMEOUT`). Each request sends mail, so every POST counts, per address typed and
per client address (`accounts.ratelimit.limit_posts`).
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import views as auth_views
from django.http import HttpRequest
from django.urls import reverse_lazy

from accounts import ratelimit


def reset_limits(request: HttpRequest) -> list[ratelimit.Limit]:
    """The address typed (normalised, so one mailbox has one bucket) and the client's address."""
    typed = unicodedata.normalize("NFKC", request.POST.get("email", "").strip().casefold())[:254]
    return [("password-reset-email", typed), ("password-reset-ip", ratelimit.client_address(request))]


class ResetRequestView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")


class ResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")


class ResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


request_reset = ratelimit.limit_posts(reset_limits)(ResetRequestView.as_view())
