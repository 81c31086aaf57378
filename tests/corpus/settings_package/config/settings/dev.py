"""Development settings."""

from .base import *  # noqa: F403

SECRET_KEY = "django-insecure-dev-only-corpus-key-0123456789abcdef"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
