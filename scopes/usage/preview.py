"""What-if: who gains or loses what when a change is saved, judged by the API's own code.

The change is made for real inside a savepoint, the affected tokens and members are judged before
and after it (`scopes.standing.live_tokens_rows` + `context_from`, then `decide_for` for every
scope, exactly as the API decides a call), and the savepoint is rolled back. So the preview cannot
drift from what the API will do, whatever the change is (a role's grants, a membership's role, a
scope's implications, an app's allowed scopes). A capture costs a fixed number of queries (the
tokens in one, the members in one, their roles' grants in one, the registry), however many
tokens and members there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership
from scopes.access.context_decision import decide_for
from scopes.access.rows import live_tokens_rows
from scopes.access.selectors import registry
from scopes.access.standing import context_from
from scopes.constants import Reach
from scopes.models import RoleGrant
from scopes.registry import grant_reaches

SAMPLE = 5


@dataclass(frozen=True)
class Selection:
    """Which tokens (SQL on scopes_accesstoken) and which memberships a change can affect."""

    tokens: str
    token_params: tuple[Any, ...] = ()
    members: Q | None = None


@dataclass(frozen=True)
class Holder:
    """A token or a member as the preview lists it (never the token's value)."""

    label: str
    username: str
    rights: dict[str, str]  # scope -> reach the API would allow


@dataclass
class Capture:
    """Everyone a change can affect, and what the API allows each of them now."""

    tokens: dict[int, Holder] = field(default_factory=dict)
    members: dict[int, Holder] = field(default_factory=dict)


def capture(selection: Selection) -> Capture:
    """Judge the selected tokens and members as the API would, now (fixed number of queries)."""
    snapshot = registry()
    scopes = sorted(snapshot.implications)
    result = Capture()
    for found in live_tokens_rows(selection.tokens, selection.token_params, now=timezone.now()):
        context = context_from(found, snapshot.implications, snapshot.requirements)
        rights = {}
        for scope in scopes:
            # What each token may do by its scopes and role; `live_tokens_rows` reads no audience,
            # so a resource-bound token (RFC 8707) counts here for the rights it has where it is bound.
            decision = decide_for(
                context,
                tenant_slug=context.tenant.slug,
                action_scope=scope,
                read_scope=None,
                target=None,
                resource=None,
            )
            if decision.allowed and decision.reach:
                rights[scope] = decision.reach
        user = found.rows.user
        username = user.get_username() if user is not None else "?"
        label = f"token #{found.token_id} of {username} in {context.tenant.slug}"
        result.tokens[found.token_id] = Holder(label, username, rights)
    if selection.members is not None:
        members = list(
            Membership.objects.filter(selection.members).values_list(
                "pk", "user__username", "tenant__slug", "role_id"
            )
        )
        grants: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for role_id, scope, reach in RoleGrant.objects.filter(
            role_id__in={m[3] for m in members}
        ).values_list("role_id", "scope__name", "reach"):
            grants[role_id].append((scope, reach))
        for pk, username, slug, role_id in members:
            rights = dict(grant_reaches(grants[role_id], snapshot.implications))
            result.members[pk] = Holder(f"{username} in {slug}", username, rights)
    return result


@dataclass
class ScopeChange:
    """One scope: who loses it (or a narrower reach) and who gains it (or a wider one)."""

    scope: str
    tokens_lost: list[str] = field(default_factory=list)
    tokens_gained: list[str] = field(default_factory=list)
    users_lost: set[str] = field(default_factory=set)
    users_gained: set[str] = field(default_factory=set)

    def samples(self, which: Iterable[str]) -> list[str]:
        return sorted(which)[:SAMPLE]

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "tokens_lost": len(self.tokens_lost),
            "tokens_gained": len(self.tokens_gained),
            "users_lost": len(self.users_lost),
            "users_gained": len(self.users_gained),
            "sample_tokens_lost": self.samples(self.tokens_lost),
            "sample_tokens_gained": self.samples(self.tokens_gained),
            "sample_users_lost": self.samples(self.users_lost),
            "sample_users_gained": self.samples(self.users_gained),
        }


@dataclass
class Preview:
    """The difference between two captures, per scope; empty when nothing changes for anyone."""

    changes: list[ScopeChange]
    tokens_judged: int
    members_judged: int

    @property
    def empty(self) -> bool:
        return not self.changes


_RANKS: dict[str, int] = {Reach.OWN: 1, Reach.TENANT: 2}


def _rank(reach: str | None) -> int:
    return _RANKS.get(reach, 0) if reach is not None else 0


def compare(before: Capture, after: Capture) -> Preview:
    """Per scope, which tokens and users lose or gain it (a reach counts: own -> tenant is a gain)."""
    changes: dict[str, ScopeChange] = {}

    def change(scope: str) -> ScopeChange:
        return changes.setdefault(scope, ScopeChange(scope))

    for kind in ("tokens", "members"):
        old: dict[int, Holder] = getattr(before, kind)
        new: dict[int, Holder] = getattr(after, kind)
        for key in old.keys() | new.keys():
            was, now = old.get(key), new.get(key)
            holder = now or was
            assert holder is not None
            was_rights = was.rights if was else {}
            now_rights = now.rights if now else {}
            for scope in was_rights.keys() | now_rights.keys():
                delta = _rank(now_rights.get(scope)) - _rank(was_rights.get(scope))
                if delta < 0:
                    if kind == "tokens":
                        change(scope).tokens_lost.append(holder.label)
                    change(scope).users_lost.add(holder.username)
                elif delta > 0:
                    if kind == "tokens":
                        change(scope).tokens_gained.append(holder.label)
                    change(scope).users_gained.add(holder.username)
    return Preview(
        changes=[changes[name] for name in sorted(changes)],
        tokens_judged=len(before.tokens.keys() | after.tokens.keys()),
        members_judged=len(before.members.keys() | after.members.keys()),
    )


def preview_of(selection: Selection, make_change: Callable[[], object]) -> Preview:
    """Make the change in a savepoint, judge before and after, roll it back: nothing is saved."""
    before = capture(selection)
    with transaction.atomic():
        make_change()
        after = capture(selection)
        transaction.set_rollback(True)
    return compare(before, after)


# --- What each kind of change can affect.


def for_application(application_id: int) -> Selection:
    return Selection("application_id = %s", (application_id,))


def for_role(role_id: int) -> Selection:
    return Selection(
        "(user_id, tenant_id) IN (SELECT user_id, tenant_id FROM accounts_membership WHERE role_id = %s)",
        (role_id,),
        members=Q(role_id=role_id),
    )


def for_membership(membership: Membership) -> Selection:
    return Selection(
        "user_id = %s AND tenant_id = %s",
        (membership.user_id, membership.tenant_id),
        members=Q(pk=membership.pk),
    )


def for_registry() -> Selection:
    """A scope's implications: every token and every member may be affected."""
    return Selection("1 = 1", (), members=Q())
