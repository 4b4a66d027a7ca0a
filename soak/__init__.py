"""The soak test (`make soak`): about two minutes of mixed, concurrent traffic against gunicorn.

Not part of the test suite or CI. See `soak/__main__.py` for what it does and checks.
"""
