"""Keep passing health probes out of runserver's request log.

The container healthcheck asks ``/health/`` every 5 s; in development that is a
log line every 5 s between the lines a developer wants to read. Probes that
answer 2xx are dropped from the ``django.server`` logger (runserver's request
log); failing ones stay, as does everything in production (gunicorn's access log
is not touched).
"""

from __future__ import annotations

import logging

from django_deploykit.conf import conf

__all__ = ["HealthProbeFilter", "quiet_health_probes"]


class HealthProbeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 200 <= status < 300:
            return True
        request_line = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        parts = request_line.split()
        path = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
        return not path.startswith(conf.HEALTH_PATH)


def quiet_health_probes() -> None:
    server_log = logging.getLogger("django.server")
    if not any(isinstance(f, HealthProbeFilter) for f in server_log.filters):
        server_log.addFilter(HealthProbeFilter())
