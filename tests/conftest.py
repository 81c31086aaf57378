from __future__ import annotations

import collections
import signal

import pytest

from tests import tiers
from tests.meilisearch_fixtures import meili, meilisearch_server  # noqa: F401

_passed: collections.Counter[str] = collections.Counter()
# Tiers by test id, from the markers alone: a parameter that happens to be called
# "mariadb" or "postgres" (it shows in report.keywords too) is no tier test.
_tiers_of: dict[str, tuple[str, ...]] = {}


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a non-interactive shell (`make test &`)
    # inherits SIGINT ignored, and so would every command it starts: the Ctrl-C tests
    # need the terminal's usual disposition. A Python handler resets to the default on
    # exec, so the commands under test get it too.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for tier in tiers.TIERS:
        reason = tiers.unavailable(tier)
        lines.append(f"tier {tier}: {'active' if reason is None else 'unavailable: ' + reason}")
    required = tiers.required_tiers()
    if required:
        lines.append(f"required tiers: {', '.join(sorted(required))}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    required = tiers.required_tiers()
    for item in items:
        _tiers_of[item.nodeid] = tuple(
            t for t in tiers.TIERS if item.get_closest_marker(t) is not None
        )
        for tier in tiers.TIERS:
            if item.get_closest_marker(tier) is None:
                continue
            reason = tiers.unavailable(tier)
            if reason is None:
                continue
            if tier in required:
                item.add_marker(pytest.mark.tier_unavailable(tier, reason))
            else:
                item.add_marker(pytest.mark.skip(reason=f"{tier} tier: {reason}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("tier_unavailable")
    if marker is not None:
        tier, reason = marker.args
        pytest.fail(f"required {tier} tier is unavailable: {reason}", pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for tier in _tiers_of.get(report.nodeid, ()):
            _passed[tier] += 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    counts = ", ".join(f"{tier} {_passed[tier]}" for tier in tiers.TIERS)
    terminalreporter.write_line(f"tier tests passed: {counts}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    missing = [t for t in sorted(tiers.required_tiers()) if _passed[t] == 0]
    if missing and not session.config.option.collectonly and exitstatus == 0:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"FAILED: required tiers with no passing test: {', '.join(missing)}", red=True
        )
        session.exitstatus = 1


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory):
    """A wheel of this checkout, built once per run."""
    from tests.wheel_env import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel") / "dist")


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory, built_wheel):
    """(python, wheel): a clean venv where the built wheel is installed with every extra
    (not this checkout)."""
    from tests.wheel_env import make_venv

    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    return make_venv(venv, built_wheel, extras="search,deploy"), built_wheel


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory, built_wheel):
    """python of a clean venv with the built wheel and no extra: the core install."""
    from tests.wheel_env import make_venv

    return make_venv(tmp_path_factory.mktemp("core-venv") / "venv", built_wheel)
