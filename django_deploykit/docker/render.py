"""Render the plan with Django's template engine into file contents.

Templates live in ``templates/deploykit/``; a project overrides one by putting a
file of the same name in its own templates (``DIRS`` or an app listed before
``django_deploykit``), exactly like admin templates. Lines holding only template
tags leave no blank line behind (like Jinja's trim_blocks + lstrip_blocks), so
templates can be laid out readably.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template import Context, Engine
from django.template.loaders import app_directories, filesystem

from django_deploykit.docker.plan import Plan
from django_deploykit.env.variables import GROUPS, VARIABLES, Variable

__all__ = ["RenderedFile", "engine", "env_file", "render_all"]

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
        unused |= {"MEILISEARCH_IMAGE", "MEILISEARCH_PORT"}
    if not plan.redis:
        unused |= {"REDIS_IMAGE", "REDIS_PORT"}
    if not plan.nginx:
        unused |= {"NGINX_IMAGE", "HTTP_PORT", "HTTPS_PORT", "TLS_CERT_DIR"}
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


def render_all(plan: Plan) -> list[RenderedFile]:
    eng = engine()
    context = {"plan": plan, "facts": plan.facts, "env_groups": _variables(plan)}

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
    if plan.nginx:
        files.append(RenderedFile("nginx/default.conf", render("nginx.conf")))
    if plan.makefile:
        files.append(RenderedFile("Makefile", render("Makefile")))
    files.append(RenderedFile(".env", env_file(plan), 0o600, secret=True))
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
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            pattern = line.lstrip("!")
            lines.append(f"{'!' if negated else ''}{plan.source_dir}/{pattern}")
    return RenderedFile("Dockerfile.dockerignore", "\n".join(lines) + "\n")


def _secret(length: int = 40) -> str:
    # Letters and digits only: no $ (compose interpolation), quotes or backslashes,
    # and safe inside a database URL without %-encoding.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def env_file(plan: Plan) -> str:
    """A fresh .env for this machine with random secrets (written only when absent)."""
    lines = [
        "# Secrets and settings of this machine. Generated by django-deploykit; never commit.",
        f"SECRET_KEY={_secret(50)}",
        "DEBUG=false",
        "ALLOWED_HOSTS=localhost,127.0.0.1",
        "# Turn on in production, where TLS ends at nginx or a proxy.",
        "SECURE_SSL_REDIRECT=false",
    ]
    if plan.db != "sqlite":
        lines.append(f"DB_PASSWORD={_secret()}")
    if plan.db == "mariadb":
        lines.append(f"DB_ROOT_PASSWORD={_secret()}")
    if plan.search:
        lines.append(f"MEILISEARCH_MASTER_KEY={_secret()}")
    return "\n".join(lines) + "\n"
