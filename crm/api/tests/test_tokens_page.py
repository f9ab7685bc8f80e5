"""Settings → API tokens: create one (shown once), see it listed, revoke it."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from conftest import HX
from crm.models import ApiToken

TOKEN = re.compile(r"vcrm_[A-Za-z0-9_-]{40,}")


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_new_token_is_shown_once_and_then_only_its_start(member_client, member_user, headers):
    response = member_client.post(
        reverse("api_token_create"), {"name": "Excel refresh", "lifetime": "30"}, headers=headers
    )
    assert response.status_code == 200
    raw = TOKEN.search(response.content.decode()).group()
    token = ApiToken.objects.get(user=member_user)
    assert token.name == "Excel refresh"
    assert token.expires_at is not None
    assert (token.expires_at - token.created_at).days in (29, 30)
    assert ("<html" in response.content.decode()) is not bool(headers)

    page = member_client.get(reverse("settings")).content.decode()
    assert "Excel refresh" in page
    assert token.key_start in page
    assert raw not in page


def test_a_token_without_a_name_is_refused_with_a_field_error(member_client):
    response = member_client.post(reverse("api_token_create"), {"name": "  ", "lifetime": ""}, headers=HX)
    assert response.status_code == 200
    assert "Name the token after what will use it." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_working(member_client, member_user, client):
    token, raw = ApiToken.issue(member_user, "Script")
    response = member_client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_revoked
    assert member_client.get("/api/v1/tags", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_nobody_sees_or_revokes_someone_elses_token(admin_client, member_user):
    token, _ = ApiToken.issue(member_user, "Max's script")
    assert "Max&#x27;s script" not in admin_client.get(reverse("settings")).content.decode()
    assert admin_client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_revoking_from_the_settings_page_with_htmx_redraws_the_token_list(member_client, member_user):
    token, _ = ApiToken.issue(member_user, "Script")
    response = member_client.post(reverse("api_token_revoke", args=[token.pk]), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="api-tokens"')
    assert "Revoked" in html


def test_a_token_used_again_within_a_minute_is_not_written_again(member_user, django_assert_num_queries):
    from django.utils import timezone

    token, raw = ApiToken.issue(member_user, "Script")
    now = timezone.now()
    assert ApiToken.authenticate(raw, now).last_used_at == now
    with django_assert_num_queries(1):  # the lookup only
        ApiToken.authenticate(raw, now + datetime.timedelta(seconds=30))
    later = now + datetime.timedelta(minutes=2)
    assert ApiToken.authenticate(raw, later).last_used_at == later
