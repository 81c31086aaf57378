"""Settings of the test suite: SQLite by default, real servers as extra aliases."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url

ROOT = Path(__file__).resolve().parent.parent
# The example site's apps are tested in place.
sys.path.insert(0, str(ROOT / "example_project"))

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.urls"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_deploykit",
    "blog",
    "tests.dbcopy_app",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"
STATIC_ROOT = ROOT / "tests" / ".staticfiles"

DATABASES: dict[str, dict[str, Any]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
}

# Real servers join as extra aliases when their tier is configured.
_TIER_URLS = {
    "mariadb": os.environ.get("DEPLOYKIT_TEST_MARIADB_URL", ""),
    "postgres": os.environ.get("DEPLOYKIT_TEST_POSTGRES_URL", ""),
}
for _alias, _url in _TIER_URLS.items():
    if _url:
        DATABASES[_alias] = dict(dj_database_url.parse(_url))
        if _alias == "mariadb":
            DATABASES[_alias].setdefault("OPTIONS", {})["charset"] = "utf8mb4"
        # A suffix lets several checkouts run the server tiers side by side.
        _suffix = os.environ.get("DEPLOYKIT_TEST_DB_SUFFIX", "")
        DATABASES[_alias]["TEST"] = {"NAME": f"test_deploykit_{_alias}{_suffix}"}
