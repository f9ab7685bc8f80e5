# Views by topic: organizations, contacts, communications, tags. URLs in contacts/urls.py.
