"""WSGI config for pipsite project."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipsite.settings")

application = get_wsgi_application()
