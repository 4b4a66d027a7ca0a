"""Password reset and e-mail verification (docs/security.md, "Joining and recovering").

Password reset is Django's views, with our limits.

Django's reset answers the same page whether or not an account has the address typed, sends mail
only to active accounts with a usable password, and its links are single-use (the token covers the
password hash and the last sign-in, so a used or superseded link stops working) and expire
(`PASSWORD_RESET_TIMEOUT`). Each request sends mail, so every POST counts, per address typed and
per client address (`accounts.ratelimit.limit_posts`).
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from accounts import ratelimit
from accounts.constants import AuditAction
from accounts.models import User, signed_in
from accounts.services import audit_record


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


# --- E-mail verification: a signed, expiring link to the account's address proves it.

VERIFY_SALT = "accounts.recovery.verify-email"
VERIFY_DAYS = 3


def verification_link(request: HttpRequest, user: User) -> str:
    signed = signing.dumps({"u": user.pk, "e": user.email}, salt=VERIFY_SALT, compress=True)
    return request.build_absolute_uri(reverse("email-verify", kwargs={"signed": signed}))


@login_required
@require_POST
def send_verification(request: HttpRequest) -> HttpResponse:
    """`/account/email/verify/`: e-mail a link to the account's address (every request counts)."""
    user = signed_in(request.user)
    if user.email and not user.email_verified:
        link = verification_link(request, user)
        send_mail(
            subject="Granular Photos: confirm your e-mail address",
            message=f"Confirm that {user.email} is the address of the account {user.get_username()}:\n{link}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
            fail_silently=True,
        )
    return redirect(f"{reverse('account-security')}?verification=sent")


send_verification_limited = ratelimit.limit_posts(ratelimit.signed_in_limits("email-verify-user"))(
    send_verification
)


def verify_email(request: HttpRequest, signed: str) -> HttpResponse:
    """`/account/email/verify/<signed>/`: the link proves the address while it is still the account's."""
    try:
        data = signing.loads(signed[:2000], salt=VERIFY_SALT, max_age=timedelta(days=VERIFY_DAYS))
    except signing.BadSignature:
        data = None
    verified = False
    user_id = data.get("u") if isinstance(data, dict) else None
    if isinstance(data, dict) and isinstance(user_id, int):
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is not None and user.email and user.email == data.get("e"):
            verified = verify_address(user)
    return render(
        request, "accounts/email_verified.html", {"verified": verified}, status=200 if verified else 400
    )


@transaction.atomic
def verify_address(user: User) -> bool:
    """Record that the account's current address is proven (a link to it was followed); audited."""
    User.objects.filter(pk=user.pk, email=user.email).update(verified_email=user.email)
    audit_record(actor=user, action=AuditAction.EMAIL_VERIFIED, target=user, after={"email": user.email})
    return True
