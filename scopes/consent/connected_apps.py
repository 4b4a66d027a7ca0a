"""`/account/apps/`: what each app may do, in which organisation, with which albums, last used when;
and the user's own ways to take it back (a whole grant, some scopes, one album)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import tenancy
from accounts.models import signed_in
from accounts.selectors import active_memberships_of
from scopes.access.selectors import registry
from scopes.access.standing import consent_standings_of
from scopes.consent.album_services import consent_album_remove
from scopes.consent.albums import grant_albums
from scopes.consent.selectors import consents_of
from scopes.consent.services import consent_narrow, consent_revoke
from scopes.models import Consent
from scopes.registry import closure
from scopes.usage.selectors import grant_last_uses, last_use_of


@login_required
@never_cache
def connected_apps(request: HttpRequest) -> HttpResponse:
    """`/account/apps/`: what the user granted, per tenant, with revoke and remove-scope buttons.

    Each grant is shown as it stands now (`scopes.access.standing`): a scope the user's role or the app
    no longer allows is listed as not in effect, so the page never claims more than the API allows.
    """
    snapshot = registry()
    descriptions, implications = snapshot.descriptions, snapshot.implications
    user = signed_in(request.user)
    # Albums are tenant rows: see the user's tenants (read only) to name the albums of their grants.
    tenancy.enter(tenant_ids=[m.tenant_id for m in active_memberships_of(user)])
    standings = consent_standings_of(user.pk)  # every grant in one query, not one per row
    albums = grant_albums(standings.values())
    uses = grant_last_uses(user_id=user.pk)  # what each app really did, by day (scopes.usage)
    rows = []
    for consent in consents_of(user):
        names = [s.name for s in consent.scopes.all()]
        standing = standings.get((consent.tenant_id, consent.application_id))
        in_effect = closure(standing.effective, implications) if standing and standing.stands else frozenset()
        used = uses.get((consent.tenant_id, consent.application_id), {})
        rows.append(
            {
                "consent": consent,
                "scopes": [
                    (
                        name,
                        descriptions.get(name, name),
                        _in_effect(name, in_effect, implications),
                        last_use_of(name, used, implications),
                    )
                    for name in sorted(names)
                ],
                "stands": bool(standing and standing.stands),
                "problem": standing.detail if standing and not standing.stands else "",
                # Limited is the consent's explicit state: with no album left it still reaches none.
                "albums_limited": bool(standing and standing.rows.albums_limited),
                "albums": albums.get(consent.pk, []),
            }
        )
    return render(request, "scopes/connected_apps.html", {"rows": rows})


def _in_effect(name: str, in_effect: frozenset[str], implications: Any) -> str:
    """`all`, `part` (a composite some of whose parts still apply) or `none`."""
    if name in in_effect:
        return "all"
    return "part" if closure([name], implications) & in_effect else "none"


def _own_consent(request: HttpRequest, consent_id: int) -> Consent:
    # Someone else's consent is "not found", exactly like a missing one.
    return get_object_or_404(
        Consent.objects.select_related("tenant", "application"), pk=consent_id, user=request.user
    )


@login_required
@require_POST
def consent_revoke_view(request: HttpRequest, consent_id: int) -> HttpResponse:
    consent = _own_consent(request, consent_id)
    tenancy.enter_tenant(consent.tenant_id)  # its tokens are revoked in the consent's tenant
    consent_revoke(actor=signed_in(request.user), consent=consent)
    return redirect("account-apps")


@login_required
@require_POST
def consent_remove_scopes_view(request: HttpRequest, consent_id: int) -> HttpResponse:
    """Take back what the person unticked: a tick means "allowed", as on the consent page.

    The page sends each scope it showed (`shown`) and the ones still ticked (`keep`); what it
    showed and is no longer ticked is removed. Only what the page showed can be removed, so a
    scope granted since the page was loaded stays. `scope` (scopes to remove, the form's older
    meaning) is still read, for scripts written against it.
    """
    consent = _own_consent(request, consent_id)
    tenancy.enter_tenant(consent.tenant_id)
    kept = set(request.POST.getlist("keep"))
    unticked = [name for name in request.POST.getlist("shown") if name and name not in kept]
    remove = sorted({name for name in request.POST.getlist("scope") if name} | set(unticked))
    if remove:
        consent_narrow(actor=signed_in(request.user), consent=consent, remove=remove)
    return redirect("account-apps")


@login_required
@require_POST
def consent_remove_album_view(request: HttpRequest, consent_id: int) -> HttpResponse:
    """Take one album back from a grant: its live tokens lose it at their next request."""
    consent = _own_consent(request, consent_id)
    tenancy.enter_tenant(consent.tenant_id)
    raw = request.POST.get("album", "")
    album_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    if album_id is not None:
        consent_album_remove(actor=signed_in(request.user), consent=consent, album_id=album_id)
    return redirect("account-apps")
