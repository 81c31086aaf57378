"""Django 5.1's LoginRequiredMiddleware, or the same behaviour on Django 4.2/5.0 (tests only).

The health tests put a login-required site behind the health middleware; the
middleware must answer probes before any login redirect, whatever the Django version.
"""

from __future__ import annotations

try:
    from django.contrib.auth.middleware import LoginRequiredMiddleware
except ImportError:  # Django < 5.1
    from django.conf import settings
    from django.contrib.auth.views import redirect_to_login

    class LoginRequiredMiddleware:  # type: ignore[no-redef]
        def __init__(self, get_response):
            self.get_response = get_response

        def __call__(self, request):
            if request.user.is_authenticated or request.path == settings.LOGIN_URL:
                return self.get_response(request)
            return redirect_to_login(request.get_full_path())


__all__ = ["LoginRequiredMiddleware"]
