"""What the standing needs to know of personal access tokens: their app, and the tenant's policy.

In the core because the standing's one statement reads the tenant's token policy
(`scopes.access.rows`); the rest of personal tokens (models, services, pages) is `scopes.machines`.
"""

from __future__ import annotations

from django.db import models

# The app that issues personal access tokens (created by migration scopes 0007). Its tokens are
# judged like any other (scopes.access.standing), plus the tenant's policy for personal tokens.
PERSONAL_TOKENS_CLIENT_ID = "personal-access-tokens"
# Leaked tokens are recognisable (secret scanners, logs): every personal token starts with this.
PERSONAL_TOKEN_PREFIX = "gpat_"
# The longest lifetime a tenant with no token policy allows, in days.
DEFAULT_MAX_DAYS = 365


class PersonalTokenMode(models.TextChoices):
    """Whether a tenant's members may use personal access tokens there."""

    ALLOWED = "allowed", "Allowed"
    FORBIDDEN = "forbidden", "Forbidden: refused at creation and at every use"
