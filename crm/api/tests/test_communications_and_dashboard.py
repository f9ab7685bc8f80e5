"""Logging a call, listing open next actions, and the dashboard's figures through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import Communication
from crm.testing.factories import action, comm, commitment, contact, fund, lp

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_every_role_logs_a_call_with_a_next_action_and_history_says_api(any_api):
    person = contact("Okafor")
    response = any_api.post(
        "/api/v1/communications",
        {
            "contact_id": person.pk,
            "type": "call",
            "subject": "Fund III intro",
            "duration_minutes": 30,
            "next_action": "Send the deck",
            "next_action_date": "2030-01-15",
        },
    )
    assert response.status_code == 201, response.content
    logged = Communication.objects.get(pk=response.json()["id"])
    assert (logged.contact, logged.subject, logged.created_by) == (person, "Fund III intro", any_api.user)
    assert list(logged.team_attendees.all()) == [any_api.user]
    assert logged.history.latest().history_change_reason == "API"


def test_a_call_saying_nothing_is_refused_with_the_forms_message(member_api):
    response = member_api.post("/api/v1/communications", {"contact_id": contact().pk})
    assert response.status_code == 422
    assert "subject" in response.json()["errors"]
    assert member_api.post("/api/v1/communications", {"contact_id": 99999999, "subject": "x"}).status_code == 422


def test_open_next_actions_are_the_log_filtered_as_on_its_page(member_api, django_assert_max_num_queries):
    person = contact()
    due = action(person, due_in_days=2)
    comm(person)
    member_api.get("/api/v1/tags")
    with django_assert_max_num_queries(6):
        body = member_api.get("/api/v1/communications", {"open_action": "yes"}).json()
    assert [item["id"] for item in body["items"]] == [due.pk]
    assert member_api.get("/api/v1/communications").json()["total"] == 2


def test_the_dashboard_figures_are_the_dashboard_pages(member_api, admin_client):
    fund_iii = fund("Fund III", target_size=Decimal("100000000"))
    commitment(lp(contact()), fund_iii, "2500000")
    body = member_api.get("/api/v1/reports/dashboard").json()
    assert body["lp_count"] == 1
    [figures] = body["funds"]
    assert figures["fund"] == "Fund III"
    assert Decimal(figures["committed"]) == Decimal("2500000")
    page = admin_client.get("/").context
    assert page["lp_count"] == body["lp_count"]


@pytest.mark.parametrize("name", ["fundraising", "conversion", "team", "concentration"])
def test_each_report_is_the_table_its_export_writes(manager_api, manager_client, name):
    fund_iii = fund("Fund III", target_size=Decimal("100000000"), status="raising")
    commitment(lp(contact()), fund_iii, "2500000")
    body = manager_api.get(f"/api/v1/reports/{name}", {"fund": fund_iii.pk}).json()
    assert body["report"] == name
    exported = manager_client.get(f"/reports/{name}/export/?fund={fund_iii.pk}&format=csv")
    assert exported.status_code == 200
    content = b"".join(exported.streaming_content) if exported.streaming else exported.content
    first_line = content.decode("utf-8-sig").splitlines()[0]
    assert first_line.split(",") == [f'"{h}"' if "," in h else h for h in body["headers"]]


def test_a_report_of_an_unknown_fund_or_period_is_a_422(member_api):
    assert member_api.get("/api/v1/reports/team", {"months": 7}).status_code == 422
    assert member_api.get("/api/v1/reports/fundraising", {"fund": 999999}).status_code == 422
    assert member_api.get("/api/v1/reports/nonsense").status_code == 404
