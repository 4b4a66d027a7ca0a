"""`/account/tokens/`: a signed-in person's personal access tokens, next to Connected apps."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import ratelimit, tenancy
from accounts.models import signed_in
from accounts.selectors import active_memberships_of
from scopes.access.selectors import registry
from scopes.machines.models import PersonalAccessToken, PersonalTokenMode
from scopes.machines.selectors import personal_tokens_of, policy_of, scopes_offered
from scopes.machines.services import personal_token_app_ensure, personal_token_create, personal_token_revoke
from scopes.tenant_policy.asking import ask_url
from scopes.tenant_policy.models import RequestKind


@login_required
@never_cache
def personal_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; offer a new one for the chosen organisation; create it (shown once)."""
    user = signed_in(request.user)
    memberships = list(active_memberships_of(user))
    chosen = request.POST.get("tenant") or request.GET.get("tenant", "")
    membership = next(
        (m for m in memberships if m.tenant.slug == chosen), memberships[0] if memberships else None
    )
    created_value, errors = "", []
    if membership is not None:
        # The person's own tenant: its token policy (and, on POST, the writes) are read there.
        tenancy.enter_tenant(membership.tenant_id)
    limits = [("personal-token-user", str(user.pk))]
    wait = ratelimit.retry_after(limits) if request.method == "POST" else None
    if wait is not None:
        errors.append(ratelimit.too_many_text(wait))  # every attempt counts: each may write a token
    elif request.method == "POST":
        ratelimit.record_attempt(limits)
        if membership is None or membership.tenant.slug != chosen:
            errors.append("Choose one of your organisations.")
        else:
            try:
                days = int(request.POST.get("days", ""))
            except ValueError:
                errors.append("Choose how many days the token lives.")
            else:
                try:
                    _personal, created_value = personal_token_create(
                        actor=user,
                        tenant=membership.tenant,
                        name=request.POST.get("name", ""),
                        scopes=request.POST.getlist("scope"),
                        days=days,
                    )
                except ValidationError as error:
                    errors.extend(error.messages)
    policy = policy_of(membership.tenant) if membership else None
    descriptions = registry().descriptions
    # An unavailable scope links to asking the administrators for it, as on the consent page.
    offered = (
        [
            (
                name,
                descriptions.get(name, name),
                why,
                ask_url(tenant=membership.tenant, kind=RequestKind.SCOPE, scope=name) if why else "",
            )
            for name, why in scopes_offered(membership, personal_token_app_ensure())
        ]
        if membership
        else []
    )
    context = {
        "memberships": memberships,
        "membership": membership,
        "policy": policy,
        "forbidden": policy is not None and policy.personal_tokens == PersonalTokenMode.FORBIDDEN,
        "offered": offered,
        "tokens": personal_tokens_of(user),
        "created_value": created_value,
        "errors": errors,
    }
    page = render(request, "scopes/personal_tokens.html", context, status=400 if errors else 200)
    return ratelimit.refused(page, wait) if wait is not None else page


@login_required
@require_POST
def personal_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    # Someone else's token is "not found", exactly like a missing one.
    personal = get_object_or_404(PersonalAccessToken, pk=token_id, user=request.user)
    tenancy.enter_tenant(personal.tenant_id)
    personal_token_revoke(actor=signed_in(request.user), personal=personal)
    return redirect("account-tokens")
