"""Two-factor authentication: the second step of sign-in, enrolment, recovery codes and the policy."""

from __future__ import annotations

import re
import time
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import user_has_device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD, CRMClient
from crm.models import SecurityPolicy, TwoFactorPolicy
from crm.security import services
from crm.security.forms import WRONG_CODE

WRONG_CODE_HTML = WRONG_CODE.replace("'", "&#x27;")
VERIFY = "/login/verify/"
ENROL = "/settings/two-factor/add/"
CODES = "/settings/two-factor/recovery-codes/"
REMOVE = "/settings/two-factor/remove/"


def totp_code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps_ahead`` periods later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.create(user=user, name=services.AUTHENTICATOR_NAME, confirmed=True)
    return device, services.new_recovery_codes(user)


def sign_in(client, user, password: str = PASSWORD, **extra):
    return client.post("/login/", {"username": user.username, "password": password, **extra})


def is_verified(client) -> bool:
    return "otp_device_id" in client.session


@pytest.fixture(autouse=True)
def _no_code_throttling(settings):
    # django-otp makes a device wait 1 s, 2 s, 4 s… after each wrong code; these tests type a
    # wrong code and then the right one at once. test_wrong_codes_in_a_row_are_throttled keeps it on.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


# --- The second step of sign-in ----------------------------------------------------------


