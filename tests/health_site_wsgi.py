"""WSGI entry point of tests/health_site.py for gunicorn."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_project"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.health_site")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
