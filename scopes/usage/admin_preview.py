"""The judges of the admin's what-if step (`accounts.admin.preview`): the API's own standing and decision.

One for each of the four changes that move rights, set as `rights_judge` on its admin class: a
role's grants, a membership's role, a scope's implications and an app's allowed scopes. Each says
which tokens and members the object can affect (`scopes.usage.preview`); the capture judges them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


ROLE_JUDGE = SelectionJudge(lambda role: preview.for_role(role.pk))
MEMBERSHIP_JUDGE = SelectionJudge(preview.for_membership)
# An implication can move any token's or member's rights.
SCOPE_JUDGE = SelectionJudge(lambda scope: preview.for_registry())
APPLICATION_JUDGE = SelectionJudge(lambda app: preview.for_application(app.pk))
