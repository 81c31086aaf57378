"""Render the plan with Django's template engine into file contents.

Templates live in ``templates/deploykit/``; a project overrides one by putting a
file of the same name in its own templates (``DIRS`` or an app listed before
``django_deploykit``), exactly like admin templates. Lines holding only template
tags leave no blank line behind (like Jinja's trim_blocks + lstrip_blocks), so
templates can be laid out readably.
"""

from __future__ import annotations

import os
import re
import secrets
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template import Context, Engine
from django.template.loaders import app_directories, filesystem

from django_deploykit.docker.plan import Plan
from django_deploykit.env.variables import GROUPS, VARIABLES, Variable
from django_deploykit.search.app_key import derive_key

__all__ = [
    "RenderedFile",
    "app_environment",
    "app_secrets",
    "engine",
    "env_file",
    "read_env_file",
    "search_init_secrets",
    "render_all",
    "secret_values",
    "venv_urls",
]

_TAG_LINE = re.compile(r"^[ \t]*((?:\{%.*?%\}|\{#.*?#\})[ \t]*)+\n", re.M)


def _trim(source: str) -> str:
    return _TAG_LINE.sub(lambda m: m.group(0).strip(" \t\n"), source)


class TrimmingFilesystemLoader(filesystem.Loader):
    def get_contents(self, origin: Any) -> str:
        return _trim(super().get_contents(origin))


class TrimmingAppDirectoriesLoader(app_directories.Loader):
    def get_contents(self, origin: Any) -> str:
        return _trim(super().get_contents(origin))


@dataclass(frozen=True)
class RenderedFile:
    path: str
    content: str
    mode: int = 0o644
    #: Written only when absent and never shown or compared (it holds secrets).
    secret: bool = False


def engine() -> Engine:
    """A template engine that sees the project's template dirs, then the apps'."""
    dirs: list[str] = []
    for backend in getattr(settings, "TEMPLATES", []):
        if backend.get("BACKEND", "").endswith("DjangoTemplates"):
            dirs += [str(d) for d in backend.get("DIRS", [])]
    return Engine(
        dirs=dirs,
        loaders=[
            "django_deploykit.docker.render.TrimmingFilesystemLoader",
            "django_deploykit.docker.render.TrimmingAppDirectoriesLoader",
        ],
        autoescape=False,
    )


def _variables(plan: Plan) -> list[dict[str, Any]]:
    """Variable groups for .env.example, leaving out services the stack does not run."""
    skip = set()
    if not plan.search:
        skip.add("search")
    groups = []
    for group, title in GROUPS.items():
        # "image" variables come from the Dockerfile: an empty line in .env would blank them.
        rows = [
            _env_row(v, plan) for v in VARIABLES if v.group == group and v.used_by != ("image",)
        ]
        rows = [r for r in rows if r["name"] not in _unused(plan)]
        if rows and group not in skip:
            groups.append({"title": title, "variables": rows})
    return groups


def _unused(plan: Plan) -> set[str]:
    unused = set()
    if plan.db == "sqlite":
        unused |= {"DB_PASSWORD", "DB_ROOT_PASSWORD", "DB_IMAGE", "DB_PORT"}
    if plan.db != "mariadb":
        unused.add("DB_ROOT_PASSWORD")
    if not plan.search:
        unused |= {"MEILISEARCH_IMAGE", "MEILISEARCH_PORT", "MEILISEARCH_API_KEY_UID"}
    if not plan.redis:
        unused |= {"REDIS_IMAGE", "REDIS_PORT"}
    if not plan.celery:
        unused.add("WORKER_HEALTH_EVERY")
    if not plan.nginx:
        unused |= {"HTTP_PORT", "HTTPS_PORT", "TLS_CERT_DIR"}
    if not plan.front:
        unused.add("NGINX_IMAGE")
    return unused


def _env_row(var: Variable, plan: Plan) -> dict[str, Any]:
    value = var.example if var.example is not None else var.default
    if var.name == "PORT":
        value = str(plan.port)
    elif var.name == "DEBUG":
        value = var.default  # the stack is production-shaped; compose.dev.yaml turns it on
    help_text = var.help + (" Secret." if var.secret else "")
    return {
        "name": var.name,
        "value": value,
        "help_lines": textwrap.wrap(help_text, 86),
        "secret": var.secret,
    }


#: Secret files of the compose stack: secrets/<variable in lower case>, which the env
#: helper also reads on the host (manage.py in a venv), so each secret has one copy.
SECRET_FILES = {
    name: name.lower()
    for name in (
        "SECRET_KEY",
        "DEPLOYKIT_HEALTH_TOKEN",
        "DATABASE_PASSWORD",
        "MEILISEARCH_MASTER_KEY",
        "MEILISEARCH_API_KEY",
    )
}
#: Variables compose sets to fixed values for the app (service names), not from .env;
#: PORT is the image's (nginx and the published port are generated for it): a PORT in
#: .env or the shell must not move gunicorn away from them.
_FIXED = {"DATABASE_URL", "MEILISEARCH_URL", "CACHE_URL", "CELERY_BROKER_URL", "PORT"}


