"""django-guardian's direct-foreign-key permission tables for photos (the do-it-yourself variant)."""
