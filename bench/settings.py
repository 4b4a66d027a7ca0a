"""The product's settings plus what only the benchmark needs: its URLconf, an SQL counter, and
django-guardian for the do-it-yourself variant.

Everything else (middleware, DRF, DOT, cache, database) is the product's, from the environment.
bench/settings_plain.py is the same with Django's default middleware only (variant plain).
"""

import os

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, LOGGING, MIDDLEWARE, OAUTH2_PROVIDER
from scopes.constants import ScopeName

ROOT_URLCONF = "bench.urls"

# Outermost, so it counts every statement a request runs (header X-Bench-SQL); then the cold
# scenario's "nothing held" variant (bench.middleware.forget_held), which runs no statement.
MIDDLEWARE = ["bench.middleware.count_sql", "bench.middleware.forget_held", *MIDDLEWARE]

# Variant (b) is stock DOT at its cheapest: its default scopes backend reads this dict, where the
# product's backend reads the registry from the cache. Only DOT's own code paths use it: the
# product's validator and views never ask the scopes backend on the paths the benchmark loads.
OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,
    "SCOPES_BACKEND_CLASS": "oauth2_provider.scopes.SettingsScopes",
    "SCOPES": {str(name): str(name) for name in ScopeName},
}

# The do-it-yourself variant's object permissions (bench/diy.py): django-guardian as its
# documentation installs it, with direct-foreign-key tables for photos (bench/diy_perms). No
# anonymous user: the variant only ever asks for a token's user.
INSTALLED_APPS = [*INSTALLED_APPS, "guardian", "bench.diy_perms"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None

# LOG_LEVEL applies to the handler too: records propagated from `django.request` (a 401 the runner
# asks for on purpose) skip the root logger's level and would otherwise reach the console.
LOGGING = {
    **LOGGING,
    "handlers": {
        "console": {"class": "logging.StreamHandler", "level": os.environ.get("LOG_LEVEL", "WARNING")}
    },
}