def app_secrets(plan: Plan) -> dict[str, str]:
    """``{variable: secret file name}`` the app services get, in the list's order."""
    wanted = {"SECRET_KEY", "DEPLOYKIT_HEALTH_TOKEN"}
    if plan.db != "sqlite":
        wanted.add("DATABASE_PASSWORD")
    if plan.search:
        # The app's own key, never the master key (search-init creates it from that).
        wanted.add("MEILISEARCH_API_KEY")
    return {v.name: SECRET_FILES[v.name] for v in VARIABLES if v.name in wanted}


def search_init_secrets(plan: Plan) -> dict[str, str]:
    """``{variable: secret file name}`` of search-init, the only app-image service with
    the master key: it creates the app's key and checks the app's copy of it."""
    if not plan.search:
        return {}
    wanted = {"MEILISEARCH_MASTER_KEY", "MEILISEARCH_API_KEY"}
    return {v.name: SECRET_FILES[v.name] for v in VARIABLES if v.name in wanted}


def app_environment(plan: Plan) -> list[str]:
    """What the app services take from .env: the non-secret variables they read.

    An explicit list, not the whole .env: compose-only values (ports, images) and the
    database services' passwords never reach the app; secrets come as files.
    """
    return [
        v.name
        for v in VARIABLES
        if not v.secret and v.name not in _FIXED and {"settings", "entrypoint"} & set(v.used_by)
    ]


def secret_values(plan: Plan, known: dict[str, str] | None = None) -> dict[str, str]:
    """The stack's secrets, one value each: kept from an existing .env, else random.

    The database's password is both the db service's DB_PASSWORD (.env) and the app's
    DATABASE_PASSWORD (secrets/database_password): one value, two readers.
    """
    known = known or {}
    values = {
        "SECRET_KEY": known.get("SECRET_KEY") or _secret(50),
        "DEPLOYKIT_HEALTH_TOKEN": known.get("DEPLOYKIT_HEALTH_TOKEN") or _secret(40),
    }
    if plan.db != "sqlite":
        values["DB_PASSWORD"] = known.get("DB_PASSWORD") or _secret()
        values["DATABASE_PASSWORD"] = values["DB_PASSWORD"]
    if plan.db == "mariadb":
        values["DB_ROOT_PASSWORD"] = known.get("DB_ROOT_PASSWORD") or _secret()
    if plan.search:
        values["MEILISEARCH_MASTER_KEY"] = known.get("MEILISEARCH_MASTER_KEY") or _secret()
        # What Meilisearch derives from the master key for the uid: an .env from before
        # the app's key gets the matching key file on the next dockerize.
        values["MEILISEARCH_API_KEY"] = known.get("MEILISEARCH_API_KEY") or derive_key(
            values["MEILISEARCH_MASTER_KEY"], known.get("MEILISEARCH_API_KEY_UID")
        )
    return values


def render_all(plan: Plan, known_secrets: dict[str, str] | None = None) -> list[RenderedFile]:
    eng = engine()
    values = secret_values(plan, known_secrets)
    stack_secrets = {**app_secrets(plan), **search_init_secrets(plan)}
    context = {
        "plan": plan,
        "facts": plan.facts,
        "env_groups": _variables(plan),
        "app_env": app_environment(plan),
        "app_secrets": app_secrets(plan),
        "search_init_secrets": search_init_secrets(plan),
        "stack_secrets": stack_secrets,
    }

    def render(name: str) -> str:
        text = eng.get_template(f"deploykit/{name}").render(Context(context, autoescape=False))
        # One trailing newline, no trailing spaces: diffs stay clean.
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"

    files = [
        RenderedFile("Dockerfile", render("Dockerfile")),
        _dockerignore(plan, render("dockerignore")),
        RenderedFile("docker-entrypoint.sh", render("docker-entrypoint.sh"), 0o755),
        RenderedFile("compose.yaml", render("compose.yaml")),
        RenderedFile("compose.dev.yaml", render("compose.dev.yaml")),
        RenderedFile(".env.example", render("env.example")),
        RenderedFile("DOCKER.md", render("DOCKER.md")),
    ]
    if plan.front:
        files.append(RenderedFile("nginx/default.conf", render("nginx.conf")))
    if plan.makefile:
        files.append(RenderedFile("Makefile", render("Makefile")))
    files.append(RenderedFile(".env", env_file(plan, values), 0o600, secret=True))
    for name, file_name in stack_secrets.items():
        # Written once, never shown. 0644 inside the 0700 secrets/ folder: compose
        # bind-mounts the file as it is, and the app's user must read it.
        files.append(RenderedFile(f"secrets/{file_name}", values[name] + "\n", 0o644, secret=True))
    return files


