"""Who an API request acts as, and how it fails: tokens, sessions with CSRF, problem details."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from crm.models import ApiToken, hash_api_token
from crm.testing.factories import contact

CONTACTS = "/api/v1/contacts"
PROBLEM = "application/problem+json"


def test_a_request_without_a_token_gets_a_json_401_not_a_sign_in_redirect(client, db):
    response = client.get(CONTACTS)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer vcrm_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_wrong_or_malformed_token_gets_401(client, member_user, header):
    response = client.get(CONTACTS, headers={"Authorization": header})
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM


def test_a_token_is_stored_only_as_its_hash_and_acts_as_its_user(member_api):
    contact(last_name="Okafor")
    token = ApiToken.objects.get(pk=member_api.token.pk)
    assert token.key_hash == hash_api_token(member_api.raw)
    assert member_api.raw not in (token.key_hash, token.key_start)
    response = member_api.get(CONTACTS)
    assert response.status_code == 200
    assert [item["last_name"] for item in response.json()["items"]] == ["Okafor"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_or_expired_token_or_one_of_a_deactivated_user_is_refused(client, member_api, member_user):
    assert member_api.get(CONTACTS).status_code == 200
    member_api.token.revoke(timezone.now())
    assert member_api.get(CONTACTS).status_code == 401

    expired, raw = ApiToken.issue(member_user, "Old", expires_at=timezone.now() - datetime.timedelta(minutes=1))
    assert client.get(CONTACTS, headers={"Authorization": f"Bearer {raw}"}).status_code == 401

    _, raw = ApiToken.issue(member_user, "Fresh", expires_at=timezone.now() + datetime.timedelta(days=1))
    assert client.get(CONTACTS, headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    member_user.is_active = False
    member_user.save()
    assert client.get(CONTACTS, headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_a_signed_in_session_may_call_the_api_but_writes_need_the_csrf_token(member_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member_user)
    assert browser.get(CONTACTS).status_code == 200
    refused = browser.post(CONTACTS, {"last_name": "Okafor"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == PROBLEM
    assert not refused.json().get("errors")

    browser.get("/settings/")  # any page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    allowed = browser.post(
        CONTACTS, {"last_name": "Okafor"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert allowed.status_code == 201


def test_invalid_fields_answer_422_with_field_errors_and_save_nothing(member_api):
    response = member_api.post(CONTACTS, {"first_name": "Ada", "email": "not-an-email", "last_name": "x" * 101})
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert "last_name" in response.json()["errors"]

    response = member_api.post(CONTACTS, {"first_name": "Ada", "email": "not-an-email"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) >= {"last_name", "email"}


def test_a_body_that_is_not_json_is_a_client_error_never_a_500(member_api):
    response = member_api.client.post(
        CONTACTS, "{not json", content_type="application/json", headers=member_api.headers
    )
    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == PROBLEM


def test_a_duplicate_email_answers_409(member_api):
    contact(last_name="Okafor", email="ada@atlas.example")
    response = member_api.post(CONTACTS, {"last_name": "Other", "email": " ADA@atlas.example "})
    assert response.status_code == 409
    assert response.json()["errors"] == {"email": ["Already in use."]}


def test_an_unknown_record_answers_404_as_problem_details(member_api):
    response = member_api.get(f"{CONTACTS}/987654")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_an_oversized_body_answers_413(member_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = member_api.post(CONTACTS, {"last_name": "Okafor", "notes": "x" * 5000})
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM


def test_each_token_is_throttled_on_its_own(client, member_user, settings):
    cache.clear()
    settings.CRM_API_RATE = "2/min"
    _, first = ApiToken.issue(member_user, "One")
    _, second = ApiToken.issue(member_user, "Two")
    statuses = [client.get(CONTACTS, headers={"Authorization": f"Bearer {first}"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get(CONTACTS, headers={"Authorization": f"Bearer {second}"}).status_code == 200
    cache.clear()
