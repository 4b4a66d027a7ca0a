"""Least privilege as a feature: which scopes apps really use, per tenant and user, by day.

`models.ScopeUsage` holds the last day a scope was exercised; `recorder` writes it after a successful
answer (the API's, the token endpoint's, userinfo's) at most once per key, day and process; `selectors` reads the report; `services`
narrows an app's allowed scopes; `preview` says who gains or loses what before a change is saved.
"""