def test_a_user_with_an_authenticator_must_enter_a_code_before_any_page(client, member_user):
    device, _ = enrol(member_user)

    assert sign_in(client, member_user).status_code == 302
    for url in ("/", "/contacts/", "/settings/", "/search/?q=a"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{VERIFY}?{urlencode({'next': url})}"
    assert not is_verified(client)

    page = client.get(VERIFY)
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.content.decode()
    response = client.post(VERIFY, {"code": totp_code(device), "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_verified(client)
    assert client.get("/").status_code == 200


def test_the_second_step_is_asked_for_whatever_the_policy(client, member_user, settings):
    settings.CRM_2FA_REQUIRED = "off"
    SecurityPolicy.objects.create(two_factor_required=TwoFactorPolicy.OFF)
    enrol(member_user)

    sign_in(client, member_user)

    assert client.get("/").headers["Location"].startswith(VERIFY)


def test_a_wrong_code_is_refused_with_a_message(client, member_user):
    device, _ = enrol(member_user)
    sign_in(client, member_user)

    response = client.post(VERIFY, {"code": "000000" if totp_code(device) != "000000" else "111111"})

    assert response.status_code == 200
    assert WRONG_CODE_HTML in response.content.decode()
    assert not is_verified(client)
    assert client.get("/").status_code == 302


def test_wrong_codes_in_a_row_are_throttled(client, member_user, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    settings.OTP_STATIC_THROTTLE_FACTOR = 1
    device, _ = enrol(member_user)
    sign_in(client, member_user)

    client.post(VERIFY, {"code": "not-a-code"})
    response = client.post(VERIFY, {"code": totp_code(device)})

    assert "Too many wrong codes in a row" in response.content.decode()
    assert not is_verified(client)


def test_the_second_step_returns_to_the_page_asked_for(client, member_user):
    device, _ = enrol(member_user)
    sign_in(client, member_user, next="/contacts/")
    assert client.get("/contacts/")["Location"] == f"{VERIFY}?next=%2Fcontacts%2F"

    response = client.post(VERIFY, {"code": totp_code(device), "next": "/contacts/"})

    assert response["Location"] == "/contacts/"


def test_the_second_step_does_not_redirect_to_another_host(client, member_user):
    device, _ = enrol(member_user)
    sign_in(client, member_user)

    response = client.post(VERIFY, {"code": totp_code(device), "next": "https://evil.example/"})

    assert response["Location"] == "/"


def test_a_recovery_code_signs_in_once_only(client, member_user):
    _, codes = enrol(member_user)
    sign_in(client, member_user)

    first = client.post(VERIFY, {"code": codes[0].upper()}, follow=True)
    assert is_verified(client)
    assert "You used a recovery code; 9 left." in first.content.decode()
    client.post("/logout/")

    sign_in(client, member_user)
    again = client.post(VERIFY, {"code": codes[0]})
    assert again.status_code == 200
    assert WRONG_CODE_HTML in again.content.decode()
    assert not is_verified(client)
    assert StaticToken.objects.filter(device__user=member_user).count() == 9


def test_a_user_without_a_device_signs_in_with_the_password_alone(client, member_user):
    sign_in(client, member_user)

    assert client.get("/").status_code == 200
    assert client.get(VERIFY)["Location"] == "/"


def test_a_session_owing_a_code_cannot_set_up_another_authenticator(client, member_user):
    enrol(member_user)
    sign_in(client, member_user)

    assert client.get(ENROL)["Location"].startswith(VERIFY)
    assert client.post(ENROL, {"code": "123456"})["Location"].startswith(VERIFY)
    assert client.post(CODES)["Location"].startswith(VERIFY)
    assert client.post(REMOVE, {"password": PASSWORD})["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=member_user).count() == 1


def test_an_htmx_request_that_owes_a_code_is_redirected_as_a_whole_page(client, member_user):
    enrol(member_user)
    sign_in(client, member_user)

    response = client.get("/contacts/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(VERIFY)


def test_the_admin_site_needs_the_second_step_of_an_admin_with_a_device(client, admin_user):
    device, _ = enrol(admin_user)
    client.post("/admin/login/", {"username": admin_user.username, "password": PASSWORD, "next": "/admin/"})

    blocked = client.get("/admin/")
    assert blocked.status_code == 302
    assert blocked["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    assert client.get("/admin/crm/user/")["Location"].startswith(VERIFY)

    client.post(VERIFY, {"code": totp_code(device)})
    assert client.get("/admin/").status_code == 200


def test_checking_for_a_second_step_adds_no_query_to_a_page(member_user, settings):
    def queries() -> int:
        client = CRMClient()  # a new client loads the middleware as the settings say now
        client.force_login(member_user)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/contacts/").status_code == 200
        return len(ctx.captured_queries)

    with_check = queries()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "crm.security.middleware.TwoFactorMiddleware"]

    assert queries() == with_check


# --- The policy --------------------------------------------------------------------------


def test_policy_staff_sends_a_manager_without_a_device_to_enrol_and_blocks_other_pages(client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    sign_in(client, manager_user)

    for url in ("/", "/contacts/", "/settings/", "/pipeline/", VERIFY):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{ENROL}?next="), url
    page = client.get(ENROL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Your team requires a second factor for your account." in html
    assert 'src="data:image/svg+xml' in html

    device = TOTPDevice.objects.get(user=manager_user, confirmed=False)
    done = client.post(ENROL, {"code": totp_code(device), "next": "/contacts/"})
    assert done.status_code == 302
    assert done["Location"] == f"{CODES}?next=%2Fcontacts%2F"
    assert is_verified(client)
    assert client.get("/contacts/").status_code == 200


def test_policy_staff_leaves_a_member_alone(client, member_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    sign_in(client, member_user)

    assert client.get("/").status_code == 200
    assert client.get("/contacts/").status_code == 200


def test_policy_everyone_sends_a_member_to_enrol(client, member_user, settings):
    settings.CRM_2FA_REQUIRED = "everyone"
    sign_in(client, member_user)

    assert client.get("/")["Location"].startswith(ENROL)


def test_the_admin_switch_raises_the_servers_policy(client, member_user, settings):
    settings.CRM_2FA_REQUIRED = "off"
    SecurityPolicy.objects.create(two_factor_required=TwoFactorPolicy.EVERYONE)
    sign_in(client, member_user)

    assert client.get("/")["Location"].startswith(ENROL)


def test_the_admin_switch_cannot_lower_the_servers_policy(client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    SecurityPolicy.objects.create(two_factor_required=TwoFactorPolicy.OFF)
    sign_in(client, manager_user)

    assert client.get("/")["Location"].startswith(ENROL)


def test_the_admin_site_is_closed_to_an_admin_without_a_second_factor_under_the_policy(admin_client, settings):
    settings.CRM_2FA_REQUIRED = "staff"

    for url in ("/admin/", "/admin/crm/user/", "/admin/crm/securitypolicy/"):
        response = admin_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(ENROL), url


def test_sign_out_stays_reachable_while_enrolment_is_owed(manager_client, settings):
    settings.CRM_2FA_REQUIRED = "staff"

    response = manager_client.post("/logout/")

    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in manager_client.session


def test_an_admin_sets_the_policy_in_the_admin(admin_client):
    assert admin_client.get("/admin/crm/securitypolicy/")["Location"] == "/admin/crm/securitypolicy/1/change/"
    page = admin_client.get("/admin/crm/securitypolicy/1/change/")
    assert page.status_code == 200
    assert "CRM_2FA_REQUIRED" in page.content.decode()

    admin_client.post("/admin/crm/securitypolicy/1/change/", {"two_factor_required": "staff"})

    assert SecurityPolicy.objects.get().two_factor_required == "staff"
    # The admin who set it is held too, from the next page on.
    assert admin_client.get("/admin/")["Location"].startswith(ENROL)


# --- Enrolment, recovery codes and removal from Settings ---------------------------------


def test_settings_shows_two_factor_off_with_a_button_to_add_an_authenticator(member_client):
    html = member_client.get("/settings/").content.decode()

    assert "Two-factor authentication" in html
    assert f'href="{ENROL}"' in html


def test_enrolment_shows_a_qr_code_and_the_key_and_keeps_them_on_reload(member_client, member_user):
    first = member_client.get(ENROL).content.decode()
    second = member_client.get(ENROL).content.decode()

    device = TOTPDevice.objects.get(user=member_user)
    assert not device.confirmed
    secret = services.secret_for_display(device)
    assert secret in first and secret in second
    assert re.search(r'<img class="qr-code" src="data:image/svg\+xml', first)
    assert "style=" not in first


def test_an_authenticator_is_active_only_after_its_first_code(member_client, member_user):
    member_client.get(ENROL)
    device = TOTPDevice.objects.get(user=member_user)

    wrong = member_client.post(ENROL, {"code": "12345"})
    assert wrong.status_code == 200
    assert "That code does not match." in wrong.content.decode()
    assert not user_has_device(member_user)

    right = member_client.post(ENROL, {"code": totp_code(device)})
    assert right.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(member_client)


def test_new_recovery_codes_are_shown_once(member_client, member_user):
    member_client.get(ENROL)
    device = TOTPDevice.objects.get(user=member_user)
    member_client.post(ENROL, {"code": totp_code(device)})

    shown = member_client.get(CODES).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown)
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.filter(device__user=member_user).values_list("token", flat=True))

    again = member_client.get(CODES).content.decode()
    assert not re.findall(r"<li><code>", again)
    assert "You have 10 unused recovery codes." in again


def test_making_new_recovery_codes_retires_the_old_ones(member_client, member_user):
    device, old = enrol(member_user)
    member_client.post(VERIFY, {"code": totp_code(device)})

    assert member_client.post(CODES)["Location"] == CODES
    shown = member_client.get(CODES).content.decode()

    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown)
    assert len(new) == 10
    assert not set(old) & set(StaticToken.objects.filter(device__user=member_user).values_list("token", flat=True))


def test_settings_shows_two_factor_on_with_the_recovery_codes_left(member_client, member_user):
    device, _ = enrol(member_user)
    member_client.post(VERIFY, {"code": totp_code(device)})

    html = member_client.get("/settings/").content.decode()

    assert "You have 10 unused recovery codes" in html
    assert f'href="{REMOVE}"' in html


def test_removing_the_authenticator_needs_the_password_or_a_code(member_client, member_user):
    device, codes = enrol(member_user)
    member_client.post(VERIFY, {"code": codes[0]})

    nothing = member_client.post(REMOVE, {})
    assert "Enter your password, or a code, to confirm." in nothing.content.decode()
    wrong = member_client.post(REMOVE, {"password": "not-the-password"})
    assert "That password is not right." in wrong.content.decode()
    assert user_has_device(member_user)

    removed = member_client.post(REMOVE, {"code": codes[1]})
    assert removed["Location"] == "/settings/#two-factor"
    assert not user_has_device(member_user, confirmed=None)
    assert member_client.get("/").status_code == 200


def test_removing_under_the_policy_sends_straight_back_to_enrol(manager_client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    device, _ = enrol(manager_user)
    manager_client.post(VERIFY, {"code": totp_code(device)})

    response = manager_client.post(REMOVE, {"password": PASSWORD})

    assert response["Location"] == ENROL
    assert manager_client.get("/")["Location"].startswith(ENROL)


# --- Admin tools -------------------------------------------------------------------------


def test_check_deploy_warns_while_an_active_admin_has_no_second_factor(admin_user, member_user):
    warnings = [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]
    assert len(warnings) == 1
    assert "alice" in warnings[0].msg
    assert "max" not in warnings[0].msg

    enrol(admin_user)

    assert not [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]


def test_check_deploy_ignores_a_deactivated_admin_and_an_unconfirmed_device(admin_user):
    TOTPDevice.objects.create(user=admin_user, name="half done", confirmed=False)
    assert [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]

    admin_user.is_active = False
    admin_user.save()

    assert not [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]


def test_reset_two_factor_removes_a_lost_device_so_the_password_signs_in_again(client, member_user):
    enrol(member_user)
    out = StringIO()

    call_command("reset_two_factor", member_user.username, stdout=out)

    assert "Removed 2 two-factor devices of 'max'." in out.getvalue()
    sign_in(client, member_user)
    assert client.get("/").status_code == 200


def test_an_admin_removes_a_users_device_in_the_admin(admin_client, member_user):
    device, _ = enrol(member_user)

    assert admin_client.get("/admin/otp_totp/totpdevice/").status_code == 200
    response = admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_the_demo_data_still_signs_in_with_a_password_alone(client, db):
    call_command("seed_demo", stdout=StringIO())

    response = client.post("/login/", {"username": "admin", "password": "admin123"})

    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
