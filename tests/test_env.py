"""The env-driven settings helper: values, *_FILE secrets, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_deploykit.env import VARIABLES, Env, in_container, variable
from django_deploykit.env.settings import DEV_SECRET_KEY
from django_deploykit.exceptions import ConfigError


def make_env(tmp_path: Path, **values: str) -> Env:
    values.setdefault("DEPLOYKIT_IN_CONTAINER", "0")
    return Env(tmp_path, environ_map=values)


def test_defaults_give_a_working_debug_site(tmp_path):
    env = make_env(tmp_path, DEBUG="true")
    assert env.debug() is True
    assert env.secret_key() == DEV_SECRET_KEY
    assert env.allowed_hosts() == ["localhost", "127.0.0.1", "[::1]"]
    db = env.databases()["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "db.sqlite3")
    assert env.caches()["default"]["BACKEND"].endswith("LocMemCache")
    assert env.meilisearch_url() is None


def test_production_values(tmp_path):
    env = make_env(
        tmp_path,
        DEBUG="off",
        SECRET_KEY="s3cret-value",
        ALLOWED_HOSTS="example.com, www.example.com",
        CSRF_TRUSTED_ORIGINS="https://example.com",
        DATABASE_URL="mysql://app:p%40ss@db:3306/site",
        DATABASE_CONN_MAX_AGE="60",
        CACHE_URL="redis://cache:6379/1",
    )
    assert env.debug() is False
    assert env.secret_key() == "s3cret-value"
    assert env.allowed_hosts() == ["example.com", "www.example.com"]
    assert env.csrf_trusted_origins() == ["https://example.com"]
    db = env.database()
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == (
        "django.db.backends.mysql",
        "db",
        3306,
        "site",
    )
    assert db["PASSWORD"] == "p@ss"
    assert db["OPTIONS"]["charset"] == "utf8mb4"
    assert db["CONN_MAX_AGE"] == 60
    assert env.caches()["default"]["LOCATION"] == "redis://cache:6379/1"


def test_extra_alias_for_an_outside_database(tmp_path):
    env = make_env(
        tmp_path,
        DEBUG="1",
        ANALYTICS_DATABASE_URL="postgres://reader@analytics.internal:5432/stats",
    )
    dbs = env.databases(analytics="ANALYTICS_DATABASE_URL")
    assert set(dbs) == {"default", "analytics"}
    assert dbs["analytics"]["ENGINE"] == "django.db.backends.postgresql"
    assert dbs["analytics"]["HOST"] == "analytics.internal"


def test_secret_from_file(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-file\n")
    env = make_env(tmp_path, SECRET_KEY_FILE=str(secret))
    assert env.secret_key() == "from-a-file"


def test_database_url_from_file(tmp_path):
    url = tmp_path / "db_url"
    url.write_text("postgres://u:pw@h/n")
    env = make_env(tmp_path, DEBUG="1", DATABASE_URL_FILE=str(url))
    assert env.database()["HOST"] == "h"


def test_missing_secret_file_names_the_variable(tmp_path):
    env = make_env(tmp_path, SECRET_KEY_FILE=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE names a file that does not exist"):
        env.secret_key()


def test_missing_secret_key_in_production(tmp_path):
    env = make_env(tmp_path, DEBUG="false")
    with pytest.raises(ConfigError, match=r"SECRET_KEY is not set and DEBUG is off"):
        env.secret_key()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oracle2://u:topsecret@h/db", "DATABASE_URL has an unknown scheme 'oracle2'"),
        ("just-a-name", "DATABASE_URL is not a URL"),
        ("mysql://u:topsecret@h:notaport/db", "DATABASE_URL is malformed"),
    ],
)
def test_bad_database_url_is_named_and_never_echoed(tmp_path, url, message):
    env = make_env(tmp_path, DEBUG="1", DATABASE_URL=url)
    with pytest.raises(ConfigError) as info:
        env.databases()
    assert message in str(info.value)
    assert "topsecret" not in str(info.value)


def test_bad_cache_url(tmp_path):
    env = make_env(tmp_path, DEBUG="1", CACHE_URL="nosuch://u:topsecret@h")
    with pytest.raises(ConfigError, match="CACHE_URL has an unsupported scheme 'nosuch'") as info:
        env.caches()
    assert "topsecret" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("DATABASE_CONN_MAX_AGE", "soon", "DATABASE_CONN_MAX_AGE must be a whole number"),
    ],
)
def test_bad_scalars(tmp_path, name, value, message):
    env = make_env(tmp_path, **{name: value, "DEBUG": "1"} if name != "DEBUG" else {name: value})
    with pytest.raises(ConfigError, match=message):
        env.debug() if name == "DEBUG" else env.databases()


def test_csrf_origin_without_scheme(tmp_path):
    env = make_env(tmp_path, CSRF_TRUSTED_ORIGINS="example.com")
    with pytest.raises(ConfigError, match="https://example.com"):
        env.csrf_trusted_origins()


def test_meilisearch_url_default_differs_in_a_container(tmp_path):
    assert make_env(tmp_path, MEILISEARCH_MASTER_KEY="k").meilisearch_url() == (
        "http://localhost:7700"
    )
    assert (
        make_env(tmp_path, MEILISEARCH_MASTER_KEY="k", DEPLOYKIT_IN_CONTAINER="1").meilisearch_url()
        == "http://meilisearch:7700"
    )
    assert make_env(tmp_path, MEILISEARCH_URL="http://search:7700").meilisearch_url() == (
        "http://search:7700"
    )
    settings = make_env(
        tmp_path,
        MEILISEARCH_URL="http://s:7700",
        MEILISEARCH_MASTER_KEY="k",
        MEILISEARCH_INDEX_PREFIX="staging_",
    ).deploykit_settings()
    assert settings == {
        "DEPLOYKIT_MEILISEARCH_URL": "http://s:7700",
        "DEPLOYKIT_MEILISEARCH_MASTER_KEY": "k",
        "DEPLOYKIT_MEILISEARCH_API_KEY": None,
        "DEPLOYKIT_MEILISEARCH_INDEX_PREFIX": "staging_",
        "DEPLOYKIT_HEALTH_PATH": "/health/",
        "DEPLOYKIT_HEALTH_TOKEN": None,
    }
    # The app's own key, as the generated stacks give it (a file), turns search on too.
    key_file = tmp_path / "meilisearch_api_key"
    key_file.write_text("app-key\n")
    app = make_env(tmp_path, MEILISEARCH_API_KEY_FILE=str(key_file), DEPLOYKIT_IN_CONTAINER="1")
    assert app.meilisearch_url() == "http://meilisearch:7700"
    assert app.deploykit_settings()["DEPLOYKIT_MEILISEARCH_API_KEY"] == "app-key"
    assert app.deploykit_settings()["DEPLOYKIT_MEILISEARCH_MASTER_KEY"] is None
    with pytest.raises(ConfigError, match="MEILISEARCH_URL must start with http"):
        make_env(tmp_path, MEILISEARCH_URL="meili:7700").meilisearch_url()


def test_dotenv_file_is_read_and_real_env_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DEBUG=true\nALLOWED_HOSTS=from-file.example\n")
    monkeypatch.setenv("ALLOWED_HOSTS", "from-env.example")
    monkeypatch.delenv("DEBUG", raising=False)
    env = Env(tmp_path)
    assert env.debug() is True
    assert env.allowed_hosts() == ["from-env.example"]


def test_container_detection(tmp_path):
    assert in_container({"DEPLOYKIT_IN_CONTAINER": "yes"}, root=str(tmp_path)) is True
    assert in_container({"DEPLOYKIT_IN_CONTAINER": "0"}, root=str(tmp_path)) is False
    assert in_container({}, root=str(tmp_path)) is False
    assert in_container({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, root=str(tmp_path)) is True
    (tmp_path / ".dockerenv").touch()
    assert in_container({}, root=str(tmp_path)) is True
    other = tmp_path / "other"
    (other / "proc/1").mkdir(parents=True)
    (other / "proc/1/cgroup").write_text("0::/kubepods/besteffort/pod1234\n")
    assert in_container({}, root=str(other)) is True


def test_variable_list_is_complete_and_consistent():
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names))
    for required in (
        "DATABASE_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "MEILISEARCH_URL",
        "MEILISEARCH_MASTER_KEY",
        "MEILISEARCH_INDEX_PREFIX",
        "CACHE_URL",
    ):
        assert required in names
    assert (
        variable("SECRET_KEY").secret and variable("SECRET_KEY").file_variant == "SECRET_KEY_FILE"
    )
    assert not variable("DEBUG").secret
    for v in VARIABLES:
        assert v.help.strip() and v.type in {"str", "bool", "int", "url", "list", "path"}


def test_health_token_from_a_secret_file(tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    settings = make_env(
        tmp_path, DEPLOYKIT_HEALTH_TOKEN_FILE=str(token), DEPLOYKIT_HEALTH_PATH="/_status/"
    ).deploykit_settings()
    assert settings["DEPLOYKIT_HEALTH_TOKEN"] == "t0ken"
    assert settings["DEPLOYKIT_HEALTH_PATH"] == "/_status/"


def test_password_file_completes_a_url_without_one(tmp_path):
    password = tmp_path / "database_password"
    password.write_text("s3cret\n")
    env = make_env(
        tmp_path,
        DEBUG="1",
        DATABASE_URL="postgres://app@db:5432/app",
        DATABASE_PASSWORD_FILE=str(password),
    )
    assert env.database()["PASSWORD"] == "s3cret" and env.database()["USER"] == "app"
    # A password in the URL wins.
    env = make_env(tmp_path, DATABASE_URL="postgres://app:url@db/app", DATABASE_PASSWORD="x")
    assert env.database()["PASSWORD"] == "url"


def test_secrets_folder_beside_dotenv_serves_manage_py_on_the_host(tmp_path, monkeypatch):
    """`dockerize` keeps the app's secrets in secrets/; a venv's manage.py reads them too."""
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEBUG", "false")
    monkeypatch.setenv("DEPLOYKIT_IN_CONTAINER", "0")
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db:5432/app")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "secret_key").write_text("host-key\n")
    (tmp_path / "secrets" / "database_password").write_text("pw\n")
    env = Env(tmp_path)
    assert env.secret_key() == "host-key"
    assert env.database()["PASSWORD"] == "pw"
    monkeypatch.setenv("SECRET_KEY", "explicit")
    assert Env(tmp_path).secret_key() == "explicit"
