"""Rights in one home: roles, their grants and memberships (docs/architecture.md).

`rules` says who may hand out what (nobody but a superuser gives more than their own role holds),
`services` is the only writer of the three tables (checked under a row lock, audited), `admin`
the role page with its grants inline, the membership page and the tenant and user pages with
their members. The models stay where their tables are (`accounts.Role`, `accounts.Membership`,
`scopes.RoleGrant`); the code that writes them lives here, beside the rule.
"""
