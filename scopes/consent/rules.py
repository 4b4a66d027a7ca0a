"""The consent rule as pure functions: what a user may grant, and what a token may keep.

granted = requested ∩ app's allowed ∩ role's grantable ∩ ticked. The consent page, the token
endpoint's refresh cap and consent narrowing all use `cap_scopes`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scopes.access.applications import AppScope
from scopes.registry import Implications, closure, normalise


def cap_scopes(
    scopes: Iterable[str], *, allowed: frozenset[str] | set[str], implications: Implications
) -> list[str]:
    """Keep what `allowed` fully covers; split a composite that is only partly covered into its parts.

    `allowed` is a closed set of scope names (every scope the cap lets through). The result is
    normalised: `photos.write` for a fully allowed composite, `photos.read` alone for a Guest.
    """
    kept: set[str] = set()
    stack = list(scopes)
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if closure([name], implications) <= allowed:
            kept.add(name)
        else:
            stack.extend(implications.get(name, ()))
    return normalise(kept, implications)


def consented_after(
    before: Iterable[str], *, scopes: Iterable[str], withdraw: Iterable[str], implications: Implications
) -> list[str]:
    """What a consent holds after granting `scopes` and taking back `withdraw` (`consent_grant`).

    Withdrawn composites are split so their other parts stay; what was not withdrawn is kept. The
    consent page computes the new token's incremental scopes from this too, so it need not read
    the consent back after writing it.
    """
    before, scopes = list(before), list(scopes)
    taken_back = closure(withdraw, implications) - closure(scopes, implications)
    if not taken_back & closure(before, implications):
        return sorted(set(before) | set(scopes))
    allowed = frozenset(closure(before, implications) - taken_back)
    return sorted(set(cap_scopes(before, allowed=allowed, implications=implications)) | set(scopes))


@dataclass(frozen=True)
class ScopeLine:
    """One line of the consent page."""

    name: str
    description: str
    reason: str = ""
    required: bool = False
    part_of: str | None = None  # the composite scope this part was offered in place of
    why_unavailable: str = ""
    # Who could lift the refusal, for the page's "ask for this": the user's role ("scope") or the
    # tenant's cap for the app ("app"); see scopes.tenant_policy.
    ask: str = "scope"
    # The role allows it only on what the person owns (a Member deleting photos): said on the
    # line, so "Delete photos." is never read as every photo.
    own_only: bool = False


@dataclass(frozen=True)
class ConsentPlan:
    """What the consent page shows for one request, user and tenant."""

    offered: list[ScopeLine] = field(default_factory=list)  # checkboxes
    unavailable: list[ScopeLine] = field(default_factory=list)  # greyed out, with the reason
    already_granted: list[str] = field(default_factory=list)  # requested and consented before
    blocked_required: list[str] = field(default_factory=list)  # required but not grantable: deny only
    policy_refusal: str = ""  # the tenant's app policy refuses the app here: deny (or ask) only

    @property
    def offered_names(self) -> set[str]:
        return {line.name for line in self.offered}

    @property
    def required_names(self) -> set[str]:
        return {line.name for line in self.offered if line.required}

    @property
    def needs_prompt(self) -> bool:
        """True when there is something new to ask; otherwise remembered consent answers."""
        return (
            bool(self.offered)
            or bool(self.blocked_required)
            or bool(self.policy_refusal)
            or not self.already_granted
        )

    def granted(self, ticked: Iterable[str]) -> list[str]:
        """The server's answer to a POST: only offered lines, required ones always, plus remembered ones."""
        chosen = (set(ticked) & self.offered_names) | self.required_names
        return sorted(chosen | set(self.already_granted))

    def approval(self, ticked: Iterable[str], shown: ShownPlan) -> list[str]:
        """What pressing Allow on a form grants: nothing while the tenant's app policy refuses the
        app or a required scope cannot be granted (the page offered only Deny: a forged Allow must
        not get further), else `granted_as_shown`. Every approval page asks this one method."""
        if self.policy_refusal or self.blocked_required:
            return []
        return self.granted_as_shown(ticked, shown)

    def granted_as_shown(self, ticked: Iterable[str], shown: ShownPlan) -> list[str]:
        """The answer to a consent form: this (current) plan's answer, within what the page showed.

        A line counts only if the page showed it and this plan still has it: a ticked checkbox
        the page offered, a required line, or one the page listed as already allowed. So a right
        lost since the page is not granted, and nothing the page did not show is ever added back.
        """
        offered = set(shown.offered)
        chosen = (set(ticked) & self.offered_names & offered) | (self.required_names & offered)
        return sorted(chosen | (set(self.already_granted) & set(shown.already_granted)))


