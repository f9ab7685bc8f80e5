"""What a production install relies on: deploy checks, security headers, the CSP holding, static files."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from conftest import PASSWORD

PROJECT_ROOT = Path(settings.BASE_DIR)
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"
VENDOR_DIR = STATIC_DIR / "vendor"

# The settings' own variables; each subprocess starts from a clean slate of them.
# conftest.py sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; a deploy never has it.
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")


def production_environ(data_dir: Path) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CRM_VARIABLES)}
    environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        CRM_DATA_DIR=str(data_dir),
        # Its own (absent) backups folder: the check looks at CRM_BACKUP_DIR's modes (crm.W010).
        CRM_BACKUP_DIR=str(data_dir / "backups"),
        CRM_HTTPS="1",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        CRM_ALLOWED_HOSTS="crm.example.ts.net",
    )
    return environ


def manage(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    """The environment of an HTTPS install with a migrated database in tmp_path."""
    environ = production_environ(tmp_path)
    result = manage("migrate", "--noinput", environ=environ)
    assert result.returncode == 0, result.stderr
    return environ


def deploy_check(environ: dict[str, str]) -> subprocess.CompletedProcess:
    return manage("check", "--deploy", "--fail-level", "WARNING", environ=environ)


# --- check --deploy ---------------------------------------------------------------------


def test_deploy_check_passes_for_an_https_install(production):
    result = deploy_check(production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_warns_while_a_demo_account_keeps_its_demo_password(production):
    create = "from crm.models import User; User.objects.create_user('admin', 'admin@demo.example', 'admin123')"
    assert manage("shell", "-c", create, environ=production).returncode == 0

    result = deploy_check(production)
    assert result.returncode != 0
    assert "crm.W001" in result.stderr
    assert "The demo account 'admin' still has its demo password." in result.stderr

    change = (
        "from crm.models import User; u = User.objects.get(username='admin'); u.set_password('s3cret-Enough'); u.save()"
    )
    assert manage("shell", "-c", change, environ=production).returncode == 0
    assert deploy_check(production).returncode == 0


def test_deploy_check_ignores_a_deactivated_demo_account(production):
    create = (
        "from crm.models import User; "
        "User.objects.create_user('grant', 'grant@demo.example', 'password', is_active=False)"
    )
    assert manage("shell", "-c", create, environ=production).returncode == 0
    result = deploy_check(production)
    assert result.returncode == 0, result.stderr


# --- Headers and cookies ----------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_pages_send_a_strict_content_security_policy(member_client):
    response = member_client.get("/")
    assert response.status_code == 200
    header = response["Content-Security-Policy"]
    directives = csp_directives(header)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header


def test_sign_in_page_sends_the_same_policy(client):
    directives = csp_directives(client.get("/login/")["Content-Security-Policy"])
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]


def test_pages_send_the_other_security_headers(member_client):
    response = member_client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_session_cookie_is_http_only_and_same_site_lax(client, member_user):
    response = client.post("/login/", {"username": member_user.username, "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- Nothing inline, nothing from another host ------------------------------------------

CSP_BREAKERS = {
    "an inline <script> (no src)": re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE),
    "an on…= event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a style= attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "a <style> element": re.compile(r"<style\b", re.IGNORECASE),
    "an hx-on attribute": re.compile(r"hx-on", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}

OTHER_HOST = re.compile(
    r"""(?:\b(?:src|href|action)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])\s*(?:https?:)?//""", re.IGNORECASE
)


def csp_problems(text: str) -> list[str]:
    return [f"{label}: {match.group(0)!r}" for label, rx in CSP_BREAKERS.items() for match in rx.finditer(text)]


def template_files() -> list[Path]:
    return sorted(path for path in TEMPLATES_DIR.rglob("*") if path.is_file())


def test_templates_carry_no_inline_code_or_styles():
    files = template_files()
    assert any(path.name == "base.html" for path in files)
    problems = [f"{path.relative_to(PROJECT_ROOT)}: {p}" for path in files for p in csp_problems(path.read_text())]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("url", ["/", "/password/"])
def test_rendered_pages_carry_no_inline_code_or_styles(member_client, url):
    response = member_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script src="/static/' in html
    assert csp_problems(html) == []


def test_rendered_sign_in_page_carries_no_inline_code_or_styles(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert csp_problems(response.content.decode()) == []


def test_no_template_or_own_static_file_loads_anything_from_another_host():
    files = template_files() + [
        path for path in STATIC_DIR.rglob("*") if path.is_file() and VENDOR_DIR not in path.parents
    ]
    assert any(path.suffix == ".css" for path in files)
    problems = [
        f"{path.relative_to(PROJECT_ROOT)}: {match.group(0)!r}"
        for path in files
        for match in OTHER_HOST.finditer(path.read_text(errors="replace"))
    ]
    assert not problems, "\n".join(problems)


def test_the_other_host_scan_catches_each_form_of_address():
    # The scan above must be able to fail: each of these is a reference to another host.
    for text in (
        '<script src="https://cdn.example/x.js">',
        "<link href='//fonts.example/css'>",
        "background: url(http://img.example/a.png)",
        '@import "https://fonts.example/css";',
    ):
        assert OTHER_HOST.search(text), text
    assert not OTHER_HOST.search('<svg xmlns="http://www.w3.org/2000/svg">')
    assert not OTHER_HOST.search('<a href="/contacts/">')


def test_the_inline_code_scan_catches_each_form():
    for text in ("<script>alert(1)</script>", '<a onclick="x()">', '<p style="color:red">', '<div hx-on:click="x">'):
        assert csp_problems(text), text
    assert csp_problems('<script src="/static/js/app.js" defer></script>') == []


# --- Static files in production ---------------------------------------------------------


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory) -> Path:
    """collectstatic as a deploy does, into a folder of this test run's own (CRM_STATIC_ROOT).

    Not the checkout's ``staticfiles``: parallel test workers would collect into it at once.
    """
    environ = production_environ(tmp_path_factory.mktemp("collect"))
    environ["CRM_STATIC_ROOT"] = str(root := tmp_path_factory.mktemp("static"))
    result = manage("collectstatic", "--noinput", environ=environ)
    assert result.returncode == 0, result.stderr
    return root


def test_collectstatic_writes_the_hashed_manifest(collected_static):
    manifest = collected_static / "staticfiles.json"
    assert manifest.exists()
    text = manifest.read_text()
    for name in ("css/app.css", "js/app.js", "js/theme.js", "vendor/htmx-2.0.11.min.js"):
        assert f'"{name}"' in text, name


def test_dashboard_renders_with_the_manifest_storage_and_whitenoise_serves_its_files(
    collected_static, member_client, settings
):
    settings.STATIC_ROOT = collected_static
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    response = member_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    hashed = re.search(r'src="(/static/js/app\.[0-9a-f]{12}\.js)"', html)
    assert hashed, "the page should load the hashed app.js"
    assert re.search(r'href="/static/css/app\.[0-9a-f]{12}\.css"', html)

    asset = member_client.get(hashed.group(1))
    assert asset.status_code == 200
    assert b"".join(asset.streaming_content) == (STATIC_DIR / "js/app.js").read_bytes()
    # Hashed names never change content, so browsers may keep them for good.
    assert "immutable" in asset["Cache-Control"]
