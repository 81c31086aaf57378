"""Service probes shared by the health checks, ``wait_for_db``, dbcopy and deploy.

Each probe opens a probe-only connection with a connect timeout, runs the
cheapest real request, closes it and returns a :class:`ProbeResult` whose
``reason`` is a stable public code and whose ``detail`` is private text.
"""

from __future__ import annotations

from django_deploykit.services.result import PERMANENT, REASONS, ProbeResult

__all__ = ["PERMANENT", "REASONS", "ProbeResult"]
