"""Date formats: one style on every page, the admin's included (settings.FORMAT_MODULE_PATH)."""
