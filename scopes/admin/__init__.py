"""The admin for scopes' models, split by topic; each model registered once.

`registry` (scopes), `roles` (grants, inline on accounts' role page), `consents`; `applications`
and `tokens` hold the classes django-oauth-toolkit registers for its swapped models
(OAUTH2_PROVIDER's *_ADMIN_CLASS settings); `explain` is the "Explain access" page.
"""

from scopes.admin import consents, registry, roles  # noqa: F401  (registers the screens)
