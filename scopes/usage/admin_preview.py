"""The judges of the admin's what-if step (`accounts.admin.preview`): the API's own standing and decision.

Installed at start-up (`ScopesConfig.ready`) for the four changes that move rights: a role's
grants, a membership's role, a scope's implications and an app's allowed scopes. Each says which
tokens and members the object can affect (`scopes.usage.preview`); the capture judges them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.admin.preview import set_rights_judge
from accounts.models import Membership, Role
from scopes.models import Application, Scope
from scopes.usage import preview


@dataclass(frozen=True)
class SelectionJudge:
    """Judge the tokens and members `select(obj)` names, before and after a change."""

    select: Callable[[Any], preview.Selection]
    template: str = "admin/scopes/preview.html"

    def capture(self, obj: Any) -> preview.Capture:
        return preview.capture(self.select(obj))

    def compare(self, before: preview.Capture, after: preview.Capture) -> preview.Preview:
        return preview.compare(before, after)


def install() -> None:
    set_rights_judge(Role, SelectionJudge(lambda role: preview.for_role(role.pk)))
    set_rights_judge(Membership, SelectionJudge(preview.for_membership))
    # An implication can move any token's or member's rights.
    set_rights_judge(Scope, SelectionJudge(lambda scope: preview.for_registry()))
    set_rights_judge(Application, SelectionJudge(lambda app: preview.for_application(app.pk)))
