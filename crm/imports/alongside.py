"""People working alongside a large import: the real HTTP stack, gunicorn, a file SQLite database.

``run_alongside`` sets up a new data folder of its own (migrated, with an importing admin
and three members), serves it with gunicorn, and has the three members sign in and save
organizations for a few seconds without an import (the baseline: what the machine does
anyway), then all through a ``manage.py import_airtable`` of a generated base run in a
subprocess. Every request is recorded with its status, how long it took and whether the
answer said "database is locked".

Two callers: ``crm/tests/test_import_concurrency.py`` asserts that every request answered
and none failed (never a time: CI machines are loaded), and ``manage.py benchmark`` prints
the slowest waits against the issue's 3-second goal.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from crm.imports.benchmark import generate_base

PASSWORD = "correct-horse-battery"
PEOPLE = ("ann", "ben", "cat")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
THINK = 0.5  # seconds between one person's sign-ins: people, not a load generator
QUIET_SECONDS = 8


@dataclass(frozen=True)
class Request:
    what: str  # "login form", "sign-in", "new organization form" or "save"
    status: int
    seconds: float
    locked: bool  # the answer said "database is locked"


@dataclass
class Alongside:
    """What ``run_alongside`` saw."""

    rows: int
    import_returncode: int = -1
    import_output: str = ""
    import_seconds: float = 0.0
    server_log: str = ""
    baseline: list[Request] = field(default_factory=list)
    during: list[Request] = field(default_factory=list)

    def slowest(self, requests: list[Request] | None = None, n: int = 5) -> list[Request]:
        return sorted(self.during if requests is None else requests, key=lambda r: -r.seconds)[:n]

    def longest_wait(self, requests: list[Request] | None = None) -> float:
        return max((r.seconds for r in (self.during if requests is None else requests)), default=0.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CRM_HTTPS")}
    env.update(CRM_DATA_DIR=str(data_dir), CRM_ALLOWED_HOSTS="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    # A static root of its own, so collecting never writes the checkout's staticfiles/.
    env["CRM_STATIC_ROOT"] = str(data_dir / "static")
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")


class Person:
    """One member: a cookie jar, signing in and saving organizations, every request timed."""

    def __init__(self, base: str, username: str, requests: list[Request]) -> None:
        self.base = base
        self.username = username
        self.requests = requests
        self.opener = self._new_session()

    @staticmethod
    def _new_session() -> urllib.request.OpenerDirector:
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _request(self, what: str, path: str, data: dict | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        started = time.monotonic()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=body), timeout=60) as response:  # noqa: S310 - loopback
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        self.requests.append(Request(what, status, time.monotonic() - started, "database is locked" in text))
        return text

    def sign_in_and_save(self, number: int) -> None:
        self.opener = self._new_session()  # a real sign-in every time, with its password check and writes
        page = self._request("login form", "/login/")
        token = CSRF.search(page)
        self._request(
            "sign-in",
            "/login/",
            {"csrfmiddlewaretoken": token[1] if token else "", "username": self.username, "password": PASSWORD},
        )
        form = self._request("new organization form", "/organizations/new/")
        token = CSRF.search(form)
        self._request(
            "save",
            "/organizations/new/",
            {
                "csrfmiddlewaretoken": token[1] if token else "",
                "name": f"{self.username} firm {number}",
                "type": "other",
            },
        )


def _keep_working(
    base: str, requests: list[Request], until: Callable[[], bool], first: int = 0
) -> list[threading.Thread]:
    """The three people, each in a thread, signing in and saving while ``until()`` says so."""

    def work(username: str) -> None:
        person, number = Person(base, username, requests), first
        while until():
            number += 1
            person.sign_in_and_save(number)
            time.sleep(THINK)

    threads = [threading.Thread(target=work, args=(name,), daemon=True) for name in PEOPLE]
    for thread in threads:
        thread.start()
    return threads


def run_alongside(work: Path, rows: int = 20_000) -> Alongside:
    """Import a generated base of ``rows`` rows while three people work; ``work`` is an empty folder it fills."""
    data_dir = work / "data"
    data_dir.mkdir(mode=0o700)
    env = _environment(data_dir)
    _manage(env, "migrate", "--noinput")
    _manage(env, "collectstatic", "--noinput", "-v0")  # what `make run` serves
    _manage(
        env,
        "shell",
        "-c",
        "from crm.models import User, Role\n"
        f"User.objects.create_user('importer', password='{PASSWORD}', role=Role.ADMIN, full_name='Ivy Importer')\n"
        f"for name in {PEOPLE!r}:\n"
        f"    User.objects.create_user(name, password='{PASSWORD}', role=Role.MEMBER, full_name=name.title())\n",
    )
    mapping = generate_base(work / "base", rows)
    seen = Alongside(rows=rows)
    port = _free_port()
    log_path = work / "gunicorn.log"
    with log_path.open("w") as server_log:
        server = subprocess.Popen(  # noqa: S603 - fixed arguments, our own interpreter
            [sys.executable, "-m", "gunicorn", "crm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(base + "/health/", timeout=5).close()  # noqa: S310 - loopback
                    break
                except OSError:
                    time.sleep(0.2)
            warm_up: list[Request] = []
            for name in PEOPLE * 2:  # every worker loads its code before the clock starts
                Person(base, name, warm_up).sign_in_and_save(0)
            quiet_until = time.monotonic() + QUIET_SECONDS
            for thread in _keep_working(base, seen.baseline, lambda: time.monotonic() < quiet_until, first=100):
                thread.join(timeout=120)
            started = time.monotonic()
            importing = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "import_airtable", str(work / "base")]
                + ["--mapping", str(mapping), "--user", "importer"],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            threads = _keep_working(base, seen.during, lambda: importing.poll() is None)
            seen.import_output, _ = importing.communicate(timeout=600)
            seen.import_seconds = time.monotonic() - started
            seen.import_returncode = importing.returncode
            for thread in threads:
                thread.join(timeout=60)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    seen.server_log = log_path.read_text()
    return seen


def report_alongside(stdout: Any, rows: int) -> None:
    """Three people sign in and save through gunicorn during a ``rows``-row import: their longest waits."""
    work = Path(tempfile.mkdtemp(prefix="crm-import-alongside-"))
    try:
        seen = run_alongside(work, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in seen.during if r.status >= 500 or r.locked]
    stdout.write("")
    stdout.write(
        f"People working during a {rows:,}-row import (gunicorn, file SQLite; import took {seen.import_seconds:.1f} s):"
    )
    stdout.write(
        f"  {len(seen.during)} requests, {len(failed)} failed or locked; longest wait {seen.longest_wait():.2f} s "
        f"({'ok' if seen.longest_wait() <= 3 else 'OVER'} against the 3 s goal); "
        f"without the import the longest was {seen.longest_wait(seen.baseline):.2f} s"
    )
    for r in seen.slowest(n=3):
        stdout.write(f"    {r.what:24} {r.status}  {r.seconds:.2f} s")
    if seen.import_returncode:
        stdout.write(f"  The import itself failed (exit {seen.import_returncode}):\n{seen.import_output[-2000:]}")
