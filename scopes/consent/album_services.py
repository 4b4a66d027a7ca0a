"""Writes to a consent's album limit (scopes.access.albums); live tokens see them at their next request.

A limited token reaches its own albums ∩ its consent's albums (scopes.access.standing), so removing an
album here takes it from every live token of the grant at once, with no token rewritten; the
consent's row version moves (a trigger on `scopes_consentalbum`), so no cached context survives it.

Whether the consent is limited at all is explicit (`Consent.albums_limited`): granting albums sets
it; removing albums (here, or by deleting them) never clears it, so a limit with no album left
reaches nothing; only `consent_albums_widen`, the user approving an unlimited request on the
consent page, clears it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from accounts.constants import AuditAction
from accounts.models import User
from accounts.services import audit_record
from scopes.access.albums import ALBUM_TYPE
from scopes.models import Consent, ConsentAlbum


def _album_ids(consent: Consent) -> list[int]:
    return sorted(
        ConsentAlbum.objects.for_tenant(consent.tenant)
        .filter(consent=consent, kind=ALBUM_TYPE)
        .values_list("object_id", flat=True)
    )


@transaction.atomic
def consent_albums_grant(
    *, actor: User, consent: Consent, albums: Iterable[int], withdraw: Iterable[int] = ()
) -> Consent:
    """Remember that the consent reaches `albums` too; forget `withdraw` (prompt=consent, unticked).

    The caller (the consent page) has already held `albums` to what the user may see and ticked.
    """
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    before = _album_ids(locked)
    was_limited = locked.albums_limited
    if not was_limited:
        # The user granted an album-limited request: from now on the grant is limited to albums.
        Consent.objects.filter(pk=locked.pk).update(albums_limited=True)
        locked.albums_limited = True
    add = sorted(set(albums) - set(before))
    remove = sorted((set(withdraw) & set(before)) - set(albums))
    if remove:
        ConsentAlbum.objects.for_tenant(locked.tenant).filter(
            consent=locked, kind=ALBUM_TYPE, object_id__in=remove
        ).delete()
    ConsentAlbum.objects.bulk_create(
        [ConsentAlbum(tenant_id=locked.tenant_id, consent=locked, kind=ALBUM_TYPE, object_id=a) for a in add]
    )
    after = _album_ids(locked)
    if after != before or not was_limited:
        audit_record(
            actor=actor,
            action=AuditAction.CONSENT_GRANTED,
            target=locked,
            tenant=locked.tenant,
            before={"albums": before, "albums_limited": was_limited},
            after={"albums": after, "albums_limited": True},
        )
    return locked


@transaction.atomic
def consent_albums_widen(*, actor: User, consent: Consent) -> Consent:
    """The user approved, on the consent page that said so, a request for every album: lift the limit.

    The only writer that clears `albums_limited`. The album rows go with it (they mean nothing
    without the limit); tokens issued with an album limit stay limited to their albums that the
    consent still holds, which is now none: a widening never widens an older token.
    """
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    if not locked.albums_limited:
        return locked
    before = _album_ids(locked)
    ConsentAlbum.objects.for_tenant(locked.tenant).filter(consent=locked).delete()
    Consent.objects.filter(pk=locked.pk).update(albums_limited=False)
    locked.albums_limited = False
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_GRANTED,
        target=locked,
        tenant=locked.tenant,
        before={"albums": before, "albums_limited": True},
        after={"albums": [], "albums_limited": False},
    )
    return locked


@transaction.atomic
def consent_album_remove(*, actor: User, consent: Consent, album_id: int) -> bool:
    """Take one album back from a consent (connected apps); False when it was not there."""
    locked = Consent.objects.select_for_update().filter(pk=consent.pk).first()
    if locked is None:
        return False
    before = _album_ids(locked)
    if album_id not in before:
        return False
    ConsentAlbum.objects.for_tenant(locked.tenant).filter(
        consent=locked, kind=ALBUM_TYPE, object_id=album_id
    ).delete()
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_NARROWED,
        target=locked,
        tenant=locked.tenant,
        before={"albums": before},
        after={"albums": [a for a in before if a != album_id]},
    )
    return True
