"""Settings of the site gunicorn serves in the health tests: a strict production setup.

Probes arrive with an IP as Host, over plain HTTP and without a session, so
without HealthCheckMiddleware first they would get 400, 301 or 302.
"""

from __future__ import annotations

import json
import os

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["example.com"]
SECURE_SSL_REDIRECT = True
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_deploykit",
    "blog",
]
MIDDLEWARE = [
    *(
        []
        if os.environ.get("HEALTH_SITE_NO_MIDDLEWARE")
        else ["django_deploykit.health.middleware.HealthCheckMiddleware"]
    ),
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.login_required.LoginRequiredMiddleware",
]
DATABASES = {
    alias: dj_database_url.parse(url)
    for alias, url in json.loads(
        os.environ.get("HEALTH_SITE_DATABASES", '{"default": "sqlite:///:memory:"}')
    ).items()
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEPLOYKIT_HEALTH_CHECKS = json.loads(
    os.environ.get(
        "HEALTH_SITE_CHECKS",
        '["django_deploykit.health.checks.DatabaseCheck",'
        ' "django_deploykit.health.checks.CacheCheck"]',
    )
)
DEPLOYKIT_HEALTH_CACHE_SECONDS = float(os.environ.get("HEALTH_SITE_CACHE_SECONDS", "2"))
DEPLOYKIT_HEALTH_DEADLINE = float(os.environ.get("HEALTH_SITE_DEADLINE", "0.8"))
