"""Sign-in throttling (django-axes): repeated failures lock a username or an address out for a while."""

from __future__ import annotations

import datetime
import re

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory

from conftest import PASSWORD
from crm.security.throttle import client_ip

LOCKED = "Too many failed sign-in attempts. Try again in 15 minutes, or ask an admin of your team to unlock it."
WRONG = "That username and password don&#x27;t match an active account."
ADMIN_WRONG = "Please enter the correct username and password for a staff account."


def sign_in(client, username: str, password: str, *, url: str = "/login/", address: str = "127.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, username: str, times: int, **kwargs) -> list:
    return [sign_in(client, username, "not-the-password", **kwargs) for _ in range(times)]


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_fifth_wrong_password_locks_the_account_and_says_so_on_the_sign_in_page(client, member_user):
    responses = fail(client, member_user.username, 5)

    for response in responses[:4]:
        assert response.status_code == 200
        assert WRONG in response.content.decode()
    locked = responses[4]
    assert locked.status_code == 429
    html = locked.content.decode()
    assert LOCKED in html
    assert WRONG not in html
    assert 'name="password"' in html  # the sign-in page with its form, not a bare error page


def test_the_right_password_is_refused_while_locked_out(client, member_user):
    fail(client, member_user.username, 5)

    response = sign_in(client, member_user.username, PASSWORD)

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not is_signed_in(client)


def test_the_admin_sign_in_locks_out_after_the_same_failures(client, admin_user):
    responses = fail(client, admin_user.username, 5, url="/admin/login/")

    assert all(r.status_code == 200 and ADMIN_WRONG in r.content.decode() for r in responses[:4])
    assert responses[4].status_code == 429
    right = sign_in(client, admin_user.username, PASSWORD, url="/admin/login/")
    assert right.status_code == 429
    assert LOCKED in right.content.decode()
    assert 'name="password"' in right.content.decode()
    assert not is_signed_in(client)


def test_failures_on_the_admin_sign_in_count_towards_the_app_sign_in(client, admin_user):
    fail(client, admin_user.username, 3, url="/admin/login/")
    fail(client, admin_user.username, 2)

    assert sign_in(client, admin_user.username, PASSWORD).status_code == 429


def test_one_address_trying_many_usernames_is_locked_out_but_others_can_sign_in(client, member_user):
    for n in range(5):
        sign_in(client, f"guess{n}", "not-the-password", address="203.0.113.9")

    from_attacker = sign_in(client, member_user.username, PASSWORD, address="203.0.113.9")
    assert from_attacker.status_code == 429
    from_office = sign_in(client, member_user.username, PASSWORD, address="192.0.2.10")
    assert from_office.status_code == 302
    assert is_signed_in(client)


def test_a_locked_account_is_locked_from_every_address(client, member_user):
    for n in range(5):
        sign_in(client, member_user.username, "not-the-password", address=f"198.51.100.{n + 1}")

    assert sign_in(client, member_user.username, PASSWORD, address="192.0.2.10").status_code == 429


def comparable(response, username: str) -> str:
    """The page with what legitimately differs (the typed username, the CSRF token) blanked out."""
    html = response.content.decode().replace(f'value="{username}"', 'value="USERNAME"')
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "CSRF", html)


def test_an_unknown_username_is_answered_exactly_like_a_known_one(client, member_user):
    known = fail(client, member_user.username, 6, address="192.0.2.1")
    unknown = fail(client, "nobody-here", 6, address="192.0.2.2")

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [200] * 4 + [429] * 2
    for mine, theirs in zip(known, unknown, strict=True):
        assert comparable(mine, member_user.username) == comparable(theirs, "nobody-here")


def test_the_lockout_ends_when_the_cool_off_has_passed(client, member_user):
    fail(client, member_user.username, 5)
    assert sign_in(client, member_user.username, PASSWORD).status_code == 429

    # Fifteen minutes and a bit later (the attempt time is moved back instead of waiting).
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16))

    response = sign_in(client, member_user.username, PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(client)


def test_the_lockout_still_holds_just_before_the_cool_off_ends(client, member_user):
    fail(client, member_user.username, 5)
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=14))

    assert sign_in(client, member_user.username, PASSWORD).status_code == 429


def test_another_attempt_during_a_lockout_starts_the_cool_off_again(client, member_user):
    fail(client, member_user.username, 5)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=14)
    AccessAttempt.objects.update(attempt_time=long_ago)

    assert sign_in(client, member_user.username, PASSWORD).status_code == 429

    attempt = AccessAttempt.objects.get(username=member_user.username)
    assert attempt.attempt_time > long_ago + datetime.timedelta(minutes=13)


def test_the_failure_limit_and_cool_off_come_from_the_settings(client, member_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=30)

    first, second = fail(client, member_user.username, 2)

    assert first.status_code == 200
    assert second.status_code == 429
    assert "Try again in 30 minutes" in second.content.decode()


def test_an_admin_unlocks_an_account_by_deleting_its_attempts_in_the_admin(client, member_user, admin_user):
    fail(client, member_user.username, 5, address="192.0.2.7")
    attempt = AccessAttempt.objects.get(username=member_user.username)

    client.force_login(admin_user)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert member_user.username in listing.content.decode()
    deleted = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    client.logout()

    response = sign_in(client, member_user.username, PASSWORD, address="192.0.2.7")
    assert response.status_code == 302
    assert is_signed_in(client)


def test_axes_reset_username_unlocks_an_account_from_the_command_line(client, member_user):
    fail(client, member_user.username, 5)

    call_command("axes_reset_username", member_user.username)

    assert sign_in(client, member_user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_before_the_limit_goes_through(client, member_user):
    fail(client, member_user.username, 4)

    assert sign_in(client, member_user.username, PASSWORD).status_code == 302


def test_client_login_in_tests_works_beside_axes(client, member_user):
    assert client.login(username=member_user.username, password=PASSWORD)
    assert not client.login(username=member_user.username, password="not-the-password")


# --- The client's address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "10.0.0.2"),
        (0, "198.51.100.7", "10.0.0.2"),  # no proxy trusted: a client-sent header is ignored
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own entry further left proves nothing
        (2, "198.51.100.7, 172.16.0.3", "198.51.100.7"),
        (1, "", "10.0.0.2"),  # a proxy that sent no header: the nearest address is all there is
    ],
)
def test_the_client_address_is_remote_addr_unless_proxies_are_trusted(settings, proxies, forwarded, expected):
    settings.CRM_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_behind_a_trusted_proxy_the_lockout_follows_the_forwarded_address(client, member_user, settings):
    settings.CRM_TRUSTED_PROXIES = 1
    for n in range(5):
        client.post(
            "/login/",
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )

    office = client.post(
        "/login/",
        {"username": member_user.username, "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.10",
    )
    assert office.status_code == 302
