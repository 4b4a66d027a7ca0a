"""OpenID Connect on django-oauth-toolkit's support, through our consent, tenancy and standing."""
