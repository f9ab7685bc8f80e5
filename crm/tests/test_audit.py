"""The audit page: every history row of the CRM, filtered, paged and exported, for managers up."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from crm.testing.factories import comm, contact, fund, opportunity, org, stage

AUDIT = reverse("audit_log")
EXPORT = reverse("audit_export")


def edit(record, user, **changes):
    for name, value in changes.items():
        setattr(record, name, value)
    record._history_user = user
    record.save()


@pytest.fixture
def changes(db, member_user, manager_user):
    atlas = org("Atlas Family Office")
    ada = contact("Okafor", first_name="Ada", organization=atlas)
    edit(ada, member_user, title="Partner")
    edit(atlas, manager_user, city="Zurich")
    note = comm(ada, subject="Intro call")
    return {"ada": ada, "atlas": atlas, "note": note}


def test_a_member_may_not_see_the_audit_log_or_its_export(member_client, changes):
    assert member_client.get(AUDIT).status_code == 403
    assert member_client.get(EXPORT).status_code == 403
    assert member_client.get(AUDIT, {"date_from": "not a date"}).status_code == 403


def test_the_log_lists_changes_across_record_types_with_the_field_by_field_change(manager_client, changes):
    html = manager_client.get(AUDIT).content.decode()
    assert "Atlas Family Office" in html and "Ada Okafor" in html and "Intro call" in html
    assert '<span class="history-field">Title:</span> <span class="history-old">—</span> → ' in html
    assert '<span class="history-new">Partner</span>' in html
    assert '<span class="history-new">Zurich</span>' in html
    assert "Max Member" in html and "Mona Manager" in html


def test_filters_narrow_by_user_type_record_action_and_dates(manager_client, member_user, changes):
    def listed(**params) -> str:
        return manager_client.get(AUDIT, params, headers=HX).content.decode()

    by_member = listed(user=member_user.pk)
    assert "Partner" in by_member and "Zurich" not in by_member
    organizations = listed(type="contacts.organization")
    assert "Zurich" in organizations and "Partner" not in organizations
    one = listed(type="contacts.contact", record=changes["ada"].pk, action="~")
    assert "Partner" in one and "Intro call" not in one and "created" not in one
    today = timezone.localdate()
    assert "Zurich" in listed(date_from=today.isoformat(), date_to=today.isoformat())
    assert "No changes match" in listed(date_to=(today - datetime.timedelta(days=1)).isoformat())


def test_bad_filters_give_field_errors_not_a_500(manager_client, changes):
    response = manager_client.get(AUDIT, {"date_from": "someday", "record": "7"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid date." in html and "Pick the record type of that record id." in html
    assert "Partner" not in html


def test_the_csv_has_one_line_per_changed_field_and_follows_the_filters(manager_client, member_user, changes):
    response = manager_client.get(EXPORT, {"user": member_user.pk})
    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert lines[0] == "When,Who,Action,Record type,Record id,Record,Reason,Field,Old,New"
    assert any(",Max Member,changed,Contact," in line and line.endswith(",Title,—,Partner") for line in lines)
    assert not any("Zurich" in line for line in lines)


def test_the_log_pages_and_runs_a_fixed_number_of_queries(manager_client, manager_user, django_assert_max_num_queries):
    raising = fund("Fund II")
    for n in range(60):
        person = contact(f"Bulk{n:02}", organization=org(f"Org {n}"))
        edit(person, manager_user, title=f"Title {n}")
        opportunity(person, raising, stage("Lead"))
    with django_assert_max_num_queries(16):
        response = manager_client.get(AUDIT)
    html = response.content.decode()
    assert html.count("<tr>") == 50 + 1  # a page of 50 rows and the header
    assert "Page 1 of" in html
    assert len(response.content) < 200_000
    assert manager_client.get(AUDIT, {"page": 2}).status_code == 200


def test_a_record_s_history_tab_links_to_its_audit_log_for_managers_only(manager_client, member_user, changes):
    ada = changes["ada"]
    url = f"{AUDIT}?type=contacts.contact&amp;record={ada.pk}"
    assert url in manager_client.get(ada.get_absolute_url()).content.decode()
    manager_client.force_login(member_user)  # the same client, now a member
    assert url not in manager_client.get(ada.get_absolute_url()).content.decode()


def test_the_sidebar_shows_the_audit_log_to_managers_only(manager_client, member_user):
    link = f'href="{AUDIT}"'
    assert link in manager_client.get(reverse("dashboard")).content.decode()
    manager_client.force_login(member_user)
    assert link not in manager_client.get(reverse("dashboard")).content.decode()
