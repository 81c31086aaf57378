"""Copy a project's data between any two databases Django supports, with nothing lost.

``dbcopy(source, target, Options(...))`` runs plan → pre-flight → copy → verify and
returns a :class:`~django_deploykit.dbcopy.report.Result`; ``manage.py dbcopy`` is a
thin wrapper around it.
"""

from __future__ import annotations

from django_deploykit.dbcopy.progress import Progress
from django_deploykit.dbcopy.report import Problem, Result, TableResult
from django_deploykit.dbcopy.run import Options, dbcopy

__all__ = ["Options", "Problem", "Progress", "Result", "TableResult", "dbcopy"]
