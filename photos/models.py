"""Photos and albums: the protected resource (built by the API issue)."""
