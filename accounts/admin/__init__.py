"""The admin for accounts' models (tenants, users and roles are registered by `scopes.roles.admin`).

`base` holds what every admin screen of the project builds on (staff scoping, audit, read-only);
`people` groups and the audit log, and the tenant and user pages that `scopes.roles.admin`
registers with their memberships inline (roles and memberships are written there, beside the rule).
"""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.admin import audit_stream, people  # noqa: F401  (registers the screens: webhooks and deliveries; people)

# django-otp's own screens show and edit the TOTP keys and recovery codes: secrets nobody else may
# read. Second factors are managed by their owner on /account/security/ (accounts.factors).
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