@dataclass(frozen=True)
class ShownPlan:
    """What one consent page showed, signed into its form so the POST re-plans the same way.

    `fresh` is the page's planning mode (prompt=consent ignores remembered consent and asks for
    everything again): the POST must plan the same way, or remembered scopes would come back
    although the user was shown them as checkboxes and left them unticked.
    """

    fresh: bool
    tenant_id: int
    offered: tuple[str, ...]
    already_granted: tuple[str, ...]

    @classmethod
    def of(cls, plan: ConsentPlan, *, fresh: bool, tenant_id: int) -> ShownPlan:
        return cls(fresh, tenant_id, tuple(sorted(plan.offered_names)), tuple(sorted(plan.already_granted)))

    def to_payload(self) -> dict[str, object]:
        return {
            "fresh": self.fresh,
            "tenant": self.tenant_id,
            "offered": list(self.offered),
            "already": list(self.already_granted),
        }

    @classmethod
    def from_payload(cls, data: object) -> ShownPlan | None:
        """The shown plan of a signed form, or None when the form showed no plan (or is malformed)."""
        if not isinstance(data, dict):
            return None
        fresh, tenant, offered, already = (data.get(k) for k in ("fresh", "tenant", "offered", "already"))
        if not isinstance(fresh, bool) or not isinstance(tenant, int) or isinstance(tenant, bool):
            return None
        if not isinstance(offered, list) or not isinstance(already, list):
            return None
        if not all(isinstance(n, str) for n in (*offered, *already)):
            return None
        return cls(fresh, tenant, tuple(offered), tuple(already))

    def withdrawn(self, granted: Iterable[str]) -> list[str]:
        """What the user takes back by this answer: under a fresh plan, the offered lines not granted.

        prompt=consent asks for everything again, so an unticked line means "no longer"; on an
        ordinary page an unticked line only declines something new, and takes nothing back.
        """
        return sorted(set(self.offered) - set(granted)) if self.fresh else []


def _sentence_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plan_consent(
    *,
    requested: Iterable[str],
    app_scopes: Mapping[str, AppScope],
    role_covered: frozenset[str] | set[str],
    implications: Implications,
    descriptions: Mapping[str, str],
    previously_granted: Iterable[str] = (),
    role_label: str,
    tenant_label: str,
    tenant_cap: frozenset[str] | None = None,
    own_only: frozenset[str] = frozenset(),
) -> ConsentPlan:
    """Build the consent page for `requested` scopes, capped by the app, the tenant's cap and the role.

    `tenant_cap` is the closed set of scopes the tenant's app policy lets this app use (None: no
    cap); a scope outside it is greyed out like one the role cannot grant, naming the tenant.
    `own_only` names the scopes the role allows only on the person's own objects (its lines say so).
    """
    app_allowed = closure(app_scopes, implications)
    if tenant_cap is not None:
        role_covered = frozenset(role_covered) & tenant_cap
    consented = closure(previously_granted, implications)
    plan = ConsentPlan()
    offered: dict[str, ScopeLine] = {}
    for name in dict.fromkeys(requested):
        if name not in app_allowed:
            continue  # the authorization request was already refused for this; never offer it
        registration = app_scopes.get(name, AppScope())
        grantable = [name]
        if not closure([name], implications) <= role_covered:
            line = _unavailable(
                name,
                registration,
                role_covered=role_covered,
                tenant_cap=tenant_cap,
                implications=implications,
                descriptions=descriptions,
                labels=(role_label, tenant_label),
            )
            plan.unavailable.append(line)
            if registration.required:
                plan.blocked_required.append(name)
            grantable = cap_scopes([name], allowed=frozenset(role_covered), implications=implications)
        for part in grantable:
            _place(plan, offered, part, name, app_scopes, consented, implications, descriptions, own_only)
    plan.offered.extend(offered.values())
    return plan


def _unavailable(
    name: str,
    registration: AppScope,
    *,
    role_covered: frozenset[str] | set[str],
    tenant_cap: frozenset[str] | None,
    implications: Implications,
    descriptions: Mapping[str, str],
    labels: tuple[str, str],
) -> ScopeLine:
    """A greyed line: what the role (or the tenant's cap for the app) does not allow, and who could."""
    role_label, tenant_label = labels
    missing = sorted(p for p in closure([name], implications) - role_covered if not implications.get(p))
    listed = _sentence_list([descriptions.get(p, p).rstrip(".").lower() for p in missing])
    capped = tenant_cap is not None and any(p not in tenant_cap for p in missing)
    why = (
        f"{tenant_label}'s administrators have not approved this for this app"
        if capped
        else f"Your role {role_label} in {tenant_label} does not allow this"
    ) + (f": {listed}." if listed else ".")
    return ScopeLine(
        name,
        descriptions.get(name, name),
        registration.reason,
        registration.required,
        None,
        why,
        "app" if capped else "scope",
    )


def _place(
    plan: ConsentPlan,
    offered: dict[str, ScopeLine],
    part: str,
    name: str,
    app_scopes: Mapping[str, AppScope],
    consented: frozenset[str] | set[str],
    implications: Implications,
    descriptions: Mapping[str, str],
    own_only: frozenset[str],
) -> None:
    """A grantable part of `name`: already granted (remembered consent covers it) or a checkbox.

    A part offered in place of a composite quotes the app's reason for the part itself, never the
    composite's ("to build albums for you" is not why an app reads albums); none if it gave none.
    """
    if closure([part], implications) <= consented:
        if part not in plan.already_granted:
            plan.already_granted.append(part)
    elif part not in offered:
        is_whole = part == name
        registration = app_scopes.get(part if not is_whole else name, AppScope())
        offered[part] = ScopeLine(
            part,
            descriptions.get(part, part),
            registration.reason,
            registration.required and is_whole,
            None if is_whole else name,
            own_only=bool(closure([part], implications) & own_only),
        )
