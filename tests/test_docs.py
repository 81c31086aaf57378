"""The docs say only true things: they build cleanly, and what they name exists.

* Sphinx builds with warnings as errors and nitpicky references (every ``:doc:``
  and ``:ref:`` resolves), once per session.
* Every system check id in the code has a row in reference/checks.rst and back.
* Every ``.. code-block:: python`` compiles.
* Every ``manage.py <command> --option`` in the docs is accepted by that
  command's real parser.
* Every environment variable the docs assign or expand is in ``VARIABLES``.
* The generated commands reference lists every command and every literal exit code.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import generate_reference  # noqa: E402

from django_deploykit.conf import SETTINGS  # noqa: E402
from django_deploykit.env.variables import VARIABLES  # noqa: E402

PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_generated" not in p.parts)
OURS = generate_reference.command_names()
CHECK_ID = re.compile(r"\bdeploykit\.[EWI]\d{3}\b")

#: Variables the docs may name that belong to Docker, Django or the test suite.
FOREIGN_VARIABLES = {
    "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "DOCKER_HOST", "DOCKER_BUILDKIT", "PATH",
    "DJANGO_SETTINGS_MODULE", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_EMAIL", "DEPLOYKIT_REQUIRE_TIERS", "MEILI_ENV", "MEILI_MASTER_KEY",
    "PYTHONBREAKPOINT", "UID", "GID", "HOME", "PWD",
}  # fmt: skip
FOREIGN_PREFIXES = ("DEPLOYKIT_TEST_", "MARIADB_", "MYSQL_", "POSTGRES_")


@pytest.fixture(scope="session")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    # A separate process: conf.py configures Django on its own, as in CI and tox.
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_docs_build_with_warnings_as_errors(html: Path) -> None:
    index = (html / "index.html").read_text()
    for page in ("reference/commands", "reference/checks", "reference/environment"):
        assert f'href="{page}.html"' in index


def test_commands_reference_is_the_real_parsers(html: Path) -> None:
    text = (html / "reference" / "commands.html").read_text()
    for name in OURS:
        assert f'id="command-{name.replace("_", "-")}"' in text
        for flag in generate_reference.option_flags(generate_reference.command_parser(name)):
            if flag not in ("-h", "--help", "--version"):
                assert flag in text, f"{name} {flag} missing from the commands reference"


@pytest.mark.parametrize("name", OURS)
def test_every_exit_code_of_a_command_is_documented(name: str) -> None:
    paragraph = generate_reference.exit_codes(name)
    module = sys.modules[f"django_deploykit.management.commands.{name}"]
    source = Path(module.__file__ or "").read_text()
    codes = {int(c) for c in re.findall(r"returncode=(\d+)", source)}
    for constant in re.findall(r"returncode=([A-Z_]+)\b", source):
        codes.add(int(getattr(module, constant)))
    for code in codes:
        assert re.search(rf"\b{code}\b", paragraph), f"{name}: exit code {code} undocumented"


def _documented_ids() -> set[str]:
    text = (DOCS / "reference" / "checks.rst").read_text()
    return set(re.findall(r"^   \* - ``(deploykit\.[EWI]\d{3})``", text, re.M))


def test_every_check_id_has_a_row_and_every_row_a_check() -> None:
    in_code = set()
    for path in (ROOT / "django_deploykit").rglob("*.py"):
        in_code |= set(CHECK_ID.findall(path.read_text()))
    rows = _documented_ids()
    assert in_code - rows == set(), "check ids without a row in docs/reference/checks.rst"
    assert rows - in_code == set(), "rows in docs/reference/checks.rst with no check in the code"


def _blocks(language: str) -> list[tuple[str, str]]:
    """(page:line, code) of every ``.. code-block:: <language>`` in the docs."""
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() != f".. code-block:: {language}":
                continue
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            code = textwrap.dedent("\n".join(b for b in body if not b.strip().startswith(":")))
            found.append((f"{page.relative_to(DOCS)}:{i + 1}", code))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks("python"))
def test_python_snippets_compile(where: str, code: str) -> None:
    compile(code, where, "exec")


#: ``manage.py cmd …``, the entrypoint's ``web manage cmd …``, or ``dockerize --x`` alone.
_INVOCATION = re.compile(
    r"(?:manage\.py\s+|\bmanage\s+|\b(?=(?:" + "|".join(OURS) + r")\s+-))([a-z_]+)(.*)"
)


def _invocations() -> list[tuple[str, str, list[str]]]:
    found = []
    for page in [*PAGES, *(DOCS / "_generated").glob("*.rst")]:
        text = page.read_text().replace("\\\n", " ")
        for number, line in enumerate(text.splitlines(), 1):
            for match in _INVOCATION.finditer(line):
                rest = re.split(r"``|`|&&|\|\||;|#|\|", match.group(2))[0]
                try:
                    words = shlex.split(rest)
                except ValueError:
                    words = rest.split()
                found.append((f"{page.name}:{number}", match.group(1), words))
    return found


def test_every_command_line_in_the_docs_parses() -> None:
    commands = get_commands()
    problems = []
    checked = 0
    for where, name, words in _invocations():
        if name not in commands:
            if name in ("py", "seed_posts", "shell", "runserver"):
                continue  # not installed in the test settings, or no options given
            problems.append(f"{where}: no command {name!r}")
            continue
        parser = load_command_class(commands[name], name).create_parser("manage.py", name)
        flags = generate_reference.option_flags(parser)
        for word in words:
            option = word.split("=", 1)[0]
            if re.fullmatch(r"--?[a-z][a-z0-9-]*", option) and option not in flags:
                problems.append(f"{where}: manage.py {name} has no option {option}")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 20  # the scan found the docs' commands


_ENV_USE = re.compile(
    r"(?<![\w.])\$\{?([A-Z][A-Z0-9_]+)"  # $NAME, ${NAME}
    r"|^\s*(?:\$\s+)?(?:export\s+)?([A-Z][A-Z0-9_]{2,})="  # NAME=value lines
    r"|``([A-Z][A-Z0-9_]{2,})=",  # ``NAME=value`` in prose
    re.M,
)


def test_every_environment_variable_in_the_docs_exists() -> None:
    known = {v.name for v in VARIABLES} | {v.file_variant for v in VARIABLES if v.secret}
    known |= set(SETTINGS)
    unknown = []
    for page in PAGES:
        for match in _ENV_USE.finditer(page.read_text()):
            name = next(g for g in match.groups() if g)
            if name in known or name in FOREIGN_VARIABLES or name.startswith(FOREIGN_PREFIXES):
                continue
            unknown.append(f"{page.relative_to(DOCS)}: {name}")
    assert not unknown, "variables not in django_deploykit.env.variables.VARIABLES:\n" + "\n".join(
        unknown
    )
