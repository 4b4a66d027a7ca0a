"""The admin for scopes' models, split by topic; each model registered once.

`registry` (scopes), `consents`; `applications`
and `tokens` hold the classes django-oauth-toolkit registers for its swapped models
(OAUTH2_PROVIDER's *_ADMIN_CLASS settings); `explain` is the "Explain access" page.
"""

from scopes.admin import consents, registry  # noqa: F401  (registers the screens)
from scopes.machines import admin as machines_admin  # noqa: F401  (service accounts, token policies)
from scopes.roles import admin as roles_admin  # noqa: F401  (roles and grants, memberships, tenants, users)
from scopes.tenant_policy import admin as tenant_policy  # noqa: F401  (policy and access requests)
