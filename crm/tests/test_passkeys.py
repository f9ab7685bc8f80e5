"""Passkeys as a second factor: who is held, who may register one, naming, removal, the policy.

The ceremonies themselves (a browser signing a challenge) are in test_passkeys_browser.py;
here the passkeys are rows, which is all the server's rules look at.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from io import StringIO
from urllib.parse import urlencode

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import RequestFactory
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from webauthn import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url

from conftest import PASSWORD
from crm.security import services
from crm.security.passkeys import relying_party_id

VERIFY = "/login/verify/"
ENROL = "/settings/two-factor/add/"
CODES = "/settings/two-factor/recovery-codes/"
REMOVE_AUTHENTICATOR = "/settings/two-factor/remove/"
REGISTER_BEGIN = "/settings/passkeys/add/begin/"
REGISTER_COMPLETE = "/settings/passkeys/add/complete/"
VERIFY_BEGIN = "/login/verify/passkey/begin/"
VERIFY_COMPLETE = "/login/verify/passkey/complete/"


def add_passkey(user, name: str = "Work laptop", credential_id: bytes = b"laptop") -> WebAuthnCredential:
    return WebAuthnCredential.objects.create(
        user=user, name=name, credential_id=credential_id + user.username.encode(), public_key=b"key", aaguid=""
    )


def sign_in(client, user):
    return client.post("/login/", {"username": user.username, "password": PASSWORD})


def is_verified(client) -> bool:
    return "otp_device_id" in client.session


def passed_second_step(client, device) -> None:
    """The session signed its second step with ``device`` (what django_otp.login records)."""
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()


def post_json(client, url: str, data: dict | None = None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


@pytest.fixture(autouse=True)
def _no_code_throttling(settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


# --- The second step of sign-in ----------------------------------------------------------


def test_a_user_with_only_a_passkey_is_held_at_the_second_step(client, member_user):
    add_passkey(member_user)

    sign_in(client, member_user)
    for url in ("/", "/contacts/", "/settings/", REGISTER_BEGIN):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{VERIFY}?{urlencode({'next': url})}"
    assert not is_verified(client)


def test_the_second_step_offers_the_passkey_and_no_code_field_without_codes(client, member_user):
    add_passkey(member_user)
    sign_in(client, member_user)

    html = client.get(f"{VERIFY}?next=/contacts/").content.decode()

    assert "<h1>Use your passkey</h1>" in html
    assert 'id="passkey-verification-placeholder"' in html
    assert "django_otp_webauthn/otp_webauthn_auth.js" in html
    assert 'name="code"' not in html
    assert '<input type="hidden" name="next" value="/contacts/">' in html
    config_block = html.split('<script id="otp_webauthn_config" type="application/json">')[1]
    config = json.loads(config_block.split("</script>")[0])
    assert config["beginAuthenticationUrl"] == VERIFY_BEGIN
    assert config["completeAuthenticationUrl"] == VERIFY_COMPLETE


def test_a_passkey_user_can_still_sign_in_with_a_recovery_code(client, member_user):
    add_passkey(member_user)
    codes = services.new_recovery_codes(member_user)
    sign_in(client, member_user)

    html = client.get(VERIFY).content.decode()
    assert "One of your recovery codes, if your passkey is not at hand." in html
    response = client.post(VERIFY, {"code": codes[0], "next": "/"})

    assert response["Location"] == "/"
    assert is_verified(client)


def test_the_passkey_step_is_open_to_a_session_that_owes_it_and_names_only_its_users_passkeys(
    client, member_user, manager_user
):
    mine = add_passkey(member_user)
    add_passkey(manager_user, credential_id=b"other")
    sign_in(client, member_user)

    response = post_json(client, VERIFY_BEGIN)

    assert response.status_code == 200
    options = response.json()
    assert options["rpId"] == "testserver"
    assert options["userVerification"] == "discouraged"
    allowed = [c["id"] for c in options["allowCredentials"]]
    assert len(allowed) == 1
    assert WebAuthnCredential.get_by_credential_id(base64url_to_bytes(allowed[0])) == mine
    assert "otp_webauthn_authentication_state" in client.session
    assert not is_verified(client)


def test_finishing_the_passkey_step_without_starting_it_is_refused(client, member_user):
    add_passkey(member_user)
    sign_in(client, member_user)

    response = post_json(client, VERIFY_COMPLETE, {"id": "x"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_state"
    assert not is_verified(client)


def test_an_anonymous_visitor_cannot_start_a_passkey_sign_in(client, member_user):
    add_passkey(member_user)

    response = post_json(client, VERIFY_BEGIN)

    # Not even the ceremony starts without the password first.
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert "otp_webauthn_authentication_state" not in client.session


# --- Registering a passkey ----------------------------------------------------------------


def test_registering_a_passkey_needs_sign_in(client):
    for url in (REGISTER_BEGIN, REGISTER_COMPLETE, VERIFY_COMPLETE):
        response = post_json(client, url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/login/?next={url}", url


def test_a_session_owing_its_second_step_cannot_register_a_passkey(client, member_user):
    TOTPDevice.objects.create(user=member_user, name=services.AUTHENTICATOR_NAME, confirmed=True)
    sign_in(client, member_user)

    for url in (REGISTER_BEGIN, REGISTER_COMPLETE):
        response = post_json(client, url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{VERIFY}?next="), url
    assert "otp_webauthn_register_state" not in client.session


def test_registration_options_name_the_crm_and_exclude_the_users_passkeys(member_client, member_user):
    passed_second_step(member_client, add_passkey(member_user))

    response = post_json(member_client, REGISTER_BEGIN)

    assert response.status_code == 200
    options = response.json()
    assert options["rp"] == {"name": "Venture CRM", "id": "testserver"}
    assert options["user"]["name"] == member_user.username
    assert len(options["excludeCredentials"]) == 1
    # A second factor, not a passwordless sign-in: the passkey need not live on the device.
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert "otp_webauthn_register_state" in member_client.session


def test_the_relying_party_id_comes_from_the_setting_or_the_host(settings):
    request = RequestFactory().get("/", HTTP_HOST="crm.example.com:8443")
    settings.ALLOWED_HOSTS = ["crm.example.com", "[::1]"]
    assert relying_party_id(request) == "crm.example.com"
    assert relying_party_id(RequestFactory().get("/", HTTP_HOST="[::1]:8000")) == "[::1]"

    settings.CRM_WEBAUTHN_RP_ID = "example.com"
    assert relying_party_id(request) == "example.com"


def test_a_user_the_policy_sends_to_enrol_may_add_a_passkey_there(client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    sign_in(client, manager_user)

    html = client.get(ENROL).content.decode()
    assert "Or add a passkey instead" in html
    assert 'id="passkey-registration-placeholder"' in html
    response = post_json(client, REGISTER_BEGIN)

    assert response.status_code == 200
    assert response.json()["rp"]["id"] == "testserver"


def test_settings_lists_the_users_passkeys_with_the_add_button(member_client, member_user, manager_user):
    passed_second_step(member_client, add_passkey(member_user, "Work laptop"))
    add_passkey(manager_user, "Someone else's key", credential_id=b"other")

    html = member_client.get("/settings/").content.decode()

    assert "Work laptop" in html
    assert "Someone else&#x27;s key" not in html
    assert 'id="passkey-register-button"' in html
    assert "django_otp_webauthn/otp_webauthn_register.js" in html
    assert "js/passkeys.js" in html


# --- Naming and removing -------------------------------------------------------------------


def test_a_new_passkey_is_named_and_then_its_recovery_codes_are_shown(member_client, member_user):
    passkey = add_passkey(member_user, name=services.default_passkey_name(member_user))
    assert passkey.name == "Passkey"
    passed_second_step(member_client, passkey)
    session = member_client.session
    session[services.NEW_CODES_SESSION_KEY] = services.new_recovery_codes(member_user)
    session.save()

    response = member_client.post(f"/settings/passkeys/{passkey.pk}/name/", {"name": "YubiKey"})

    assert response["Location"] == CODES
    passkey.refresh_from_db()
    assert passkey.name == "YubiKey"
    assert services.default_passkey_name(member_user) == "Passkey 2"


def test_renaming_a_passkey_needs_a_name(member_client, member_user):
    passkey = add_passkey(member_user)
    passed_second_step(member_client, passkey)

    response = member_client.post(f"/settings/passkeys/{passkey.pk}/name/", {"name": ""})

    assert response.status_code == 200
    passkey.refresh_from_db()
    assert passkey.name == "Work laptop"


def test_another_users_passkey_cannot_be_renamed_or_removed(member_client, manager_user):
    theirs = add_passkey(manager_user)

    for url in (f"/settings/passkeys/{theirs.pk}/name/", f"/settings/passkeys/{theirs.pk}/remove/"):
        assert member_client.get(url).status_code == 404, url
        assert member_client.post(url, {"name": "mine now", "password": PASSWORD}).status_code == 404, url
    theirs.refresh_from_db()
    assert theirs.name == "Work laptop"


def test_removing_a_passkey_needs_the_password_or_a_code(member_client, member_user):
    passkey = add_passkey(member_user)
    codes = services.new_recovery_codes(member_user)
    passed_second_step(member_client, passkey)
    url = f"/settings/passkeys/{passkey.pk}/remove/"

    assert "Enter your password, or a code, to confirm." in member_client.post(url, {}).content.decode()
    assert "That password is not right." in member_client.post(url, {"password": "wrong"}).content.decode()
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()

    response = member_client.post(url, {"code": codes[0]})

    assert response["Location"] == "/settings/#two-factor"
    assert not WebAuthnCredential.objects.filter(pk=passkey.pk).exists()
    # It was the last second factor: the recovery codes went with it.
    assert not StaticDevice.objects.filter(user=member_user).exists()


def test_removing_one_of_two_passkeys_keeps_the_recovery_codes(member_client, member_user):
    laptop = add_passkey(member_user)
    add_passkey(member_user, "YubiKey", credential_id=b"key")
    passed_second_step(member_client, laptop)
    services.new_recovery_codes(member_user)

    response = member_client.post(f"/settings/passkeys/{laptop.pk}/remove/", {"password": PASSWORD})

    assert response["Location"] == "/settings/#two-factor"
    assert list(services.passkeys_for(member_user).values_list("name", flat=True)) == ["YubiKey"]
    assert services.recovery_codes_left(member_user) == 10
    # The session passed its second step with the removed passkey, and stays past it.
    assert member_client.get("/settings/").status_code == 200


def test_removing_the_authenticator_keeps_passkeys_and_recovery_codes(member_client, member_user):
    authenticator = TOTPDevice.objects.create(user=member_user, name=services.AUTHENTICATOR_NAME, confirmed=True)
    passed_second_step(member_client, authenticator)
    add_passkey(member_user)
    services.new_recovery_codes(member_user)
    assert "your passkeys and recovery codes stay" in member_client.get(REMOVE_AUTHENTICATOR).content.decode()

    response = member_client.post(REMOVE_AUTHENTICATOR, {"password": PASSWORD})

    assert response["Location"] == "/settings/#two-factor"
    assert not TOTPDevice.objects.filter(user=member_user).exists()
    assert services.has_passkey(member_user)
    assert services.recovery_codes_left(member_user) == 10
    # The session passed its second step with the app: it is not asked for a passkey now.
    assert member_client.get("/settings/").status_code == 200


def test_removing_the_last_passkey_under_the_policy_sends_back_to_enrol(manager_client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    passkey = add_passkey(manager_user)
    passed_second_step(manager_client, passkey)

    response = manager_client.post(f"/settings/passkeys/{passkey.pk}/remove/", {"password": PASSWORD})

    assert response["Location"] == ENROL


# --- The policy and the admin tools ------------------------------------------------------


def test_a_passkey_satisfies_the_policy(client, manager_user, settings):
    settings.CRM_2FA_REQUIRED = "staff"
    add_passkey(manager_user)
    sign_in(client, manager_user)

    # Held at the second step (a passkey to use), not sent to enrol.
    assert client.get("/")["Location"].startswith(f"{VERIFY}?next=")
    assert services.two_factor_state(manager_user) == services.TwoFactorState(has_device=True, required=True)


def test_check_deploy_counts_a_passkey_as_an_admins_second_factor(admin_user):
    assert [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]

    add_passkey(admin_user)

    assert not [m for m in run_checks(include_deployment_checks=True) if m.id == "crm.W002"]


def test_reset_two_factor_removes_passkeys_too(client, member_user):
    add_passkey(member_user)
    services.new_recovery_codes(member_user)
    out = StringIO()

    call_command("reset_two_factor", member_user.username, stdout=out)

    assert "Removed 2 two-factor devices of 'max'." in out.getvalue()
    sign_in(client, member_user)
    assert client.get("/").status_code == 200


def test_an_admin_removes_a_users_passkey_in_the_admin(admin_client, member_user):
    passkey = add_passkey(member_user)

    assert admin_client.get("/admin/django_otp_webauthn/webauthncredential/").status_code == 200
    response = admin_client.post(f"/admin/django_otp_webauthn/webauthncredential/{passkey.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


# --- The ceremonies, signed by a software authenticator ----------------------------------


class SoftAuthenticator:
    """Just enough of a passkey to sign what the server asks: a P-256 key, "none" attestation."""

    def __init__(self, rp_id: str = "testserver"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.rp_id = rp_id
        self.sign_count = 0

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin}).encode()

    def _authenticator_data(self, attested: bytes = b"") -> bytes:
        self.sign_count += 1
        flags = 0x01 | 0x04 | (0x40 if attested else 0)  # user present, verified, credential data
        rp_id_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + attested

    def register(self, options: dict, origin: str = "http://testserver") -> dict:
        numbers = self.key.public_key().public_numbers()
        cose_key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + cbor2.dumps(cose_key)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self._authenticator_data(attested)})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def sign_in(self, options: dict, origin: str = "http://testserver") -> dict:
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        authenticator_data = self._authenticator_data()
        signed = authenticator_data + hashlib.sha256(client_data).digest()
        return {
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(authenticator_data),
                "signature": bytes_to_base64url(self.key.sign(signed, ec.ECDSA(hashes.SHA256()))),
            },
            "clientExtensionResults": {},
        }


def register_passkey(client, authenticator: SoftAuthenticator) -> WebAuthnCredential:
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, authenticator.register(options))
    assert response.status_code == 200, response.content
    return WebAuthnCredential.objects.get(pk=response.json()["id"])


def test_a_registered_passkey_signs_the_second_step_and_a_new_session_id_follows(client, member_user):
    sign_in(client, member_user)
    laptop = SoftAuthenticator()
    passkey = register_passkey(client, laptop)
    assert passkey.name == "Passkey"
    assert services.recovery_codes_left(member_user) == 10
    client.post("/logout/")

    sign_in(client, member_user)
    session_id = client.session.session_key
    options = post_json(client, VERIFY_BEGIN).json()
    response = post_json(client, f"{VERIFY_COMPLETE}?next=/contacts/", laptop.sign_in(options))

    assert response.status_code == 200
    assert response.json()["redirect_url"] == "/contacts/"
    assert is_verified(client)
    assert client.session.session_key != session_id
    assert client.get("/contacts/").status_code == 200


def test_a_passkey_signed_for_another_origin_is_refused(client, member_user):
    sign_in(client, member_user)
    laptop = SoftAuthenticator()
    register_passkey(client, laptop)
    client.post("/logout/")
    sign_in(client, member_user)

    options = post_json(client, VERIFY_BEGIN).json()
    response = post_json(client, VERIFY_COMPLETE, laptop.sign_in(options, origin="https://crm-login.example.net"))

    assert response.status_code == 422
    assert not is_verified(client)


def test_another_users_passkey_does_not_sign_the_second_step(client, member_user, manager_user):
    sign_in(client, manager_user)
    theirs = SoftAuthenticator()
    register_passkey(client, theirs)
    client.post("/logout/")
    add_passkey(member_user)
    sign_in(client, member_user)

    options = post_json(client, VERIFY_BEGIN).json()
    response = post_json(client, VERIFY_COMPLETE, theirs.sign_in(options))

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "credential_user_mismatch"
    assert not is_verified(client)
