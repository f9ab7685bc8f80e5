"""The health endpoint, signing in and out, changing a password, and the sidebar each role sees."""

from __future__ import annotations

import pytest
from django.conf import settings

from conftest import PASSWORD
from crm.models import Role

SIGN_IN_ERROR = "That username and password don&#x27;t match an active account."


def sign_in(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Health -----------------------------------------------------------------------------


def test_health_answers_anonymously_with_status_database_and_version(client, db):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": True, "version": settings.VERSION}
    assert "no-cache" in response["Cache-Control"]


def test_health_refuses_post(client, db):
    assert client.post("/health/").status_code == 405


# --- Signing in -------------------------------------------------------------------------


def test_sign_in_page_shows_the_form(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'autocomplete="current-password"' in html


def test_wrong_password_shows_the_error_and_stays_on_the_page(client, member_user):
    response = sign_in(client, member_user.username, "not-the-password")
    assert response.status_code == 200
    assert SIGN_IN_ERROR in response.content.decode()
    assert not is_signed_in(client)


def test_right_password_signs_in_and_goes_to_the_dashboard(client, member_user):
    response = sign_in(client, member_user.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)
    assert client.get("/").status_code == 200


def test_sign_in_returns_to_the_page_asked_for(client, member_user):
    response = client.post("/login/", {"username": member_user.username, "password": PASSWORD, "next": "/password/"})
    assert response.status_code == 302
    assert response["Location"] == "/password/"


def test_sign_in_does_not_redirect_to_another_host(client, member_user):
    response = client.post(
        "/login/", {"username": member_user.username, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_inactive_user_cannot_sign_in(client, member_user):
    member_user.is_active = False
    member_user.save()
    response = sign_in(client, member_user.username, PASSWORD)
    assert response.status_code == 200
    assert SIGN_IN_ERROR in response.content.decode()
    assert not is_signed_in(client)


def test_signed_in_user_opening_sign_in_goes_to_the_dashboard(member_client):
    response = member_client.get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


# --- Signing out ------------------------------------------------------------------------


def test_sign_out_refuses_get_and_keeps_the_session(member_client):
    response = member_client.get("/logout/")
    assert response.status_code == 405
    assert is_signed_in(member_client)


def test_sign_out_by_post_ends_the_session(member_client):
    response = member_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not is_signed_in(member_client)
    after = member_client.get("/")
    assert after.status_code == 302
    assert after["Location"].startswith("/login/")


def test_sign_out_form_is_in_the_sidebar_as_a_post(member_client):
    html = member_client.get("/").content.decode()
    assert '<form method="post" action="/logout/">' in html


# --- Changing the password --------------------------------------------------------------


def test_password_change_needs_the_old_password(member_client, member_user):
    response = member_client.post(
        "/password/",
        {"old_password": "wrong", "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_password_change_refuses_a_weak_new_password(member_client, member_user):
    response = member_client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}
    )
    assert response.status_code == 200
    assert "This password is too common" in response.content.decode()
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_password_change_saves_the_new_password_and_keeps_the_user_signed_in(member_client, member_user):
    response = member_client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/password/done/"
    member_user.refresh_from_db()
    assert member_user.check_password("a-new-long-passphrase")
    assert is_signed_in(member_client)
    assert member_client.get("/password/done/").status_code == 200


def test_new_password_is_the_one_that_signs_in_afterwards(client, member_client, member_user):
    member_client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    member_client.post("/logout/")
    assert sign_in(client, member_user.username, PASSWORD).status_code == 200
    assert sign_in(client, member_user.username, "a-new-long-passphrase").status_code == 302


# --- Sidebar ----------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "sees_admin"), [(Role.ADMIN, True), (Role.MANAGER, False), (Role.MEMBER, False)])
def test_sidebar_shows_admin_only_to_admins(client, request, role, sees_admin):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    html = client.get("/").content.decode()
    assert 'href="/"' in html  # the dashboard link: the sidebar rendered at all
    assert ('href="/admin/"' in html) is sees_admin


def test_sidebar_marks_the_current_page(member_client):
    html = member_client.get("/").content.decode()
    assert 'class="nav-link is-active" href="/" aria-current="page"' in html


def test_the_django_admin_wears_the_app_colours_and_mark(client, db):
    html = client.get("/admin/login/").content.decode()
    assert 'href="/static/css/admin.css"' in html
    assert '<span class="crm-admin-mark" aria-hidden="true">V</span> Venture CRM administration' in html
    css = (settings.BASE_DIR / "static" / "css" / "admin.css").read_text()
    assert "--primary: #4f46e5;" in css and 'html[data-theme="dark"]' in css
