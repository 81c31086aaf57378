"""Safe regeneration: user edits are kept, --diff/--force/--check/--dry-run, saved choices."""

from __future__ import annotations

import json
import os
import subprocess
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from django_deploykit.docker.writer import STATE_FILE
from django_deploykit.search.app_key import derive_key
from tests.dockerize_helpers import project_settings


@pytest.fixture
def project(tmp_path: Path, settings) -> Path:
    for name, value in project_settings(tmp_path).items():
        setattr(settings, name, value)
    return tmp_path


def run(project: Path, *args: str) -> str:
    out = StringIO()
    call_command("dockerize", "--output-dir", str(project), *args, stdout=out)
    return out.getvalue()


def run_fails(project: Path, *args: str) -> tuple[int, str]:
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("dockerize", "--output-dir", str(project), *args, stdout=out)
    return info.value.returncode, str(info.value) + "\n" + out.getvalue()


def snapshot(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def test_first_run_writes_everything_and_prints_the_table(project: Path) -> None:
    out = run(project)
    for row in ("settings", "database", "server", "static", "dependencies", "python"):
        assert f"  {row} " in out
    for name in (
        "Dockerfile",
        ".dockerignore",
        "docker-entrypoint.sh",
        "compose.yaml",
        "compose.dev.yaml",
        ".env.example",
        "DOCKER.md",
        ".env",
        STATE_FILE,
    ):
        assert (project / name).is_file(), name
    assert os.access(project / "docker-entrypoint.sh", os.X_OK)
    assert (project / ".env").stat().st_mode & 0o077 == 0
    # No temporary files are left behind by the atomic writes.
    assert not list(project.glob(".*.tmp"))
    ignored = (project / ".gitignore").read_text().split()
    for pattern in (".env", ".env.*", "!.env.example", "secrets/", "*.pem", "*.key", "id_rsa*"):
        assert pattern in ignored, pattern


def test_git_add_all_tracks_no_secret_or_key(project: Path) -> None:
    run(project, "--nginx", "--db", "postgres")
    for name in ("certs/privkey.pem", ".env.local", ".env.staging", "id_rsa", "app.env"):
        (project / name).parent.mkdir(exist_ok=True)
        (project / name).write_text("secret\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    tracked = subprocess.run(
        [*git, "ls-files"], cwd=project, check=True, capture_output=True, text=True
    ).stdout.split()
    assert ".env.example" in tracked and "compose.yaml" in tracked
    leaked = [t for t in tracked if t.startswith(("secrets/", "certs/", ".env", "id_rsa"))]
    assert leaked == [".env.example"]
    assert "app.env" not in tracked


def test_secrets_are_files_in_a_private_folder(project: Path) -> None:
    run(project, "--db", "postgres")
    folder = project / "secrets"
    assert folder.stat().st_mode & 0o777 == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["database_password", "deploykit_health_token", "secret_key"]
    env = (project / ".env").read_text()
    assert "SECRET_KEY" not in env
    # One value, two readers: the database service (.env) and the app (the file).
    password = (folder / "database_password").read_text().strip()
    assert f"DB_PASSWORD={password}\n" in env
    assert len((folder / "deploykit_health_token").read_text().strip()) >= 32


def test_an_older_env_seeds_the_secret_files(project: Path) -> None:
    """A stack made before secrets/ existed keeps its key and database password."""
    (project / ".env").write_text("SECRET_KEY=kept-key-of-the-old-stack\nDB_PASSWORD=oldpw\n")
    run(project, "--db", "postgres")
    assert (project / "secrets/secret_key").read_text() == "kept-key-of-the-old-stack\n"
    assert (project / "secrets/database_password").read_text() == "oldpw\n"
    assert (project / ".env").read_text().startswith("SECRET_KEY=kept-key")  # untouched


def test_a_stack_from_before_the_app_search_key_gets_it_derived(project: Path) -> None:
    """Only the master key existed (in .env and secrets/): the re-run adds the app's key,
    derived from that master key, and changes none of the existing secrets."""
    (project / ".env").write_text("MEILISEARCH_MASTER_KEY=old-master\nSECRET_KEY=old-key\n")
    (project / "secrets").mkdir(mode=0o700)
    (project / "secrets/meilisearch_master_key").write_text("old-master\n")
    before = (project / ".env").read_text()
    out = run(project, "--search")
    assert (project / "secrets/meilisearch_api_key").read_text() == (
        derive_key("old-master") + "\n"
    )
    assert (project / "secrets/meilisearch_master_key").read_text() == "old-master\n"
    assert (project / ".env").read_text() == before
    assert "old-master" not in out and derive_key("old-master") not in out
    # A uid chosen in .env (a replaced app key) is the one the key is derived for.
    (project / "secrets/meilisearch_api_key").unlink()
    uid = "0b7c2a4e-1f3d-4c5b-8a6e-9d0f1e2a3b4c"
    (project / ".env").write_text(before + f"MEILISEARCH_API_KEY_UID={uid}\n")
    run(project, "--search")
    assert (project / "secrets/meilisearch_api_key").read_text().strip() == derive_key(
        "old-master", uid
    )
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert "meilisearch_master_key" not in compose["services"]["web"]["secrets"]


def test_rerun_changes_nothing(project: Path) -> None:
    run(project)
    before = snapshot(project)
    out = run(project)
    assert "create" not in out and "update" not in out
    assert snapshot(project) == before


def test_env_has_fresh_safe_secrets_and_is_never_replaced_or_shown(project: Path) -> None:
    run(project, "--db", "mariadb", "--search")
    env = dict(
        line.split("=", 1)
        for line in (project / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env["SECRET_KEY"] = (project / "secrets/secret_key").read_text().strip()
    for key in ("SECRET_KEY", "DB_PASSWORD", "DB_ROOT_PASSWORD", "MEILISEARCH_MASTER_KEY"):
        assert len(env[key]) >= 32 and not set(env[key]) & set("$'\"\\ "), key
    (project / ".env").write_text("SECRET_KEY=mine\n")
    (project / "secrets/secret_key").write_text("mine-too\n")
    out = run(project, "--diff", "--force")
    assert (project / ".env").read_text() == "SECRET_KEY=mine\n"
    assert (project / "secrets/secret_key").read_text() == "mine-too\n"
    assert env["SECRET_KEY"] not in out and "mine" not in out
    # Every variable of the list is documented in .env.example, secrets left empty.
    example = (project / ".env.example").read_text()
    assert "\nSECRET_KEY=\n" in example and "\nDB_PASSWORD=\n" in example
    assert "\nGUNICORN_WORKERS=2\n" in example
    assert env["DB_PASSWORD"] not in example


def test_user_edit_is_kept_and_reported(project: Path) -> None:
    run(project)
    dockerfile = project / "Dockerfile"
    edited = dockerfile.read_text() + "LABEL org.example.team=web\n"
    dockerfile.write_text(edited)
    out = run(project)
    assert "kept (edited by you" in out
    assert dockerfile.read_text() == edited
    # --check accepts an edit when deploykit has nothing new for the file.
    assert "up to date" in run(project, "--check")


def test_conflict_diff_and_force(project: Path) -> None:
    run(project)
    dockerfile = project / "Dockerfile"
    edited = dockerfile.read_text() + "LABEL org.example.team=web\n"
    dockerfile.write_text(edited)
    # The generated version changes too (another port): a real conflict.
    out = run(project, "--port", "9000", "--diff")
    assert "KEPT" in out and dockerfile.read_text() == edited
    assert "-EXPOSE 8000" in out and "+EXPOSE 9000" in out
    assert "-LABEL org.example.team=web" in out
    code, text = run_fails(project, "--check")
    assert code == 1 and "stale" in text
    run(project, "--force")
    assert "EXPOSE 9000" in dockerfile.read_text()
    assert "LABEL org.example.team" not in dockerfile.read_text()
    assert "up to date" in run(project, "--check")


def test_untouched_files_are_updated_when_choices_change(project: Path) -> None:
    run(project)
    out = run(project, "--db", "postgres")
    assert "compose.yaml           update" in out
    assert (
        "postgres"
        in yaml.safe_load((project / "compose.yaml").read_text())["services"]["db"]["image"]
    )


def test_check_fails_on_missing_file_and_writes_nothing(project: Path) -> None:
    code, text = run_fails(project, "--check")
    assert code == 1 and "missing or stale" in text
    assert not (project / "Dockerfile").exists() and not (project / STATE_FILE).exists()
    run(project)
    (project / "compose.dev.yaml").unlink()
    code, _ = run_fails(project, "--check")
    assert code == 1
    assert not (project / "compose.dev.yaml").exists()


def test_dry_run_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    out = run(project, "--dry-run", "--db", "postgres")
    assert "Dockerfile             create" in out and "nothing written" in out
    assert snapshot(project) == before
    run(project)
    (project / "DOCKER.md").write_text("mine\n")
    before = snapshot(project)
    out = run(project, "--dry-run", "--diff", "--nginx")
    # nginx/default.conf exists already (it serves media): the diff adds the TLS server.
    assert "+    ssl_certificate " in out
    assert "nginx/default.conf" in out and "-mine" in out
    assert snapshot(project) == before


def test_choices_persist_and_only_non_defaults_are_saved(project: Path) -> None:
    run(project, "--db", "postgres", "--port", "8000", "--no-nginx", "--makefile")
    state = json.loads((project / STATE_FILE).read_text())
    assert state["choices"] == {"db": "postgres", "makefile": True}
    assert set(state["files"]) >= {"Dockerfile", "compose.yaml", "Makefile"}
    assert ".env" not in state["files"]
    out = run(project)  # a bare re-run regenerates the same stack
    assert "[saved]" in out
    assert "update" not in out and "create" not in out
    run(project, "--reset")
    assert json.loads((project / STATE_FILE).read_text())["choices"] == {}
    assert "db" not in yaml.safe_load((project / "compose.yaml").read_text())["services"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--check", "--force"), "--check only reports"),
        (("--dry-run", "--build"), "--dry-run writes nothing"),
        (("--tag", "x:1"), "add --build"),
        (("--python", "2.7"), "not a supported version"),
        (("--port", "70000"), "out of range"),
        (("--celery",), "no Celery app was found"),
        (("--build-arg", "NOVALUE"), "KEY=VALUE"),
    ],
)
def test_bad_options_fail_before_writing(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    code, text = run_fails(project, *args)
    assert code == 2 and message in text
    assert not (project / "Dockerfile").exists() and not (project / STATE_FILE).exists()


def test_contradictory_flags_are_refused(project: Path) -> None:
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("dockerize", "--output-dir", str(project), "--search", "--no-search")
    assert not (project / "Dockerfile").exists()


def test_no_dependency_file_says_what_to_add(project: Path) -> None:
    (project / "requirements.txt").unlink()
    code, text = run_fails(project)
    assert code == 2 and "Add a requirements.txt" in text
    assert not (project / "Dockerfile").exists()


def test_corrupt_state_file_is_an_error_not_a_reset(project: Path) -> None:
    run(project)
    (project / STATE_FILE).write_text("{not json")
    code, text = run_fails(project)
    assert code == 2 and "not valid JSON" in text


def test_project_template_overrides_the_packaged_one(project: Path, settings) -> None:
    templates = project / "templates"
    (templates / "deploykit").mkdir(parents=True)
    (templates / "deploykit" / "DOCKER.md").write_text(
        "# Our way\n{% if plan.db == 'sqlite' %}\nSQLite on {{ plan.port }}\n{% endif %}\n"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [templates]}]
    run(project)
    assert (project / "DOCKER.md").read_text() == "# Our way\nSQLite on 8000\n"


def test_unreachable_engine_fails_before_writing(project: Path, monkeypatch) -> None:
    # A closed loopback port: no engine answers there.
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    code, text = run_fails(project, "--build")
    assert code == 3
    assert "No Docker engine answers at tcp://127.0.0.1:9" in text and "DOCKER_HOST" in text
    assert not (project / "Dockerfile").exists()


def _cli_has_buildx() -> bool:
    from django_deploykit.docker import engine

    try:
        return engine.has_buildx(engine.docker_cli())
    except engine.ServiceUnavailable:
        pytest.skip("no docker CLI")


def test_multi_platform_without_buildx_fails_before_writing(project: Path) -> None:
    if _cli_has_buildx():
        pytest.skip("this docker CLI has buildx: the multi-platform path needs a registry")
    code, text = run_fails(project, "--build", "--platform", "linux/amd64,linux/arm64")
    assert code == 2, text
    assert "docker buildx" in text and "docker-buildx" in text  # what it is and how to get it
    assert "--platform linux/arm64" in text  # one platform at a time needs no buildx
    assert "Traceback" not in text
    assert not (project / "Dockerfile").exists() and not (project / STATE_FILE).exists()


@pytest.mark.parametrize(
    "value", ["arm64", "linux/", "linux/arm64,", "linux/arm64 linux/amd64", "Linux/ARM64"]
)
def test_malformed_platform_is_a_usage_error(project: Path, value: str) -> None:
    code, text = run_fails(project, "--build", "--platform", value)
    assert code == 2, text
    assert repr(value) in text and "linux/arm64" in text
    assert not (project / "Dockerfile").exists()


def line_of(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(name + " "))


def test_force_replaces_an_edit_even_when_the_rendering_did_not_change(project: Path) -> None:
    run(project)
    dockerfile = project / "Dockerfile"
    generated = dockerfile.read_text()
    dockerfile.write_text(generated + "LABEL org.example.team=web\n")
    out = run(project, "--force")
    # --help says: replace files you edited. The status line says what happened.
    assert dockerfile.read_text() == generated
    assert "replaced (--force)" in line_of(out, "Dockerfile") and "KEPT" not in out
    assert (project / "Dockerfile.orig").read_text().endswith("team=web\n")


EXISTING_DOCKERFILE = "FROM python:3.12\nCOPY . /srv\nCMD gunicorn site.wsgi\n"
EXISTING_COMPOSE = "services:\n  web:\n    build: .\n    ports: ['8000:8000']\n"


def test_a_project_with_its_own_docker_files_is_refused_whole(project: Path) -> None:
    (project / "Dockerfile").write_text(EXISTING_DOCKERFILE)
    (project / "docker-compose.yml").write_text(EXISTING_COMPOSE)
    before = snapshot(project)
    code, text = run_fails(project)
    # Refused before anything is written, naming the files and the choices.
    assert code == 2
    assert "Dockerfile" in text and "docker-compose.yml" in text
    assert "--force" in text and "--diff" in text
    assert snapshot(project) == before
    # The dry run shows the same without failing.
    out = run(project, "--dry-run")
    assert "NOT deploykit's" in line_of(out, "Dockerfile")
    assert "competes with compose.yaml" in line_of(out, "docker-compose.yml")
    assert snapshot(project) == before
    # --check reports them as stale.
    assert run_fails(project, "--check")[0] == 1


def test_force_converts_a_project_with_its_own_docker_files_keeping_copies(
    project: Path,
) -> None:
    (project / "Dockerfile").write_text(EXISTING_DOCKERFILE)
    (project / "docker-compose.yml").write_text(EXISTING_COMPOSE)
    out = run(project, "--force")
    assert "replaced (--force)" in line_of(out, "Dockerfile")
    assert "moved to docker-compose.yml.orig" in line_of(out, "docker-compose.yml")
    assert (project / "Dockerfile.orig").read_text() == EXISTING_DOCKERFILE
    assert (project / "docker-compose.yml.orig").read_text() == EXISTING_COMPOSE
    assert not (project / "docker-compose.yml").exists()
    assert "AS runtime" in (project / "Dockerfile").read_text()
    # The whole set is there and a re-run is clean, with no refusal.
    assert "up to date" in run(project, "--check")
    assert "edited by you" not in run(project)


def test_files_deploykit_never_wrote_are_not_called_edits(project: Path) -> None:
    run(project)
    (project / STATE_FILE).unlink()  # e.g. a clone without the state file
    (project / "Dockerfile").write_text(EXISTING_DOCKERFILE)
    code, text = run_fails(project)
    assert code == 2 and "did not write: Dockerfile" in text
    assert "edited by you" not in text


def test_the_run_ends_with_the_next_command_and_the_caveats(project: Path) -> None:
    out = run(project).rstrip("\n").splitlines()
    assert out[-1] == f"Next: cd {project.resolve()} && docker compose up -d --wait --build"
    header = next(line for line in out if line.startswith("Caveats ("))
    count = int(header.removeprefix("Caveats (").split(")")[0])
    caveats = out[out.index(header) + 1 : -1]
    # Each caveat found is listed, as many as the header says.
    assert count >= 1 and len([c for c in caveats if c.startswith("  - ")]) == count, out


def test_env_files_written_earlier_are_read_one_way(tmp_path):
    from django_deploykit.docker.render import read_env_file

    path = tmp_path / "secrets.env"
    path.write_text(
        "# a comment=with an equals sign\n"
        "export SECRET_KEY='quoted value'\n"
        'DB_PASSWORD="a=b"\n'
        "  MEILISEARCH_MASTER_KEY = spaced  \n"
        "MEILISEARCH_API_KEY=\n"
        "not a line\n"
    )
    assert read_env_file(path) == {
        "SECRET_KEY": "quoted value",
        "DB_PASSWORD": "a=b",
        "MEILISEARCH_MASTER_KEY": "spaced",
        "MEILISEARCH_API_KEY": "",
    }
