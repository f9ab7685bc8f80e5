"""`make run` serves this machine only unless told otherwise, and says how to sign in and what to change.

`make -n` prints the commands a target would run without running them: the gunicorn line
shows the address it would bind, the echo lines what it would print.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
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


@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_run_and_serve_start_the_background_worker_beside_gunicorn(target):
    (line,) = [line for line in dry_run(target) if GUNICORN_BIND.search(line)]
    worker, _, server = line.partition(" -- ")
    assert worker.startswith("crm/together.sh ") and worker.endswith("manage.py db_worker --no-reload")
    assert server.startswith(".venv/bin/gunicorn crm.wsgi ")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


def together(tmp_path: Path, worker: str, server: str) -> subprocess.Popen:
    """crm/together.sh with two shell commands that write their process ids first."""
    script = PROJECT_ROOT / "crm" / "together.sh"
    return subprocess.Popen(
        [str(script), "bash", "-c", f"echo $$ > {tmp_path}/worker; {worker}", "--", "bash", "-c",
         f"echo $$ > {tmp_path}/server; {server}"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _pids(tmp_path: Path) -> tuple[int, int]:
    deadline = time.monotonic() + 10
    while not ((tmp_path / "worker").exists() and (tmp_path / "server").exists()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.1)
    return int((tmp_path / "worker").read_text()), int((tmp_path / "server").read_text())


def test_when_the_web_server_stops_the_worker_is_stopped_too(tmp_path):
    wrapper = together(tmp_path, "exec sleep 60", "sleep 0.5; exit 3")
    worker, _server = _pids(tmp_path)
    assert wrapper.wait(timeout=20) == 3
    assert "The web server stopped (exit status 3)" in wrapper.stderr.read()
    assert not _alive(worker)


def test_when_the_worker_dies_the_web_server_is_stopped_too(tmp_path):
    wrapper = together(tmp_path, "sleep 0.5; exit 1", "exec sleep 60")
    _worker, server = _pids(tmp_path)
    assert wrapper.wait(timeout=20) == 1
    assert "The background worker stopped" in wrapper.stderr.read()
    assert not _alive(server)


def test_stopping_the_pair_stops_both(tmp_path):
    wrapper = together(tmp_path, "exec sleep 60", "exec sleep 60")
    worker, server = _pids(tmp_path)
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=20) == 143
    assert not _alive(worker) and not _alive(server)
