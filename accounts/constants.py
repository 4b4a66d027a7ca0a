"""Names of the seeded global roles, so code never spells them as loose strings."""

from enum import StrEnum


class RoleName(StrEnum):
    """The global role templates every tenant can use."""

    OWNER = "Owner"
    ADMIN = "Admin"
    MEMBER = "Member"
    GUEST = "Guest"


class AuditAction(StrEnum):
    """What an audit event records; stable codes for filters and for machines."""

    CONSENT_GRANTED = "consent.granted"
    CONSENT_NARROWED = "consent.narrowed"
    CONSENT_REVOKED = "consent.revoked"
    TOKEN_REVOKED = "token.revoked"
    MEMBERSHIP_CREATED = "membership.created"
    MEMBERSHIP_CHANGED = "membership.changed"
    MEMBERSHIP_REMOVED = "membership.removed"
    ROLE_CREATED = "role.created"
    ROLE_CHANGED = "role.changed"
    ROLE_DELETED = "role.deleted"
    GRANT_CREATED = "grant.created"
    GRANT_CHANGED = "grant.changed"
    GRANT_DELETED = "grant.deleted"
    SCOPE_CREATED = "scope.created"
    SCOPE_CHANGED = "scope.changed"
    SCOPE_DELETED = "scope.deleted"
    APPLICATION_CREATED = "application.created"
    APPLICATION_CHANGED = "application.changed"
    APPLICATION_DELETED = "application.deleted"
    APPLICATION_SCOPES_NARROWED = "application.scopes_narrowed"
    APPLICATION_SCOPES_CHANGED = "application.scopes_changed"
    TENANT_CHANGED = "tenant.changed"
    # Service accounts and personal access tokens (scopes.machines).
    SERVICE_ACCOUNT_CREATED = "service_account.created"
    SERVICE_ACCOUNT_DISABLED = "service_account.disabled"
    SERVICE_ACCOUNT_ENABLED = "service_account.enabled"
    SERVICE_ACCOUNT_DELETED = "service_account.deleted"
    SERVICE_ACCOUNT_SECRET_ROTATED = "service_account.secret_rotated"
    PERSONAL_TOKEN_CREATED = "personal_token.created"
    TOKEN_POLICY_CHANGED = "token_policy.changed"
    APP_POLICY_CHANGED = "app_policy.changed"
    TENANT_APP_CHANGED = "tenant_app.changed"
    ACCESS_REQUESTED = "access.requested"
    ACCESS_APPROVED = "access.approved"
    ACCESS_REFUSED = "access.refused"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_DELETED = "webhook.deleted"
    # Second factors and sign-in strength (accounts.factors).
    FACTOR_ENROLLED = "factor.enrolled"
    FACTOR_REMOVED = "factor.removed"
    FACTORS_RESET = "factor.reset"  # by a tenant administrator, for a member who lost theirs
    RECOVERY_CODES_GENERATED = "factor.recovery_codes_generated"
    RECOVERY_CODE_USED = "factor.recovery_code_used"
    SIGN_IN_STEPPED_UP = "sign_in.stepped_up"
    SECOND_FACTOR_POLICY_CHANGED = "second_factor_policy.changed"
    EMAIL_VERIFIED = "email.verified"
    INVITATION_CREATED = "invitation.created"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_ACCEPTED = "invitation.accepted"
