"""The tenant audit API: `/api/t/<slug>/audit/`, newest first, cursor pages, JSON or NDJSON."""
