"""`make run` serves this machine only unless told otherwise, and says how to sign in and what to change.

`make -n` prints the commands a target would run without running them: the gunicorn line
shows the address it would bind, the echo lines what it would print.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

PROJECT_ROOT = Path(settings.BASE_DIR)
GUNICORN_BIND = re.compile(r"gunicorn crm\.wsgi --bind (\S+) ")


def dry_run(*args: str, **environ: str) -> list[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "HOST", "PORT"))}
    env.update(environ)
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def bind_address(lines: list[str]) -> str:
    binds = [match[1] for line in lines if (match := GUNICORN_BIND.search(line))]
    assert len(binds) == 1, lines
    return binds[0]


def printed(lines: list[str]) -> str:
    return "\n".join(match[1] for line in lines if (match := re.fullmatch(r'echo "(.*)"', line)))


def test_make_run_listens_on_this_machine_only_by_default():
    assert bind_address(dry_run("run")) == "127.0.0.1:8080"


def test_make_run_ignores_a_host_name_exported_by_the_shell():
    # Some shells and containers export HOST (the machine's name): that must not open the LAN.
    assert bind_address(dry_run("run", HOST="crm-box.office.example")) == "127.0.0.1:8080"


def test_make_run_serves_the_lan_when_asked_on_the_command_line_and_warns_about_it():
    lines = dry_run("run", "HOST=0.0.0.0", "PORT=9000")

    assert bind_address(lines) == "0.0.0.0:9000"
    assert "WARNING: other machines can reach it now" in printed(lines)


def test_make_run_prints_every_demo_sign_in_and_says_to_change_them():
    text = printed(dry_run("run"))

    assert settings.CRM_DEMO_PASSWORDS  # the demo accounts seed_demo creates, with their passwords
    for username, password in settings.CRM_DEMO_PASSWORDS.items():
        assert f"{username} / {password}" in text
        assert f"manage.py changepassword {username}" in text
    assert "Change both passwords before anyone else can reach it" in text
    assert "Only this machine can reach it. For the office LAN: make run HOST=0.0.0.0" in text
    assert "http://localhost:8080/" in text


@pytest.mark.parametrize("host", ["", "HOST=0.0.0.0"], ids=["default", "LAN"])
def test_make_serve_binds_like_make_run(host):
    args = ["serve", host] if host else ["serve"]
    assert bind_address(dry_run(*args)) == bind_address(dry_run("run", *args[1:]))
    assert bind_address(dry_run("serve")) == "127.0.0.1:8080"
