from django.urls import path

from contacts.views import communications, contacts, organizations

urlpatterns = [
    path("organizations/", organizations.organization_list, name="organization_list"),
    path("organizations/new/", organizations.organization_create, name="organization_create"),
    path("organizations/export/", organizations.organization_export, name="organization_export"),
    path("organizations/<int:pk>/", organizations.organization_detail, name="organization_detail"),
    path("organizations/<int:pk>/edit/", organizations.organization_edit, name="organization_edit"),
    path("organizations/<int:pk>/delete/", organizations.organization_delete, name="organization_delete"),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/export/", contacts.contact_export, name="contact_export"),
    path("contacts/bulk/", contacts.contact_bulk, name="contact_bulk"),
    path("contacts/merge/", contacts.contact_merge, name="contact_merge"),
    path(
        "contacts/organization-options/",
        contacts.contact_organization_options,
        name="contact_organization_options",
    ),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/timeline/", contacts.contact_timeline, name="contact_timeline"),
    path("contacts/<int:pk>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", contacts.contact_delete, name="contact_delete"),
    # Communications, the contact picker and next actions (issue 5).
    path("communications/", communications.communication_list, name="communication_list"),
    path("communications/new/", communications.communication_create, name="communication_create"),
    path("communications/export/", communications.communication_export, name="communication_export"),
    path("communications/contact-picker/", communications.contact_picker, name="contact_picker"),
    path("communications/organization-picker/", communications.organization_picker, name="organization_picker"),
    path(
        "communications/opportunity-options/",
        communications.communication_opportunity_options,
        name="communication_opportunity_options",
    ),
    path("communications/<int:pk>/", communications.communication_detail, name="communication_detail"),
    path("communications/<int:pk>/edit/", communications.communication_edit, name="communication_edit"),
    path("communications/<int:pk>/delete/", communications.communication_delete, name="communication_delete"),
    path("actions/", communications.actions, name="actions"),
    path("actions/more/", communications.actions_more, name="actions_more"),
    path("actions/<int:pk>/done/", communications.action_done, name="action_done"),
    path("actions/<int:pk>/reschedule/", communications.action_reschedule, name="action_reschedule"),
]
