"""Every golden scenario renders exactly the files kept in tests/golden/<scenario>/.

No Docker: this only renders. A deliberate template change fails here with the diff;
refresh with ``make golden`` and review ``git diff tests/golden``.
"""

from __future__ import annotations

import difflib

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
