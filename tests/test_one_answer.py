"""One answer to each question: the true/false words, the health tier names."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_deploykit.env.booleans import FALSE, TRUE
from django_deploykit.env.container import in_container
from django_deploykit.env.settings import Env
from django_deploykit.health import checks, probe
from django_deploykit.health.middleware import match_tier
from django_deploykit.health.tiers import TIERS


@pytest.mark.parametrize("word", sorted(TRUE | FALSE - {""}))
def test_in_container_reads_every_boolean_word_as_env_does(word: str, tmp_path: Path) -> None:
    environ = {"DEPLOYKIT_IN_CONTAINER": word.upper(), "DEBUG": word}
    # tmp_path as the root: no /.dockerenv, so only the variable decides.
    assert in_container(environ, root=str(tmp_path)) is (word in TRUE)
    assert Env(environ_map=environ).bool("DEBUG") is (word in TRUE)


def test_in_container_detects_when_unset_or_unknown(tmp_path: Path) -> None:
    assert in_container({}, root=str(tmp_path)) is False
    assert in_container({"DEPLOYKIT_IN_CONTAINER": "maybe"}, root=str(tmp_path)) is False
    (tmp_path / ".dockerenv").touch()
    assert in_container({"DEPLOYKIT_IN_CONTAINER": ""}, root=str(tmp_path)) is True


def test_tier_names_come_from_one_place() -> None:
    assert checks.TIERS is TIERS
    assert [match_tier(probe.tier_path(t, "/health/"), "/health/") for t in TIERS] == list(TIERS)
