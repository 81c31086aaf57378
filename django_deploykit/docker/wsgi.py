"""Django's plain WSGI handler, for images whose project wsgi.py pins its settings.

A ``wsgi.py`` that assigns ``os.environ["DJANGO_SETTINGS_MODULE"]`` (instead of
``setdefault``) would replace the module the image selects; gunicorn serves this
one instead (``dockerize`` says so). django-configurations projects get its handler.
"""

from __future__ import annotations

import os

if os.environ.get("DJANGO_CONFIGURATION"):
    from configurations.wsgi import get_wsgi_application
else:
    from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
