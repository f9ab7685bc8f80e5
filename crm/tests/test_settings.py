"""Settings read from the environment: typos stop start-up with a message naming the variable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from crm.lib.env import env_bool, env_choice, env_int, env_list, env_str, persistent_secret_key

PROJECT_ROOT = Path(settings.BASE_DIR)

# Variables the settings read; the subprocesses start from a clean slate of them.
# conftest.py sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; a deploy never has it.
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")


def clean_environ(data_dir: Path, **overrides: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CRM_VARIABLES)}
    environ.update(DJANGO_SETTINGS_MODULE="crm.settings", CRM_DATA_DIR=str(data_dir), **overrides)
    return environ


def run(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


# --- env_bool ---------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_reads_yes_words_as_true(word):
    assert env_bool("CRM_HTTPS", False, environ={"CRM_HTTPS": word}) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "off", ""])
def test_env_bool_reads_no_words_as_false(word):
    assert env_bool("CRM_HTTPS", True, environ={"CRM_HTTPS": word}) is False


def test_env_bool_uses_the_default_when_unset():
    assert env_bool("CRM_HTTPS", True, environ={}) is True
    assert env_bool("CRM_HTTPS", False, environ={}) is False


def test_env_bool_refuses_a_typo_and_names_the_variable():
    with pytest.raises(ImproperlyConfigured) as caught:
        env_bool("CRM_HTTPS", False, environ={"CRM_HTTPS": "ture"})
    assert "CRM_HTTPS='ture'" in str(caught.value)
    assert "is not a yes/no value" in str(caught.value)


# --- env_int ----------------------------------------------------------------------------


def test_env_int_reads_a_whole_number_and_defaults_when_blank():
    assert env_int("CRM_SESSION_DAYS", 14, environ={"CRM_SESSION_DAYS": " 30 "}) == 30
    assert env_int("CRM_SESSION_DAYS", 14, environ={"CRM_SESSION_DAYS": ""}) == 14
    assert env_int("CRM_SESSION_DAYS", 14, environ={}) == 14


@pytest.mark.parametrize("raw", ["thirty", "1.5", "3d"])
def test_env_int_refuses_a_value_that_is_not_a_whole_number(raw):
    with pytest.raises(ImproperlyConfigured, match=r"^CRM_SESSION_DAYS=.* is not a whole number\.$"):
        env_int("CRM_SESSION_DAYS", 14, environ={"CRM_SESSION_DAYS": raw})


def test_env_int_refuses_values_outside_its_range():
    with pytest.raises(ImproperlyConfigured, match="CRM_SESSION_DAYS=0 is below the minimum of 1"):
        env_int("CRM_SESSION_DAYS", 14, minimum=1, maximum=365, environ={"CRM_SESSION_DAYS": "0"})
    with pytest.raises(ImproperlyConfigured, match="CRM_SESSION_DAYS=366 is above the maximum of 365"):
        env_int("CRM_SESSION_DAYS", 14, minimum=1, maximum=365, environ={"CRM_SESSION_DAYS": "366"})
    assert env_int("CRM_SESSION_DAYS", 14, minimum=1, maximum=365, environ={"CRM_SESSION_DAYS": "365"}) == 365


# --- env_list and env_str ---------------------------------------------------------------


def test_env_list_splits_on_commas_and_drops_empty_items():
    environ = {"CRM_ALLOWED_HOSTS": " crm.example.ts.net, ,localhost,, "}
    assert env_list("CRM_ALLOWED_HOSTS", ["default"], environ=environ) == ["crm.example.ts.net", "localhost"]


def test_env_list_uses_a_copy_of_the_default_when_unset():
    default = ["localhost"]
    hosts = env_list("CRM_ALLOWED_HOSTS", default, environ={})
    assert hosts == ["localhost"]
    hosts.append("evil.example")
    assert default == ["localhost"]


def test_env_list_set_but_empty_means_an_empty_list():
    assert env_list("CRM_ALLOWED_HOSTS", ["localhost"], environ={"CRM_ALLOWED_HOSTS": ""}) == []


def test_env_choice_reads_one_of_its_words_ignoring_case_and_defaults_when_blank():
    choices = ("off", "staff", "everyone")
    assert env_choice("X", "off", choices, environ={"X": " Everyone "}) == "everyone"
    assert env_choice("X", "off", choices, environ={"X": ""}) == "off"
    assert env_choice("X", "off", choices, environ={}) == "off"


def test_env_choice_refuses_another_word_and_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"X='sometimes' is not one of off, staff, everyone"):
        env_choice("X", "off", ("off", "staff", "everyone"), environ={"X": "sometimes"})


def test_env_str_is_trimmed():
    assert env_str("CRM_TIME_ZONE", "UTC", environ={"CRM_TIME_ZONE": " Europe/London\n"}) == "Europe/London"


# --- Secret key -------------------------------------------------------------------------


def test_secret_key_is_created_once_in_a_private_file(tmp_path):
    path = tmp_path / "data" / "secret_key"
    first = persistent_secret_key(path)
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert persistent_secret_key(path) == first
    assert path.read_text().strip() == first


def test_secret_key_file_that_already_exists_is_read_not_replaced(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("kept-from-last-year\n")
    assert persistent_secret_key(path) == "kept-from-last-year"


# --- Start-up with bad values -----------------------------------------------------------


def test_start_up_succeeds_with_the_defaults(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert (tmp_path / "secret_key").exists()


def test_start_up_fails_on_a_misspelt_https_flag(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path, CRM_HTTPS="ture"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "CRM_HTTPS='ture' is not a yes/no value" in result.stderr


def test_start_up_fails_on_a_database_url_it_cannot_read(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path, DATABASE_URL="postgress://u:p@localhost/db"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DATABASE_URL is not a database URL this app understands" in result.stderr


def test_start_up_fails_on_a_trusted_origin_without_a_scheme(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path, CRM_CSRF_TRUSTED_ORIGINS="crm.example.ts.net"))
    assert result.returncode != 0
    assert "CRM_CSRF_TRUSTED_ORIGINS entry 'crm.example.ts.net' needs a scheme" in result.stderr


def test_a_postgres_database_url_selects_the_postgresql_engine(tmp_path):
    result = run(
        ["-c", "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"],
        clean_environ(tmp_path, DATABASE_URL="postgres://u:p@localhost:5432/db"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_start_up_fails_on_an_unknown_two_factor_policy(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path, CRM_2FA_REQUIRED="admins"))
    assert result.returncode != 0
    assert "CRM_2FA_REQUIRED='admins' is not one of off, staff, everyone." in result.stderr


def test_start_up_fails_on_a_failure_limit_of_zero(tmp_path):
    result = run(["manage.py", "check"], clean_environ(tmp_path, CRM_LOGIN_FAILURES="0"))
    assert result.returncode != 0
    assert "CRM_LOGIN_FAILURES=0 is below the minimum of 1." in result.stderr


def test_sign_in_throttling_and_the_two_factor_policy_read_the_environment(tmp_path):
    script = (
        "from django.conf import settings; "
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds(), settings.CRM_2FA_REQUIRED)"
    )
    environ = clean_environ(tmp_path, CRM_LOGIN_FAILURES="8", CRM_LOGIN_COOLOFF_MINUTES="60", CRM_2FA_REQUIRED="Staff")
    result = run(["-c", f"import django; django.setup(); {script}"], environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["8", "3600.0", "staff"]
