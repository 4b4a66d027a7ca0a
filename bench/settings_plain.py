"""Variant plain: the benchmark's settings with Django's default middleware and logging only.

The page, its view (bench.views.BarePhotoList), its query, serializer and database role are bare's;
what is left out is the project's own stack around every request: request ids, metrics and the
access log (project.observability), the health paths, the control-character guard, the content
security policy, whitenoise and the tenancy middleware's transaction. The view still has to run in
one transaction to enter its tenant under row-level security, so it gets Django's own
ATOMIC_REQUESTS instead. Served by a second gunicorn (bench/run.py), alternating with the others
in the same paired rounds.
"""

from bench.settings import *  # noqa: F403
from bench.settings import DATABASES

# `django-admin startproject`'s list, behind the benchmark's SQL counter (which bare has too).
MIDDLEWARE = [
    "bench.middleware.count_sql",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

DATABASES = {**DATABASES, "default": {**DATABASES["default"], "ATOMIC_REQUESTS": True}}

# Django's own logging configuration (no JSON formatter, no request-id filter, no access log).
LOGGING_CONFIG = "logging.config.dictConfig"
LOGGING = {"version": 1, "disable_existing_loggers": False}
