"""Tag management under Settings: usage counts, create, rename, recolour, delete with history."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import HX
from contacts.models import Contact, Organization, Tag, TagColour
from contacts.services import delete_tag, tags_with_usage
from crm.lib.history import history_entries


@pytest.fixture
def vip(db) -> Tag:
    return Tag.objects.create(name="VIP", colour=TagColour.AMBER)


@pytest.fixture
def warm(db) -> Tag:
    return Tag.objects.create(name="Warm intro", colour=TagColour.GREEN)


@pytest.fixture
def tagged(vip, warm) -> dict:
    """VIP on two contacts and one organization; Warm intro on one of those contacts too."""
    atlas = Organization.objects.create(name="Atlas Family Office")
    ada = Contact.objects.create(first_name="Ada", last_name="Okafor", organization=atlas)
    ben = Contact.objects.create(first_name="Ben", last_name="Marsh")
    ada.tags.add(vip, warm)
    ben.tags.add(vip)
    atlas.tags.add(vip)
    return {"atlas": atlas, "ada": ada, "ben": ben}


def tag_row(html: str, name: str) -> str:
    return html.split(f">{name}</span></td>")[1].split("</tr>")[0]


# --- The list ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_tag_list_shows_how_many_contacts_and_organizations_use_each_tag(member_client, tagged, headers):
    response = member_client.get("/settings/tags/", headers=headers)
    html = response.content.decode()
    assert response.status_code == 200
    vip_row = tag_row(html, "VIP")
    assert f'href="/organizations/?tag={Tag.objects.get(name="VIP").pk}">1</a>' in vip_row
    assert ">2<" in vip_row
    assert ">1<" in tag_row(html, "Warm intro")
    assert 'class="tag tag--amber">VIP</span>' in html
    if headers:
        assert html.lstrip().startswith('<div id="tag-table"')
    else:
        assert "<html" in html
        assert 'id="profile-form"' in html  # the whole Settings page


def test_usage_counts_are_annotations_and_do_not_multiply(tagged, member_user):
    counts = {t.name: (t.contact_count, t.organization_count) for t in tags_with_usage(member_user)}
    assert counts == {"VIP": (2, 1), "Warm intro": (1, 0)}


def test_tag_table_runs_a_fixed_number_of_queries(member_client, db):
    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert member_client.get("/settings/tags/", headers=HX).status_code == 200
        return len(queries)

    member_client.get("/")
    counts = []
    for start, stop in ((0, 2), (2, 25)):
        for n in range(start, stop):
            tag = Tag.objects.create(name=f"Tag {n}")
            contact = Contact.objects.create(last_name=f"Person {n}")
            contact.tags.add(tag)
            Organization.objects.create(name=f"Org {n}").tags.add(tag)
        counts.append(measure())
    assert counts[0] == counts[1], counts


def test_only_managers_and_admins_see_delete_buttons(client, member_user, manager_user, tagged):
    delete_url = f"/settings/tags/{Tag.objects.get(name='VIP').pk}/delete/"
    client.force_login(member_user)
    assert delete_url not in client.get("/settings/").content.decode()
    client.force_login(manager_user)
    assert delete_url in client.get("/settings/").content.decode()


# --- Create -----------------------------------------------------------------------------


def test_member_creates_a_tag_and_history_records_who(member_client, member_user):
    response = member_client.post("/settings/tags/new/", {"name": "  Fund  III   prospect ", "colour": "teal"})
    assert response.status_code == 302
    assert response["Location"] == "/settings/#tags"
    tag = Tag.objects.get()
    assert (tag.name, tag.colour) == ("Fund III prospect", "teal")
    assert tag.history.get().history_user == member_user


def test_tag_created_over_htmx_returns_a_fresh_form_and_refreshes_the_table(member_client):
    response = member_client.post("/settings/tags/new/", {"name": "Co-investor", "colour": "blue"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="tag-create"')
    assert 'value="Co-investor"' not in html  # emptied for the next tag
    assert "Added the tag “Co-investor”." in html
    assert "tagsChanged" in response["HX-Trigger"]
    assert Tag.objects.filter(name="Co-investor", colour="blue").exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
@pytest.mark.parametrize("name", ["vip", "  VIP  ", "Vip"])
def test_a_tag_name_in_use_ignoring_case_is_refused_naming_the_existing_tag(member_client, vip, name, headers):
    response = member_client.post("/settings/tags/new/", {"name": name, "colour": "red"}, headers=headers)
    assert response.status_code == 200
    assert "There is already a tag named “VIP”." in response.content.decode()
    assert Tag.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "   ", "colour": "red"}, "This field is required."),
        ({"name": "x" * 51, "colour": "red"}, "at most 50 characters"),
        ({"name": "Fine", "colour": "chartreuse"}, "Select a valid choice."),
        ({"name": "Fine"}, "This field is required."),
        ({}, "This field is required."),
    ],
)
def test_bad_tag_input_is_refused_beside_the_field(member_client, data, message):
    response = member_client.post("/settings/tags/new/", data, headers=HX)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Tag.objects.exists()


def test_a_script_tag_name_is_kept_as_text_and_shown_escaped(member_client):
    member_client.post("/settings/tags/new/", {"name": "<script>alert(1)</script>", "colour": "red"})
    html = member_client.get("/settings/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    duplicate = member_client.post("/settings/tags/new/", {"name": "<SCRIPT>alert(1)</SCRIPT>", "colour": "red"})
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;”" in duplicate.content.decode()


def test_the_create_form_offers_the_whole_palette_as_swatches(member_client):
    html = member_client.get("/settings/").content.decode()
    for colour in TagColour.values:
        assert f'class="swatch tag--{colour}"' in html


# --- Rename and recolour ----------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_edit_form_shows_the_tag_and_its_usage(member_client, tagged, headers):
    vip = Tag.objects.get(name="VIP")
    response = member_client.get(f"/settings/tags/{vip.pk}/edit/", headers=headers)
    html = response.content.decode()
    assert response.status_code == 200
    assert "On 2 contacts and 1 organization." in html
    assert ("<html" in html) != bool(headers)


def test_member_renames_and_recolours_a_tag_with_history(member_client, member_user, tagged):
    vip = Tag.objects.get(name="VIP")
    response = member_client.post(f"/settings/tags/{vip.pk}/edit/", {"name": "Top LP", "colour": "purple"})
    assert response.status_code == 302
    vip.refresh_from_db()
    assert (vip.name, vip.colour) == ("Top LP", "purple")
    latest = vip.history.latest()
    assert (latest.history_user, latest.name, latest.colour) == (member_user, "Top LP", "purple")
    # Records keep the tag: it is the same tag under its new name.
    assert list(tagged["ada"].tags.order_by("name").values_list("name", flat=True)) == ["Top LP", "Warm intro"]
    assert "Renamed “VIP” to “Top LP”." in member_client.get("/settings/").content.decode()


def test_edit_over_htmx_closes_the_dialog_and_refreshes_the_table(member_client, vip):
    response = member_client.post(f"/settings/tags/{vip.pk}/edit/", {"name": "VIP", "colour": "red"}, headers=HX)
    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"]
    assert "tagsChanged" in response["HX-Trigger"]
    assert "Saved “VIP”." in response.content.decode()
    vip.refresh_from_db()
    assert vip.colour == "red"


def test_changing_only_the_case_of_a_name_is_allowed(member_client, vip):
    response = member_client.post(f"/settings/tags/{vip.pk}/edit/", {"name": "Vip", "colour": "amber"})
    assert response.status_code == 302
    vip.refresh_from_db()
    assert vip.name == "Vip"


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_renaming_onto_another_tags_name_is_refused(member_client, vip, warm, headers):
    response = member_client.post(
        f"/settings/tags/{vip.pk}/edit/", {"name": "WARM INTRO", "colour": "amber"}, headers=headers
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "There is already a tag named “Warm intro”." in html
    assert "Edit tag" in html and ">VIP</span>" in html  # the heading still names the tag being edited
    vip.refresh_from_db()
    assert vip.name == "VIP"


def test_editing_a_missing_tag_is_not_found(member_client):
    assert member_client.get("/settings/tags/999999/edit/").status_code == 404
    assert member_client.post("/settings/tags/999999/edit/", {"name": "x", "colour": "red"}).status_code == 404


# --- Delete -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_member_may_not_delete_a_tag(member_client, tagged, headers):
    vip = Tag.objects.get(name="VIP")
    assert member_client.get(f"/settings/tags/{vip.pk}/delete/", headers=headers).status_code == 403
    assert member_client.post(f"/settings/tags/{vip.pk}/delete/", headers=headers).status_code == 403
    assert Tag.objects.filter(pk=vip.pk).exists()
    assert tagged["ada"].tags.filter(pk=vip.pk).exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_delete_confirmation_says_how_many_records_use_the_tag(manager_client, tagged, headers):
    vip = Tag.objects.get(name="VIP")
    response = manager_client.get(f"/settings/tags/{vip.pk}/delete/", headers=headers)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>2 contacts</strong> and <strong>1 organization</strong>" in html
    assert ("<html" in html) != bool(headers)


def test_manager_deletes_a_tag_and_every_record_gets_a_history_row(manager_client, manager_user, tagged):
    vip = Tag.objects.get(name="VIP")
    response = manager_client.post(f"/settings/tags/{vip.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/#tags"
    assert not Tag.objects.filter(pk=vip.pk).exists()
    ada, ben, atlas = tagged["ada"], tagged["ben"], tagged["atlas"]
    assert list(ada.tags.values_list("name", flat=True)) == ["Warm intro"]
    assert not ben.tags.exists()
    assert not atlas.tags.exists()
    for record in (ada, ben, atlas):
        latest = record.history.latest()
        assert latest.history_type == "~"
        assert latest.history_user == manager_user
        assert latest.history_change_reason == "Tag “VIP” deleted"
    # The snapshot of tags left, as the m2m signal would have written it.
    assert list(ada.history.latest().tags.values_list("tag_id", flat=True)) == [Tag.objects.get(name="Warm intro").pk]
    assert not ben.history.latest().tags.exists()
    # And the History tab reads it as a change of tags.
    entry = history_entries(ada)[0]
    assert entry.reason == "Tag “VIP” deleted"
    assert entry.who == manager_user
    tags_change = next(change for change in entry.changes if change.field == "Tags")
    assert tags_change.new == "Warm intro"
    assert "Warm intro" in tags_change.old
    follow = manager_client.get("/settings/").content.decode()
    assert "Deleted the tag “VIP” and took it off 2 contacts and 1 organization." in follow


def test_delete_over_htmx_closes_the_dialog_and_refreshes_the_table(admin_client, tagged):
    vip = Tag.objects.get(name="VIP")
    response = admin_client.post(f"/settings/tags/{vip.pk}/delete/", headers=HX)
    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"]
    assert "tagsChanged" in response["HX-Trigger"]
    assert "Deleted the tag “VIP”" in response.content.decode()
    assert not Tag.objects.filter(pk=vip.pk).exists()


def test_bulk_untagging_writes_what_one_by_one_removal_would(manager_user, db):
    """The bulk path and tags.remove() leave the same history behind (type, user, snapshot)."""
    keep = Tag.objects.create(name="Keep")
    one_by_one = Tag.objects.create(name="One by one")
    bulk = Tag.objects.create(name="Bulk")
    a = Contact.objects.create(last_name="A")
    b = Contact.objects.create(last_name="B")
    a.tags.add(keep, one_by_one)
    b.tags.add(keep, bulk)

    a._history_user = manager_user
    a.tags.remove(one_by_one)
    delete_tag(bulk, manager_user)

    def shape(contact):
        row = contact.history.latest()
        return row.history_type, row.history_user, sorted(row.tags.values_list("tag__name", flat=True))

    assert shape(a) == shape(b) == ("~", manager_user, ["Keep"])


def test_deleting_a_tag_runs_the_same_queries_for_many_records_as_for_few(manager_user, db):
    def measure(count: int) -> int:
        tag = Tag.objects.create(name=f"Busy {count}")
        other = Tag.objects.create(name=f"Other {count}")
        for n in range(count):
            contact = Contact.objects.create(last_name=f"C{count}-{n}")
            contact.tags.add(tag, other)
            Organization.objects.create(name=f"O{count}-{n}").tags.add(tag)
        with CaptureQueriesContext(connection) as queries:
            assert delete_tag(tag, manager_user) == (count, count)
        return len(queries)

    few, many = measure(3), measure(120)
    # Not one query (or five) per record: only the bulk inserts split into batches, to stay
    # under SQLite's limit on parameters per statement.
    assert many - few <= 8, (few, many)


def test_deleting_an_unused_tag_writes_no_record_history(manager_client, vip):
    response = manager_client.post(f"/settings/tags/{vip.pk}/delete/")
    assert response.status_code == 302
    assert not Tag.objects.exists()
    assert "Deleted the tag “VIP”." in manager_client.get("/settings/").content.decode()


def test_deleting_a_missing_tag_is_not_found(manager_client):
    assert manager_client.post("/settings/tags/999999/delete/").status_code == 404
