# Views by topic: organizations, contacts, communications. Tags are managed under Settings (crm.views).
