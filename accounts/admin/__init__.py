"""The admin for accounts' models, each registered once, here.

`base` holds what every admin screen of the project builds on (staff scoping, audit, read-only);
`memberships` the membership screens (written by the services); `people` tenants, users, roles,
groups and the audit log. Other apps extend a role's page through `people.RoleAdmin.extend`.
"""

from accounts.admin import memberships, people  # noqa: F401  (registers the screens)
