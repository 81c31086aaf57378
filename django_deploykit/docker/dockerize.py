"""The ``dockerize`` flow: detect → plan → render → compare/write (→ build).

Commands call :func:`dockerize`; it returns an exit code and reports through
``out`` (one line per call) so tests and other tools can drive it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django_deploykit.docker import engine, writer
from django_deploykit.docker.detect import Facts, base_dir_of_project, detect
from django_deploykit.docker.plan import (
    STATIC_DEFAULTS,
    Choices,
    Plan,
    make_plan,
    merge,
    saved_choices,
)
from django_deploykit.docker.render import read_env_file, render_all, venv_urls
from django_deploykit.docker.source import carry_wheel, installed_source
from django_deploykit.docker.targets import (
    ScaleOptions,
    add_app_search_key,
    known_secrets,
    render_target,
)
from django_deploykit.env.overlay import Overlay, explain, preview
from django_deploykit.env.variables import VARIABLES
from django_deploykit.exceptions import ConfigError

__all__ = ["EXIT_BUILD", "EXIT_CONFIG", "EXIT_OK", "EXIT_STALE", "Options", "dockerize"]

SECRET_NAMES = frozenset(v.name for v in VARIABLES if v.secret)
#: Read from an existing .env with the secrets: the app's search key is derived from it.
_KNOWN_NAMES = SECRET_NAMES | {"MEILISEARCH_API_KEY_UID"}
EXIT_OK = 0
EXIT_STALE = 1
EXIT_CONFIG = 2
EXIT_BUILD = 3

_LABELS = {
    "create": "create",
    "update": "update",
    "unchanged": "unchanged",
    "kept": "kept (edited by you since deploykit wrote it; --force replaces)",
    "conflict": "KEPT: edited by you; the new version differs (--diff shows, --force replaces)",
    "foreign": "NOT deploykit's: the project's own file differs (--diff shows)",
}
#: What --force did to the user's files.
_FORCED = "replaced (--force); yours saved as {backup}"


@dataclass
class Options:
    choices: Choices = field(default_factory=Choices)
    output_dir: Path | None = None
    diff: bool = False
    force: bool = False
    check: bool = False
    dry_run: bool = False
    reset: bool = False
    build: bool = False
    tag: str | None = None
    platform: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    #: --target kubernetes|swarm: their files join the image's (refusals raise first).
    scale: ScaleOptions | None = None


def validate(options: Options) -> None:
    """Contradictory options: an error before anything is read or written."""
    if options.check and (options.force or options.build or options.dry_run):
        raise ConfigError(
            "--check only reports: do not combine it with --force, --dry-run or --build."
        )
    if options.dry_run and (options.force or options.build):
        raise ConfigError("--dry-run writes nothing: do not combine it with --force or --build.")
    if (options.tag or options.platform or options.build_args) and not options.build:
        raise ConfigError("--tag, --platform and --build-arg apply to a build: add --build.")
    if options.platform is not None:
        engine.parse_platforms(options.platform)


def dockerize(options: Options, out: Callable[[str], None] = print) -> int:
    validate(options)
    directory = (options.output_dir or base_dir_of_project()).resolve()
    state = writer.load_state(directory)
    saved = Choices() if options.reset else saved_choices(state["choices"])
    choices = merge(saved, options.choices)
    facts = detect(directory, settings_module=choices.settings, configuration=choices.configuration)
    plan = make_plan(facts, choices, installed_source())
    for line in table(plan, saved, options.choices):
        out(line)
    overlay = container_preview(plan)
    out(f"container settings: {facts.settings_module} with these changes (not in your files):")
    for line in explain(overlay):
        out(line)
    files = render_all(plan, _known_secrets(directory))
    if options.scale is not None:
        files += render_target(plan, options.scale, known_secrets(directory, options.scale))
    changes = writer.compare(directory, files, state)
    caveats = [*facts.caveats, *plan.notes, *overlay.warnings]
    foreign = [c.path for c in changes if c.status == "foreign"]
    competing = writer.competing(directory, state)
    writes = not (options.check or options.dry_run)
    if writes and (foreign or competing) and not options.force:
        # Never a half conversion: the whole set is written, or nothing.
        raise ConfigError(_refusal(directory, foreign, competing))
    forced = options.force and writes
    out("")
    for change in changes:
        if change.file.secret and change.status != "create":
            continue
        label = _LABELS[change.status]
        if forced and change.status in writer.USERS:
            label = _FORCED.format(backup=f"{change.path}{writer.BACKUP_SUFFIX}")
        out(f"  {change.path:<22} {label}")
        if options.diff and change.status in ("update", "conflict", "kept", "foreign"):
            out(change.diff().rstrip("\n"))
    for name in competing:
        action = "moved to {}" if forced else "competes with compose.yaml (--force moves it to {})"
        out(f"  {name:<22} {action.format(name + writer.BACKUP_SUFFIX)}")
    stale = [c for c in changes if c.stale] + competing
    if options.scale is not None and plan.search:
        missing_key = add_app_search_key(directory, options.scale, write=False)
        for path in missing_key:
            done = "adding it, derived from its master key" if writes else "dockerize adds it"
            out(f"  {path:<22} lacks MEILISEARCH_API_KEY (the app's search key): {done}")
        stale += missing_key
    if options.check:
        _caveats(caveats, out)
        if stale:
            out(f"{len(stale)} file(s) missing or stale: run `manage.py dockerize`.")
            return EXIT_STALE
        out("All generated files are up to date.")
        return EXIT_OK
    if options.dry_run:
        _caveats(caveats, out)
        if foreign or competing:
            out(_refusal(directory, foreign, competing))
        out("Dry run: nothing written.")
        return EXIT_OK
    if options.build:
        # Fail before writing when the build could not run anyway.
        cli = engine.docker_cli()
        if options.platform:
            engine.check_builder(cli, engine.parse_platforms(options.platform))
        engine.client().close()
    if plan.deploykit.carried:
        carried = carry_wheel(plan.deploykit, directory / plan.build_context)
        out(f"  {plan.build_context}/.deploykit/{carried.wheel}  (deploykit for the image)")
    for name in competing if forced else ():
        writer.backup(directory, name)
    written = writer.apply(directory, changes, state, plan.saved, force=options.force)
    if options.scale is not None and plan.search:
        # Derived from each file's own master key; no existing line changes.
        add_app_search_key(directory, options.scale, write=True)
    if any(c.file.secret for c in written) and writer.ensure_gitignored(directory):
        out("  .gitignore             secrets and key files added")
    out(f"Wrote {len(written)} file(s) in {directory}.")
    env_created = any(c.file.secret and c.status == "create" for c in written)
    for line in development_steps(plan, env_created):
        out(line)
    _caveats(caveats, out)
    if options.build:
        tag = options.tag or f"{plan.project}:latest"
        out(f"Building {tag} with BuildKit…")
        try:
            engine.build(
                (directory / plan.build_context).resolve(),
                tag,
                dockerfile=directory / "Dockerfile",
                platform=options.platform,
                build_args=options.build_args,
                output=out,
                check_engine=False,
            )
        except engine.BuildError as exc:
            out(str(exc))
            if options.platform:
                out(
                    f"A build for {options.platform} on an engine of another architecture "
                    "runs under QEMU emulation: if a step failed with 'exec format error', "
                    "register it on the engine's host (see the Raspberry Pi page of the docs)."
                )
            return EXIT_BUILD
        if options.platform and "," in options.platform:
            out(
                f"Built {tag} for {options.platform}. A multi-platform image cannot be loaded "
                "into the engine: it stays in buildx's cache; push it with `docker buildx "
                f"build --platform {options.platform} --tag <registry>/{tag} --push .`."
            )
            return EXIT_OK
        out(f"Built {tag}.")
    out(f"Next: cd {directory} && docker compose up -d --wait{'' if options.build else ' --build'}")
    return EXIT_OK


def _caveats(caveats: list[str], out: Callable[[str], None]) -> None:
    """What detection found but could not fix, last so it is read."""
    if caveats:
        out(f"Caveats ({len(caveats)}):")
        for caveat in caveats:
            out(f"  - {caveat}")


def _refusal(directory: Path, foreign: list[str], competing: list[str]) -> str:
    names = ", ".join([*foreign, *competing])
    return (
        f"{directory} already has Docker files deploykit did not write: {names}. Nothing "
        "was written. Choose: `dockerize --diff --dry-run` to compare; `dockerize --force` "
        "to replace them with the generated set (each saved as NAME.orig first, "
        "docker-compose.yml and other competing names moved to NAME.orig); or keep yours "
        "and do not use dockerize for this project."
    )


def container_preview(plan: Plan) -> Overlay:
    """The container settings' overrides for this plan, as the image will apply them."""
    from django.conf import settings

    urls = {
        "sqlite": f"sqlite:///{plan.data_path}/db.sqlite3",
        "mariadb": "mysql://app:password@db:3306/app",
        "postgres": "postgres://app:password@db:5432/app",
    }
    environ = {
        "SECRET_KEY": "generated-in-.env",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DATABASE_URL": urls[plan.db],
        "DEPLOYKIT_MEDIA_ROOT": plan.media_path,
    }
    if plan.static_path:
        environ["DEPLOYKIT_STATIC_ROOT"] = plan.static_path
    return preview(
        settings,
        environ,
        base_module=plan.facts.settings_module,
        whitenoise=plan.collectstatic,
        configuration=plan.facts.configuration,
    )


