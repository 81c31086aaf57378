"""The container settings (django_deploykit.container_settings) on real settings modules.

Each test writes a project's settings the way real projects have them into a temp
directory, imports them through the overlay as the image does, and checks the
values Django would run with.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from django_deploykit.checks import check_container_settings, development_settings_in_image
from django_deploykit.env.overlay import HEALTH_MIDDLEWARE, WHITENOISE_MIDDLEWARE, compute, load
from django_deploykit.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent

STARTPROJECT = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = 'django-insecure-=olfqimia_6@6jfp-1u37yl&w=i1jss^qnrxx6oaovgacnjt^m'
DEBUG = True
ALLOWED_HOSTS = []
INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'django_deploykit',
]
MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': BASE_DIR / 'db.sqlite3',
    }
}
STATIC_URL = 'static/'
"""

CONTAINER_ENV = {
    "SECRET_KEY": "from-the-dot-env-file-0123456789-abcdefghijklmnopqrstuvwxyz",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "DATABASE_URL": "sqlite:////app/data/db.sqlite3",
    "DEPLOYKIT_STATIC_ROOT": "/app/staticfiles",
    "DEPLOYKIT_MEDIA_ROOT": "/app/media",
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Write files under a fresh top-level package; return (package name, writer)."""
    package = f"proj_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(relative: str, text: str) -> Path:
        path = tmp_path / package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.parents:
            if parent == tmp_path:
                break
            (parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(text))
        return path

    yield package, write
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def run_overlay(module: str, **extra: str) -> dict:
    """load() on the real os.environ (settings modules read it), restored afterwards."""
    saved = dict(os.environ)
    os.environ.update({**CONTAINER_ENV, "DEPLOYKIT_BASE_SETTINGS": module, **extra})
    try:
        return load()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_startproject_settings_get_production_values(project) -> None:
    package, write = project
    write("settings.py", STARTPROJECT)
    values = run_overlay(f"{package}.settings")
    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == CONTAINER_ENV["SECRET_KEY"]
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert values["DATABASES"]["default"]["NAME"] == "/app/data/db.sqlite3"
    assert values["STATIC_ROOT"] == "/app/staticfiles"
    assert values["MEDIA_ROOT"] == "/app/media" and values["MEDIA_URL"] == "/media/"
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    middleware = values["MIDDLEWARE"]
    assert middleware[0] == HEALTH_MIDDLEWARE
    assert middleware[2] == WHITENOISE_MIDDLEWARE  # right after SecurityMiddleware
    assert values["LOGGING"]["root"]["handlers"] == ["stdout"]
    record = values["DEPLOYKIT_CONTAINER_SETTINGS"]
    assert record["base"] == f"{package}.settings"
    assert {name for name, _ in record["overrides"]} >= {"DEBUG", "SECRET_KEY", "DATABASES"}


def test_values_computed_from_debug_see_the_production_value(project) -> None:
    package, write = project
    write(
        "settings.py",
        STARTPROJECT
        + """
if DEBUG:
    INSTALLED_APPS += ['debug_toolbar']  # a dev-only package the image does not have
SESSION_COOKIE_SECURE = not DEBUG
""",
    )
    values = run_overlay(f"{package}.settings")
    assert "debug_toolbar" not in values["INSTALLED_APPS"]
    assert values["SESSION_COOKIE_SECURE"] is True
    # The module itself is untouched for everyone else: a normal import still says True.
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]
    plain = importlib.import_module(f"{package}.settings")
    assert plain.DEBUG is True and "debug_toolbar" in plain.INSTALLED_APPS


def test_debug_true_in_the_environment_is_honoured(project) -> None:
    package, write = project
    write("settings.py", STARTPROJECT + "\nTOOLBAR = DEBUG\n")
    values = run_overlay(f"{package}.settings", DEBUG="true")
    assert values["DEBUG"] is True and values["TOOLBAR"] is True


def test_settings_package_reading_django_names_passes_through(project) -> None:
    package, write = project
    write(
        "settings/base.py",
        """
        import os
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent.parent
        DEBUG = True
        INSTALLED_APPS = ["django.contrib.staticfiles", "django_deploykit"]
        MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
        STATIC_ROOT = BASE_DIR / "collected"
        """,
    )
    write(
        "settings/production.py",
        """
        import os
        from .base import *  # noqa

        SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]  # required: KeyError without it
        ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")
        COOKIES_SECURE = not DEBUG
        """,
    )
    values = run_overlay(f"{package}.settings.production")
    # DJANGO_SECRET_KEY was mirrored from SECRET_KEY, so the module imported and its own
    # reading is kept: nothing to override.
    assert values["SECRET_KEY"] == CONTAINER_ENV["SECRET_KEY"]
    overridden = {name for name, _ in values["DEPLOYKIT_CONTAINER_SETTINGS"]["overrides"]}
    assert "SECRET_KEY" not in overridden and "ALLOWED_HOSTS" not in overridden
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    # DEBUG = True in base.py was pre-seeded too (a sibling module of the package).
    assert values["COOKIES_SECURE"] is True and values["DEBUG"] is False
    assert str(values["STATIC_ROOT"]).endswith("collected")  # the project's own


def test_secret_from_a_project_specific_variable_is_kept(project) -> None:
    package, write = project
    write(
        "settings.py",
        STARTPROJECT + "\nimport os\nSECRET_KEY = os.environ.get('MYSITE_KEY', SECRET_KEY)\n",
    )
    values = run_overlay(f"{package}.settings", MYSITE_KEY="the-project-reads-its-own-name-0123")
    # Still the insecure startproject key would be refused; this one came from the env.
    assert values["SECRET_KEY"] == "the-project-reads-its-own-name-0123"


def test_hard_coded_key_without_an_environment_key_fails_closed(project) -> None:
    package, write = project
    write("settings.py", STARTPROJECT)
    environ = {k: v for k, v in CONTAINER_ENV.items() if k != "SECRET_KEY"}
    with pytest.raises(ConfigError, match="SECRET_KEY is not set in the container"):
        load({**environ, "DEPLOYKIT_BASE_SETTINGS": f"{package}.settings"})


def test_missing_base_module_is_a_clear_error(project) -> None:
    with pytest.raises(ConfigError, match="DEPLOYKIT_BASE_SETTINGS is not set"):
        load(dict(CONTAINER_ENV))
    with pytest.raises(ConfigError, match="cannot be imported"):
        run_overlay("no_such_project.settings")


def test_database_url_keeps_the_projects_behaviour_keys() -> None:
    base = {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "dev",
                "ATOMIC_REQUESTS": True,
                "OPTIONS": {"application_name": "mysite"},
            }
        },
        "SECRET_KEY": "x" * 50,
    }
    overlay = compute(
        base, {**CONTAINER_ENV, "DATABASE_URL": "postgres://app:pw@db:5432/app"}, whitenoise=False
    )
    default = overlay.settings()["DATABASES"]["default"]
    assert default["HOST"] == "db" and default["NAME"] == "app"
    assert default["ATOMIC_REQUESTS"] is True
    assert default["OPTIONS"]["application_name"] == "mysite"


def test_hosts_and_origins_are_merged_and_validated() -> None:
    base = {"ALLOWED_HOSTS": ["example.com"], "SECRET_KEY": "k" * 50}
    environ = {**CONTAINER_ENV, "CSRF_TRUSTED_ORIGINS": "https://example.com"}
    values = compute(base, environ, whitenoise=False).settings()
    assert values["ALLOWED_HOSTS"] == ["example.com", "localhost", "127.0.0.1"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://example.com"]
    with pytest.raises(ConfigError, match="has no scheme"):
        compute(base, {**environ, "CSRF_TRUSTED_ORIGINS": "example.com"}, whitenoise=False)


def test_projects_own_hardening_is_never_turned_off() -> None:
    to_file = {"class": "logging.handlers.RotatingFileHandler", "filename": "/var/log/site.log"}
    logging_config = {"version": 1, "handlers": {"file": to_file}}
    base = {"SECURE_SSL_REDIRECT": True, "SECRET_KEY": "k" * 50, "LOGGING": logging_config}
    overlay = compute(base, {**CONTAINER_ENV, "SECURE_SSL_REDIRECT": "false"}, whitenoise=False)
    assert "SECURE_SSL_REDIRECT" not in overlay.settings()
    assert "LOGGING" not in overlay.settings()
    assert [w for w in overlay.warnings if "LOGGING writes to files (file)" in w]


def test_logging_to_the_console_is_kept_without_a_warning() -> None:
    console = {"version": 1, "handlers": {"console": {"class": "logging.StreamHandler"}}}
    base = {"SECRET_KEY": "k" * 50, "LOGGING": console}
    overlay = compute(base, CONTAINER_ENV, whitenoise=False)
    assert "LOGGING" not in overlay.settings()
    assert not [w for w in overlay.warnings if "LOGGING" in w]


def test_image_running_development_settings_fails_closed(monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYKIT_BASE_SETTINGS", "mysite.settings")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings")
    with override_settings(DEBUG=True):
        problem = development_settings_in_image()
    assert problem and "deploykit.E003" in problem and "setdefault" in problem
    with override_settings(DEBUG=False, SECRET_KEY="a-real-one-" + "x" * 40):
        assert development_settings_in_image() is None
        assert [m.id for m in check_container_settings()] == ["deploykit.W004"]
    with override_settings(
        DEBUG=True, DEPLOYKIT_CONTAINER_SETTINGS={"base": "m", "warnings": ["w"]}
    ):
        assert development_settings_in_image() is None
        assert [m.id for m in check_container_settings()] == ["deploykit.W003"]
    monkeypatch.delenv("DEPLOYKIT_BASE_SETTINGS")
    with override_settings(DEBUG=True):
        assert development_settings_in_image() is None  # the venv: nothing changes
        assert check_container_settings() == []


def test_manage_py_runs_under_the_overlay_in_a_subprocess(tmp_path) -> None:
    """As the image runs it: manage.py check and the explain printout."""
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "__init__.py").touch()
    (tmp_path / "mysite" / "settings.py").write_text(
        STARTPROJECT + "\nROOT_URLCONF = 'mysite.urls'\n"
    )
    (tmp_path / "mysite" / "urls.py").write_text("urlpatterns = []\n")
    (tmp_path / "manage.py").write_text(
        "import os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEPLOYKIT_"))},
        **CONTAINER_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "DJANGO_SETTINGS_MODULE": "django_deploykit.container_settings",
        "DEPLOYKIT_BASE_SETTINGS": "mysite.settings",
        "PYTHONPATH": f"{tmp_path}:{ROOT}",
    }
    shell = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY[:9])",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[-1].split() == ["False", "from-the-"]
    explain = subprocess.run(
        [sys.executable, "-m", "django_deploykit.container_settings"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert explain.returncode == 0, explain.stderr
    assert "on top of mysite.settings" in explain.stdout and "SECRET_KEY" in explain.stdout
    assert CONTAINER_ENV["SECRET_KEY"] not in explain.stdout
    # Without a key: one clear line, no traceback.
    del env["SECRET_KEY"]
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "Configuration error: SECRET_KEY is not set" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_django_configurations_class_is_loaded_then_overlaid(tmp_path) -> None:
    """As a django-configurations project runs in the image: its manage.py installs the
    importer, DJANGO_SETTINGS_MODULE names the container settings."""
    pytest.importorskip("configurations")
    (tmp_path / "cfgsite").mkdir()
    (tmp_path / "cfgsite" / "__init__.py").touch()
    (tmp_path / "cfgsite" / "settings.py").write_text(
        textwrap.dedent(
            """
            from configurations import Configuration

            class Prod(Configuration):
                DEBUG = True
                SECRET_KEY = "django-insecure-hard-coded"
                ALLOWED_HOSTS = []
                INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
                DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}}
                ROOT_URLCONF = "cfgsite.urls"
            """
        )
    )
    (tmp_path / "cfgsite" / "urls.py").write_text("urlpatterns = []\n")
    (tmp_path / "manage.py").write_text(
        "import os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cfgsite.settings')\n"
        "os.environ.setdefault('DJANGO_CONFIGURATION', 'Prod')\n"
        "from configurations.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEPLOYKIT_"))},
        **CONTAINER_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "DJANGO_SETTINGS_MODULE": "django_deploykit.container_settings",
        "DJANGO_CONFIGURATION": "Prod",
        "DEPLOYKIT_BASE_SETTINGS": "cfgsite.settings",
        "PYTHONPATH": f"{tmp_path}:{ROOT}",
    }
    shell = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY[:9], "
            "s.ALLOWED_HOSTS, s.ROOT_URLCONF)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[-1] == (
        "False from-the- ['localhost', '127.0.0.1'] cfgsite.urls"
    )


def test_https_behind_nginx_makes_cookies_secure_and_sends_hsts() -> None:
    """--nginx writes SECURE_SSL_REDIRECT and HSTS into .env: check --deploy is clean."""
    base = {"SECRET_KEY": "k" * 50}
    environ = {
        **CONTAINER_ENV,
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    values = compute(base, environ, whitenoise=False).settings()
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    # Plain HTTP (the default stack): nothing forced.
    plain = compute(base, CONTAINER_ENV, whitenoise=False).settings()
    assert "SESSION_COOKIE_SECURE" not in plain and "SECURE_HSTS_SECONDS" not in plain


def test_aliases_are_mirrored_from_secret_files(tmp_path) -> None:
    """The compose stack gives SECRET_KEY as a file: DJANGO_SECRET_KEY readers get it."""
    from django_deploykit.env.overlay import mirror_aliases

    key = tmp_path / "secret_key"
    key.write_text("from-the-secret-file\n")
    environ = {"SECRET_KEY_FILE": str(key)}
    assert mirror_aliases(environ) == ["DJANGO_SECRET_KEY"]
    assert environ["DJANGO_SECRET_KEY"] == "from-the-secret-file"
