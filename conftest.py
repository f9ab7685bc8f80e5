"""The fixed cast every test draws on: an admin, a manager, a member and an anonymous visitor."""

from __future__ import annotations

import os

import pytest
from django.http import HttpRequest
from django.test import Client

from crm.models import Role, User

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# beside one unless told it is safe. It is here: the loop only drives the browser.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"
# The header htmx sends: a test asks for the fragment with headers=HX.
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Production uses the hashed manifest, which needs collectstatic first; tests serve the
    # source files directly. test_deploy.py checks collectstatic and the manifest separately.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _tasks_run_at_once(settings):
    # Production queues imports for the worker (settings.TASKS, the database backend). Tests run
    # each task at once, in the test's own transaction, unless they start a real worker
    # (crm/tests/test_import_worker.py sets the database backend back).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _documents_in_a_temporary_folder(settings, tmp_path):
    # LP documents are files under the data folder (lps.documents): each test gets its own.
    settings.DOCUMENTS_DIR = tmp_path / "documents"


class CRMClient(Client):
    """Django's test client, with ``login()`` working beside django-axes.

    Axes refuses to authenticate without a request (the sign-in forms always pass one, and
    an attempt it cannot attribute is one it cannot throttle); ``Client.login`` passes none.
    """

    def login(self, **credentials) -> bool:
        credentials.setdefault("request", HttpRequest())
        return super().login(**credentials)


@pytest.fixture
def client() -> CRMClient:
    # Sign-in throttling keeps its attempts in the database (django-axes' database handler),
    # so they roll back with each test like every other row: no lockout leaks into the next test.
    return CRMClient()


def make_user(username: str, role: str, **extra) -> User:
    user = User(username=username, role=role, full_name=extra.pop("full_name", username.title()), **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def admin_user(db) -> User:
    return make_user("alice", Role.ADMIN, full_name="Alice Admin", email="alice@fund.example")


@pytest.fixture
def manager_user(db) -> User:
    return make_user("mona", Role.MANAGER, full_name="Mona Manager", email="mona@fund.example")


@pytest.fixture
def member_user(db) -> User:
    return make_user("max", Role.MEMBER, full_name="Max Member", email="max@fund.example")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def manager_client(client, manager_user):
    client.force_login(manager_user)
    return client


@pytest.fixture
def member_client(client, member_user):
    client.force_login(member_user)
    return client


@pytest.fixture
def anonymous_client(client):
    return client


@pytest.fixture(params=[Role.ADMIN, Role.MANAGER, Role.MEMBER])
def any_role_client(request, client, db):
    user = make_user(f"user-{request.param}", request.param)
    client.force_login(user)
    client.user = user
    return client


# --- Browser tests ----------------------------------------------------------------------

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # The system Chromium, never a browser Playwright downloads; flags keep it off the network.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


class BrowserProblems:
    """Console errors, CSP violations and requests to other hosts seen by a page."""

    def __init__(self, page, base_url: str):
        self.base_url = base_url
        self.console_errors: list[str] = []
        self.foreign_requests: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        page.on("request", self._check_host)
        page.on("response", lambda r: r.status >= 400 and self.console_errors.append(f"{r.status} {r.url}"))
        # Recorded by the page itself, so a violation is caught even if nothing logs it.
        page.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e =>"
            " window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.page = page

    def _check_host(self, request) -> None:
        url = request.url
        if not url.startswith((self.base_url, "data:", "about:")):
            self.foreign_requests.append(url)

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []")

    def assert_clean(self) -> None:
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.csp_violations() == [], f"CSP violations: {self.csp_violations()}"
        assert self.foreign_requests == [], f"requests to other hosts: {self.foreign_requests}"


@pytest.fixture
def browser_problems(page, live_server):
    return BrowserProblems(page, live_server.url)


def sign_in(page, live_server, user: User, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
