"""The device authorization grant (RFC 8628) through our consent page, tenancy and standing."""
