"""Every golden scenario renders exactly the files kept in tests/golden/<scenario>/.

No Docker: this only renders. A deliberate template change fails here with the diff;
refresh with ``make golden`` and review ``git diff tests/golden``.
"""

from __future__ import annotations

import difflib
import re

import pytest

from tests.golden import REFRESH, SCENARIOS, render_scenario, stored


def _diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    lines: list[str] = []
    for path in sorted(set(expected) | set(actual)):
        before, after = expected.get(path), actual.get(path)
        if before == after:
            continue
        lines += difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            (after or "").splitlines(keepends=True),
            fromfile=f"golden/{path}" if before is not None else "/dev/null",
            tofile=f"rendered/{path}" if after is not None else "/dev/null",
        )
    return "".join(lines)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_outputs_match_the_golden_files(name: str) -> None:
    expected = stored(name)
    assert expected, f"tests/golden/{name}/ is empty: run {REFRESH}"
    actual = render_scenario(name)
    diff = _diff(expected, actual)
    assert not diff, f"{name}: the generated files changed. If intended, run {REFRESH}\n{diff}"


def test_rendering_is_deterministic() -> None:
    assert render_scenario("kubernetes") == render_scenario("kubernetes")


#: Names of one CPU architecture: a generated file holding one would build or run on
#: that CPU only (the Pi is arm64, most servers amd64).
_ARCH = re.compile(r"amd64|x86[_-]64|aarch64|arm64|armhf|armv7|i[36]86", re.I)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_generated_files_name_no_cpu_architecture(name: str) -> None:
    """Nothing in the output is tied to one CPU (downloads, wheels, apt package names,
    the uv binary): the only platform given is the build host's, for the Node stage."""
    for path, text in render_scenario(name).items():
        found = _ARCH.search(text)
        assert not found, f"{name}/{path} names a CPU architecture: {found.group(0)!r}"
        platforms = set(re.findall(r"--platform=(\S+)", text))
        assert platforms <= {"$BUILDPLATFORM"}, f"{name}/{path}: {platforms}"
