"""The audit log out: webhook endpoints per tenant, an outbox written with each audit event, delivery.

`models`: `AuditWebhook` (endpoint, secret, the tenant's next sequence number, the delivery lease)
and `AuditDelivery` (one row per event and endpoint: the outbox and the delivery log at once).
`outbox.enqueue` runs inside `accounts.services.audit_record`, so an event and its deliveries
commit or vanish together. `delivery` is the worker (`manage.py deliver_audit_events`).
"""
