"""Names of the seeded global roles, so code never spells them as loose strings."""

from enum import StrEnum


class RoleName(StrEnum):
    """The global role templates every tenant can use."""

    OWNER = "Owner"
    ADMIN = "Admin"
    MEMBER = "Member"
    GUEST = "Guest"
