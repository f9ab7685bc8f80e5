"""Backups that restore (``manage.py backup`` / ``restore``): the operations live in ``services``.

Part of the crm shell: it counts the rows of every app, so nothing below may import it.
"""
