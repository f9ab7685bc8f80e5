"""/settings/: the signed-in user's profile and password (tag management: contacts/tests/test_tags.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY

from conftest import HX, PASSWORD
from crm.forms import ProfileForm
from crm.lib.text import normalize_email
from crm.models import EMAIL_UNAVAILABLE, Role, User

NEW_PASSWORD = "a-much-longer-passphrase-2025"


def test_every_role_sees_profile_password_and_tags(any_role_client):
    response = any_role_client.get("/settings/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="profile-form"' in html
    assert 'id="password-form"' in html
    assert 'id="tag-table"' in html
    assert f'value="{any_role_client.user.full_name}"' in html
    # The embedded password form must not steal the focus from the top of the page.
    assert "autofocus" not in html.split('id="password-form"')[1].split("</section>")[0]


def test_settings_is_in_the_sidebar(member_client):
    html = member_client.get("/").content.decode()
    assert 'href="/settings/"' in html


# --- Profile ----------------------------------------------------------------------------


def test_member_updates_their_name_and_email_which_is_stored_lower_case(member_client, member_user):
    response = member_client.post(
        "/settings/profile/", {"full_name": "  Max   Q.  Member ", "email": "  Max.Member@Fund.Example "}
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/#profile-form"
    member_user.refresh_from_db()
    assert member_user.full_name == "Max Q. Member"
    assert member_user.email == "max.member@fund.example"
    latest = member_user.history.latest()
    assert latest.history_user == member_user
    assert latest.email == "max.member@fund.example"
    follow = member_client.get(response["Location"]).content.decode()
    assert "Saved your profile." in follow
    assert "Max Q. Member" in follow  # the sidebar shows the new name


def test_profile_update_over_htmx_reloads_the_page(member_client, member_user):
    response = member_client.post(
        "/settings/profile/", {"full_name": "Max Member", "email": "max@fund.example"}, headers=HX
    )
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_an_email_another_user_has_is_refused_ignoring_case(member_client, member_user, manager_user, headers):
    response = member_client.post(
        "/settings/profile/", {"full_name": "Max Member", "email": " MONA@fund.EXAMPLE "}, headers=headers
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "That email address cannot be used for this account. Choose another one." in html
    # Nothing says whose it is: no name, no username, not even that it is someone's.
    for hint in ("Mona", "mona", "already", "omeone else"):
        assert hint not in html
    assert 'value=" MONA@fund.EXAMPLE "' in html  # what was typed is kept for correcting
    member_user.refresh_from_db()
    assert member_user.email == "max@fund.example"
    if headers:
        assert html.lstrip().startswith('<section id="profile-form"')
    else:
        assert "<html" in html
        # The refused values must not reach the rest of the page (the sidebar).
        assert "Max Member" in html


def test_keeping_your_own_email_in_another_case_is_fine(member_client, member_user):
    response = member_client.post("/settings/profile/", {"full_name": "Max Member", "email": "MAX@FUND.EXAMPLE"})
    assert response.status_code == 302
    member_user.refresh_from_db()
    assert member_user.email == "max@fund.example"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"full_name": "   ", "email": "max@fund.example"}, "Enter your name as the team should see it."),
        ({"full_name": "Max", "email": ""}, "This field is required."),
        ({"full_name": "Max", "email": "not-an-email"}, "Enter a valid email address."),
        ({"full_name": "M" * 151, "email": "max@fund.example"}, "Keep this to at most 150 characters (it has 151)."),
        ({}, "Enter your name as the team should see it."),
        ({}, "This field is required."),  # the email
    ],
)
def test_bad_profile_input_is_shown_beside_the_field(member_client, member_user, data, message):
    response = member_client.post("/settings/profile/", data, headers=HX)
    assert response.status_code == 200
    assert message in response.content.decode()
    member_user.refresh_from_db()
    assert member_user.full_name == "Max Member"


def test_a_script_tag_in_the_name_is_stored_as_text_and_shown_escaped(member_client, member_user):
    member_client.post("/settings/profile/", {"full_name": "<script>alert(1)</script>", "email": "max@fund.example"})
    member_user.refresh_from_db()
    assert member_user.full_name == "<script>alert(1)</script>"
    html = member_client.get("/settings/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_profile_form_cannot_change_role_username_or_another_user(member_client, member_user, admin_user):
    member_client.post(
        "/settings/profile/",
        {
            "full_name": "Max Member",
            "email": "max@fund.example",
            "role": Role.ADMIN,
            "username": "root",
            "is_superuser": "on",
            "pk": admin_user.pk,
            "id": admin_user.pk,
        },
    )
    member_user.refresh_from_db()
    admin_user.refresh_from_db()
    assert (member_user.role, member_user.username, member_user.is_superuser) == (Role.MEMBER, "max", False)
    assert admin_user.full_name == "Alice Admin"


def test_profile_url_without_htmx_leads_to_the_settings_page(member_client):
    response = member_client.get("/settings/profile/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/#profile-form"
    fragment = member_client.get("/settings/profile/", headers=HX)
    assert fragment.content.decode().lstrip().startswith('<section id="profile-form"')


# --- Password ---------------------------------------------------------------------------


def test_password_change_keeps_this_session_signed_in(member_client, member_user):
    response = member_client.post(
        "/settings/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/#password-form"
    member_user.refresh_from_db()
    assert member_user.check_password(NEW_PASSWORD)
    follow = member_client.get("/settings/")
    assert follow.status_code == 200  # still signed in: the session hash was updated
    assert "Changed your password." in follow.content.decode()
    assert int(member_client.session[SESSION_KEY]) == member_user.pk


def test_password_change_over_htmx_returns_a_fresh_form(member_client, member_user):
    response = member_client.post(
        "/settings/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        headers=HX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="password-form"')
    assert NEW_PASSWORD not in html
    assert "Changed your password." in html  # the flash message rides along out of band
    member_user.refresh_from_db()
    assert member_user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, "incorrect"),
        ({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "different"}, "didn’t match"),
        ({"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}, "too common"),
    ],
)
def test_bad_password_change_is_refused_with_a_reason(member_client, member_user, data, message, headers):
    response = member_client.post("/settings/password/", data, headers=headers)
    assert response.status_code == 200
    assert message in response.content.decode()
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_password_url_without_htmx_leads_to_the_settings_page(member_client):
    response = member_client.get("/settings/password/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/#password-form"


def test_anonymous_visitor_cannot_post_a_profile(client, member_user):
    response = client.post("/settings/profile/", {"full_name": "Hacker", "email": "h@example.com"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert User.objects.filter(full_name="Hacker").count() == 0


# --- Nothing about other accounts (issue 9) ----------------------------------------------


def test_an_email_saved_by_someone_else_at_the_same_moment_is_refused_without_naming_them(
    member_client, member_user, manager_user, monkeypatch
):
    # As if the other save landed after the form's own check: the unique constraint catches it.
    monkeypatch.setattr(ProfileForm, "clean_email", lambda form: normalize_email(form.cleaned_data["email"]))
    response = member_client.post("/settings/profile/", {"full_name": "Max Member", "email": "mona@fund.example"})
    html = response.content.decode()
    assert response.status_code == 200
    assert EMAIL_UNAVAILABLE in html
    assert "Mona" not in html and "omeone else" not in html
    member_user.refresh_from_db()
    assert member_user.email == "max@fund.example"


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
@pytest.mark.parametrize("new_password", ["mona@fund.example", "Mona Manager", "mona"])
def test_a_new_password_like_another_account_tells_nothing_about_that_account(
    member_client, member_user, manager_user, new_password, headers
):
    data = {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password + "x"}
    response = member_client.post("/settings/password/", data, headers=headers)
    html = response.content.decode()
    assert response.status_code == 200
    assert "didn’t match" in html
    for hint in ("Mona", "mona", "already", "another user", "omeone else"):
        assert hint not in html
    # The account a password manager is told about is the signed-in one.
    assert 'value="max"' in html
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_a_password_of_a_megabyte_is_refused_with_the_limit_before_any_checking(member_client, member_user):
    huge = "p" * 1_000_000
    data = {"old_password": huge, "new_password1": huge, "new_password2": huge}
    response = member_client.post("/settings/password/", data, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Keep this to at most 1,000 characters (it has 1,000,000)." in html
    assert "incorrect" not in html  # the old password was never even compared
    assert 'maxlength="1000"' in html
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)