def _known_secrets(directory: Path) -> dict[str, str]:
    """Secrets an existing .env already holds: the secret files start from them.

    Older versions kept SECRET_KEY (and the database password the volume was created
    with) in .env; new secrets/ files must carry the same values, not fresh ones.
    """
    path = directory / ".env"
    if not path.is_file():
        return {}
    return {k: v for k, v in read_env_file(path).items() if k in _KNOWN_NAMES and v}


def _source(name: str, saved: Choices, flags: Choices) -> str:
    if getattr(flags, name) is not None:
        return "option"
    if getattr(saved, name) is not None:
        return "saved"
    return "default" if name in STATIC_DEFAULTS else "detected"


def table(plan: Plan, saved: Choices, flags: Choices) -> list[str]:
    facts: Facts = plan.facts
    externals = ", ".join(f"{a.alias} ({a.vendor}, external)" for a in facts.external_databases)
    deps = facts.dependencies
    why = facts.settings.reason if facts.settings else "detected"
    if why == "--settings":
        why = _source("settings", saved, flags)
    python_why = _source("python", saved, flags)
    rows = [("settings", facts.settings_module, why)]
    if facts.configuration and facts.settings:
        rows.append(
            ("configuration", facts.configuration, facts.settings.configuration_reason or "")
        )
    rows += [
        (
            "python",
            plan.python_version,
            facts.python_source if python_why == "detected" else python_why,
        ),
        (
            "database",
            plan.db + (f"; {externals}" if externals else ""),
            _source("db", saved, flags),
        ),
        ("server", f"{plan.server} {plan.app_target}", _source("server", saved, flags)),
        ("static", _static(plan), "detected"),
        ("media", facts.media_root or "(MEDIA_ROOT unset: /app/media)", "detected"),
        ("search", "meilisearch" if plan.search else "off", _source("search", saved, flags)),
        (
            "celery",
            (f"{facts.celery_app}" + (" + beat" if plan.beat else "")) if plan.celery else "off",
            _source("celery", saved, flags),
        ),
        ("redis", "yes" if plan.redis else "no", "detected"),
        ("nginx", "yes" if plan.nginx else "no", _source("nginx", saved, flags)),
        ("port", str(plan.port), _source("port", saved, flags)),
        ("dependencies", deps.described + _context(plan), "detected"),
        ("deploykit", plan.deploykit.described, "installed here"),
        (
            "front-end",
            f"Node build → {facts.node_output}" if facts.node_output else "none",
            "detected",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"dockerize: {facts.base_dir}"]
    lines += [f"  {name:<{width}}  {value}  [{source}]" for name, value, source in rows]
    return lines


def _context(plan: Plan) -> str:
    if plan.build_context == ".":
        return ""
    return f" (build context {plan.build_context}: the project is {plan.source_dir}/ in it)"


def _static(plan: Plan) -> str:
    facts = plan.facts
    if facts.remote_static:
        return f"remote storage {facts.static_storage} (collected when migrate runs)"
    if not plan.static_path:
        return "staticfiles not installed: not collected"
    root = facts.static_root or f"{plan.static_path} (STATIC_ROOT unset)"
    served = "whitenoise" if facts.whitenoise else "whitenoise, added in the container"
    return f"{root} ({'nginx' if plan.nginx else served})"


def development_steps(plan: Plan, env_created: bool) -> list[str]:
    """How to develop in the stack, or in the venv against its services."""
    dev = "docker compose -f compose.yaml -f compose.dev.yaml"
    services = " ".join(
        name
        for name, used in (
            ("db", plan.db != "sqlite"),
            ("meilisearch", plan.search),
            ("redis", plan.redis),
        )
        if used
    )
    lines = [f"Development: {dev} up --build --wait   (code mounted, reload on save)"]
    urls = venv_urls(plan, "<DB_PASSWORD>")
    if not services:
        lines.append("Django in your venv needs no service (SQLite): python manage.py runserver")
        return lines
    lines.append(f"Django in your venv: {dev} up -d --wait {services}")
    names = ", ".join(name for name, _ in urls)
    if env_created:
        lines.append(f"  .env gives the venv {names} on 127.0.0.1 (DEBUG=true in your shell).")
    else:
        lines.append("  Your .env was kept; the venv needs these lines in it (see DOCKER.md):")
        lines += [f"    {name}={value}" for name, value in urls]
    return lines