def _dockerignore(plan: Plan, content: str) -> RenderedFile:
    """``.dockerignore``; in a nested layout, ``Dockerfile.dockerignore`` beside the Dockerfile.

    When the build context is a folder above the project, BuildKit reads the ignore
    file named after the Dockerfile (it wins over the context's own .dockerignore),
    and patterns are relative to the context: each applies at both levels.
    """
    if plan.source_dir == ".":
        return RenderedFile(".dockerignore", content)
    lines = []
    for line in content.splitlines():
        lines.append(line)
        if line and not line.startswith(("#", "**/")):  # **/ matches at every depth already
            negated = line.startswith("!")
            pattern = line.lstrip("!")
            lines.append(f"{'!' if negated else ''}{plan.source_dir}/{pattern}")
    return RenderedFile("Dockerfile.dockerignore", "\n".join(lines) + "\n")


def _secret(length: int = 40) -> str:
    # Letters and digits only: no $ (compose interpolation), quotes or backslashes,
    # and safe inside a database URL without %-encoding.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def venv_urls(plan: Plan, db_password: str) -> list[tuple[str, str]]:
    """The service URLs a venv on this machine uses to reach compose.dev.yaml's services.

    compose.yaml sets these variables for its containers itself, so the same .env
    serves the containers and the venv.
    """
    urls = []
    if plan.db == "postgres":
        urls.append(("DATABASE_URL", f"postgres://app:{db_password}@127.0.0.1:5432/app"))
    elif plan.db == "mariadb":
        urls.append(("DATABASE_URL", f"mysql://app:{db_password}@127.0.0.1:3306/app"))
    if plan.redis:
        urls.append(("CACHE_URL", "redis://127.0.0.1:6379/1"))
    if plan.celery:
        urls.append(("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
    if plan.search:
        urls.append(("MEILISEARCH_URL", "http://127.0.0.1:7700"))
    return urls


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file written earlier (``.env``, ``secrets.env``):
    comments skipped, ``export`` and surrounding quotes removed, empty values kept."""
    values = {}
    for line in path.read_text(errors="replace").splitlines():
        name, sep, value = line.strip().partition("=")
        name = name.strip().removeprefix("export ").strip()
        if sep and name and not name.startswith("#"):
            values[name] = value.strip().strip("'\"")
    return values


def env_file(
    plan: Plan,
    values: dict[str, str] | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> str:
    """A fresh .env for this machine (written only when absent).

    The app's secrets are files under secrets/; what stays here are the passwords the
    database and search services read (compose interpolates them into those services).
    """
    values = values or secret_values(plan)
    lines = [
        "# Settings of this machine and the database services' passwords. Generated by",
        "# django-deploykit; never commit. The app's secrets are files in secrets/.",
        "DEBUG=false",
        "ALLOWED_HOSTS=localhost,127.0.0.1",
    ]
    if plan.nginx:
        lines += [
            "# TLS ends at nginx: HTTP redirects to HTTPS, cookies are Secure, and browsers",
            "# are told to use HTTPS only for a year (HSTS). Lower SECURE_HSTS_SECONDS while",
            "# you are unsure the site will keep serving HTTPS.",
            "SECURE_SSL_REDIRECT=true",
            "SECURE_HSTS_SECONDS=31536000",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS=true",
            "SECURE_HSTS_PRELOAD=true",
        ]
    else:
        lines += [
            "# Turn on in production, where TLS ends at nginx or a proxy.",
            "SECURE_SSL_REDIRECT=false",
        ]
    for name in ("DB_PASSWORD", "DB_ROOT_PASSWORD", "MEILISEARCH_MASTER_KEY"):
        if name in values:
            lines.append(f"{name}={values[name]}")
    urls = venv_urls(plan, values.get("DB_PASSWORD", ""))
    if urls:
        lines += [
            "# Django in your venv reaches the services of compose.dev.yaml on 127.0.0.1",
            "# (change the port here too if you set DB_PORT/REDIS_PORT/MEILISEARCH_PORT).",
            "# The containers ignore these lines: compose.yaml sets their own URLs.",
            *(f"{name}={value}" for name, value in urls),
        ]
    uid = os.getuid() if uid is None and hasattr(os, "getuid") else uid
    gid = os.getgid() if gid is None and hasattr(os, "getgid") else gid
    if uid is not None and gid is not None:
        lines += [
            "# Owner of this checkout: compose.dev.yaml builds its image for this user.",
            f"DEV_UID={uid}",
            f"DEV_GID={gid}",
        ]
    return "\n".join(lines) + "\n"
