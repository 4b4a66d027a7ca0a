"""Tenant app policy and access requests (README.md, "Tenant app policy and access requests").

A tenant decides which apps may be used with its data (any app, or approved apps only, with a
per-app status and an optional scope cap); members ask for what they lack (an app, a scope for
an app, a right for their role); tenant administrators decide; services apply, audited.

`rules.py` is the pure part the standing (`scopes.access.standing`) and the consent page share;
`models.py` the tables (behind row-level security, versioned for freshness); `services.py` the
writes; `selectors.py` the reads; `views.py` the pages; `admin.py` the Django admin.
"""
