"""Tasks on a contact's and an opportunity's own pages (issue 17): the open ones with their
controls, the done ones behind a toggle, "New task" prefilled with the record, the section's
own reload after a change, and a fixed number of queries whatever the number of tasks."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX, make_user
from crm.models import Role
from crm.testing import factories
from pipeline import todo
from pipeline.models import Task


@pytest.fixture
def nia(db):
    return make_user("nia", Role.MEMBER, full_name="Nia Member", email="nia@fund.example")


@pytest.fixture
def deal(db):
    return factories.opportunity(factories.contact("Okafor"), factories.fund())


def html_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, dom_id: str) -> str:
    start = html.index(f'<section id="{dom_id}"')
    return html[start : html.index("</section>", start)]


def test_a_contacts_page_lists_its_open_tasks_in_a_tasks_tab_with_the_count(member_client, member_user, nia):
    person = factories.contact("Okafor")
    todo.create_task(member_user, title="Send the deck", owner=nia, contact=person)
    todo.create_task(member_user, title="Call about the close", owner=member_user, contact=person)
    todo.create_task(member_user, title="Someone else's", owner=member_user, contact=factories.contact())
    html = html_of(member_client.get(reverse("contact_detail", args=[person.pk])))
    tab = re.search(
        rf'<label class="tab panel-tab--tasks"[^>]*>Tasks '
        rf'<span class="count" id="contact-{person.pk}-tab-count-tasks">(\d+)</span>',
        html,
    )
    assert tab and tab.group(1) == "2"
    tasks = section(html, f"contact-{person.pk}-tasks")
    assert "Send the deck" in tasks and "For Nia Member" in tasks and "Call about the close" in tasks
    assert "Someone else" not in tasks
    assert f'hx-get="{reverse("contact_tasks", args=[person.pk])}"' in tasks


def test_new_task_on_a_contact_is_prefilled_with_the_contact(member_client, member_user):
    person = factories.contact("Okafor")
    html = section(
        html_of(member_client.get(reverse("contact_detail", args=[person.pk]))), f"contact-{person.pk}-tasks"
    )
    link = re.search(r'href="([^"]*)"[^>]*>New task<', html).group(1).replace("&amp;", "&")
    assert link.startswith(reverse("task_create") + f"?contact={person.pk}&next=")
    form = html_of(member_client.get(link, headers=HX))
    assert f'value="{person.pk}"' in form and person.full_name in form
    assert f'name="next" value="{person.get_absolute_url()}"' in form
    response = member_client.post(
        reverse("task_create"),
        {"title": "Follow up", "owner": member_user.pk, "contact": person.pk, "next": person.get_absolute_url()},
    )
    assert response.status_code == 302 and response["Location"] == person.get_absolute_url()
    assert Task.objects.get().contact == person


def test_new_task_on_an_opportunity_links_the_deal_and_its_contact(member_client, member_user, deal):
    html = html_of(member_client.get(reverse("opportunity_detail", args=[deal.pk])))
    tasks = section(html, f"opportunity-{deal.pk}-tasks")
    link = re.search(r'href="([^"]*)"[^>]*>New task<', tasks).group(1).replace("&amp;", "&")
    assert f"opportunity={deal.pk}" in link and f"contact={deal.contact_id}" in link
    form = html_of(member_client.get(link, headers=HX))
    assert f'name="opportunity" value="{deal.pk}"' in form and f"About: {deal.name}" in form


def test_an_opportunitys_page_lists_its_tasks_and_not_the_contacts_others(member_client, member_user, deal):
    todo.create_task(member_user, title="Chase the side letter", owner=member_user, opportunity=deal)
    todo.create_task(member_user, title="About the person only", owner=member_user, contact=deal.contact)
    tasks = section(
        html_of(member_client.get(reverse("opportunity_detail", args=[deal.pk]))), f"opportunity-{deal.pk}-tasks"
    )
    assert "Chase the side letter" in tasks and "About the person only" not in tasks
    assert '<span class="count" data-open-tasks>1</span>' in tasks


def test_done_tasks_sit_behind_a_toggle_with_reopen(member_client, member_user):
    person = factories.contact()
    task = todo.create_task(member_user, title="Sent the LPA", owner=member_user, contact=person)
    todo.complete_task(task, member_user)
    todo.create_task(member_user, title="Still open", owner=member_user, contact=person)
    tasks = section(
        html_of(member_client.get(reverse("contact_detail", args=[person.pk]))), f"contact-{person.pk}-tasks"
    )
    done = tasks[tasks.index("<details") :]
    assert "Sent the LPA" in done and "Still open" not in done and "done by Max Member" in done
    assert "Reopen" in done and reverse("task_done", args=[task.pk]) in done
    assert "Sent the LPA" not in tasks[: tasks.index("<details")]


def test_a_record_without_tasks_says_so_and_shows_no_toggle(member_client):
    person = factories.contact()
    tasks = section(
        html_of(member_client.get(reverse("contact_detail", args=[person.pk]))), f"contact-{person.pk}-tasks"
    )
    assert "No open tasks." in tasks and "<details" not in tasks


def test_controls_show_only_to_those_who_may_change_the_task(member_client, member_user, nia, manager_user):
    person = factories.contact()
    theirs = todo.create_task(manager_user, title="For Nia", owner=nia, contact=person)
    given = todo.create_task(member_user, title="Given by me", owner=nia, contact=person)
    tasks = section(
        html_of(member_client.get(reverse("contact_detail", args=[person.pk]))), f"contact-{person.pk}-tasks"
    )
    assert "For Nia" in tasks and reverse("task_done", args=[theirs.pk]) not in tasks
    assert reverse("task_edit", args=[theirs.pk]) not in tasks
    assert reverse("task_done", args=[given.pk]) in tasks and reverse("task_edit", args=[given.pk]) in tasks


def test_done_snooze_and_edit_from_the_record_come_back_to_it(member_client, member_user):
    person = factories.contact()
    task = todo.create_task(member_user, title="Book the dinner", owner=member_user, contact=person)
    back = person.get_absolute_url()
    tasks = section(html_of(member_client.get(back)), f"contact-{person.pk}-tasks")
    assert (
        f"{reverse('task_snooze', args=[task.pk])}?next=" in tasks
        and f"{reverse('task_edit', args=[task.pk])}?next=" in tasks
    )
    snooze = html_of(member_client.get(reverse("task_snooze", args=[task.pk]), {"next": back}, headers=HX))
    assert f'name="next" value="{back}"' in snooze
    until = (timezone.localdate() + datetime.timedelta(days=5)).isoformat()
    response = member_client.post(reverse("task_snooze", args=[task.pk]), {"until": until, "next": back})
    assert response.status_code == 302 and response["Location"] == back
    response = member_client.post(reverse("task_done", args=[task.pk]), {"done": "1", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    task.refresh_from_db()
    assert task.done and task.done_by == member_user


def test_marking_done_from_a_page_refreshes_the_section_without_closing_the_dialog(member_client, member_user):
    # The contact may be open in the slide-over panel: closing the dialog would take it away.
    task = todo.create_task(member_user, title="Quick one", owner=member_user, contact=factories.contact())
    response = member_client.post(reverse("task_done", args=[task.pk]), {"done": "1"}, headers=HX)
    assert response.status_code == 200
    assert "communicationsChanged" in response["HX-Trigger"] and "closeDialog" not in response["HX-Trigger"]
    edit = member_client.post(
        reverse("task_edit", args=[task.pk]), {"title": "Quick one", "owner": member_user.pk}, headers=HX
    )
    assert "closeDialog" in edit["HX-Trigger"]


def test_the_section_reloads_alone_with_htmx_and_the_tab_count_follows(member_client, member_user):
    person = factories.contact()
    todo.create_task(member_user, title="One", owner=member_user, contact=person)
    todo.create_task(member_user, title="Two", owner=member_user, contact=person)
    html = html_of(member_client.get(reverse("contact_tasks", args=[person.pk]), headers=HX))
    assert (
        html.startswith(f'\n<section id="contact-{person.pk}-tasks"')
        or f'<section id="contact-{person.pk}-tasks"' in html[:200]
    )
    assert "<html" not in html and "One" in html and "Two" in html
    assert f'<span class="count" id="contact-{person.pk}-tab-count-tasks" hx-swap-oob="true">2</span>' in html


def test_the_opportunity_section_reloads_without_a_tab_count(member_client, member_user, deal):
    todo.create_task(member_user, title="One", owner=member_user, opportunity=deal)
    html = html_of(member_client.get(reverse("opportunity_tasks", args=[deal.pk]), headers=HX))
    assert "One" in html and "hx-swap-oob" not in html


def test_the_section_url_without_htmx_goes_to_the_records_page(member_client, deal):
    response = member_client.get(reverse("opportunity_tasks", args=[deal.pk]))
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    response = member_client.get(reverse("contact_tasks", args=[deal.contact_id]))
    assert response.status_code == 302 and response["Location"] == deal.contact.get_absolute_url()


def test_a_long_list_shows_the_first_ones_and_says_how_many_more(member_client, member_user):
    person = factories.contact()
    for i in range(todo.RECORD_LIMIT + 3):
        todo.create_task(member_user, title=f"Chore {i:02d}", owner=member_user, contact=person)
    tasks = section(
        html_of(member_client.get(reverse("contact_detail", args=[person.pk]))), f"contact-{person.pk}-tasks"
    )
    assert tasks.count("data-task=") == todo.RECORD_LIMIT and "3 more not shown" in tasks


@pytest.mark.parametrize("page", ["contact_detail", "opportunity_detail", "contact_tasks", "opportunity_tasks"])
def test_a_records_page_runs_the_same_queries_with_few_and_many_tasks(member_client, member_user, nia, deal, page):
    record = deal.contact if page.startswith("contact") else deal
    field = "contact" if page.startswith("contact") else "opportunity"

    def queries_with(n: int) -> int:
        for i in range(n):
            open_one = todo.create_task(
                member_user, title=f"Open {i}", owner=nia, opportunity=deal, contact=deal.contact
            )
            done = todo.create_task(nia, title=f"Done {i}", owner=member_user, **{field: record})
            todo.complete_task(done, nia)
            assert open_one.pk
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(reverse(page, args=[record.pk]), headers=HX)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(1)
    assert small == queries_with(30)


def test_the_tasks_section_costs_three_queries(member_user, deal):
    todo.create_task(member_user, title="Open", owner=member_user, contact=deal.contact)
    done = todo.create_task(member_user, title="Done", owner=member_user, contact=deal.contact)
    todo.complete_task(done, member_user)
    with CaptureQueriesContext(connection) as ctx:
        tasks = todo.record_tasks(member_user, "contact", deal.contact)
        [str(t.owner) + str(t.created_by) + str(t.done_by) for t in (*tasks.open, *tasks.done)]
    assert len(ctx.captured_queries) == 3
    nobody = factories.contact()
    with CaptureQueriesContext(connection) as ctx:
        todo.record_tasks(member_user, "contact", nobody)
    assert len(ctx.captured_queries) == 1  # nothing linked: the counts alone
