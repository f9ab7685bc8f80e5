"""The fixed cast every test draws on: an admin, a manager, a member and an anonymous visitor."""

from __future__ import annotations

import os

import pytest

from crm.models import Role, User

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# beside one unless told it is safe. It is here: the loop only drives the browser.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Production uses the hashed manifest, which needs collectstatic first; tests serve the
    # source files directly. test_deploy.py checks collectstatic and the manifest separately.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


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
