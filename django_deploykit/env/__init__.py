"""The environment variables deploykit knows and the settings helper built on them."""

from __future__ import annotations

from django_deploykit.env.container import in_container
from django_deploykit.env.settings import Env
from django_deploykit.env.variables import VARIABLES, Variable, variable

__all__ = ["VARIABLES", "Env", "Variable", "in_container", "variable"]
