"""The ID-token signing keys, kept in the database so that app servers keep no state of their own.

Imported by `scopes.models`, so Django registers the model in the `scopes` app.
"""

from __future__ import annotations

from django.db import models

from accounts.sealed import SealedTextField


class SigningKey(models.Model):
    """One RS256 key: it signs from when it is made until the next one is made, and its public half
    stays in the JWKS until every ID token it signed has expired (`scopes.oidc.keys`).

    The private half is sealed with AUDIT_SECRET_KEY (accounts/sealed.py): a database dump, a
    replica or a backup holds ciphertext, and every app server reads the same keys.
    """

    kid = models.CharField(max_length=64, unique=True, help_text="RFC 7638 thumbprint, the JWT header's kid.")
    private_pem = SealedTextField()
    created = models.DateTimeField()

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.created:%Y-%m-%d %H:%M})"
