"""Tokens without a browser: tenant service accounts (client credentials) and personal access tokens.

Both are ordinary principals to the rest of `scopes`: a service account is a `User` (flagged here,
never able to sign in) with a `Membership` in one tenant and a `Consent` for its one app; a personal
access token is an `AccessToken` of the personal-token issuer app, with a `Consent` of its user for
that app. So the one standing (`scopes.standing`) and the one decision (`scopes.decision`) judge
them exactly as they judge consent tokens; this package only issues them and manages them.
"""
