"""Sphinx configuration. Reference tables are generated from the code's own lists."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(INSTALLED_APPS=["django_deploykit"], USE_TZ=True)
    django.setup()

import generate_reference  # noqa: E402

generate_reference.write_all(DOCS / "_generated")

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

project = "django-deploykit"
author = "django-deploykit developers"
copyright = "2026, django-deploykit developers"
release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
exclude_patterns = ["_build", "_generated"]  # included by the reference pages
html_theme = "furo" if os.environ.get("DEPLOYKIT_DOCS_THEME", "furo") == "furo" else "alabaster"
html_title = f"django-deploykit {release}"
nitpicky = False
