"""The admin for accounts' models (tenants, users and roles are registered by `scopes.roles.admin`).

`base` holds what every admin screen of the project builds on (staff scoping, audit, read-only);
`people` groups and the audit log, and the tenant and user pages that `scopes.roles.admin`
registers with their memberships inline (roles and memberships are written there, beside the rule).
"""

from accounts.admin import audit_stream, people  # noqa: F401  (registers the screens: webhooks and deliveries; people)
