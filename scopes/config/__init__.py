"""Configuration as code: the registry, roles, apps and tenant policies as one document (docs/config-as-code.md)."""
