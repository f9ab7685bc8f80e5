"""Data to show and measure the CRM with: the demo set (``seed_demo``), bulk volumes (``seed_bulk``) and
the page benchmark (``benchmark``). The management commands of the same names are thin wrappers.

Part of the crm shell: it builds records of every app, so nothing below may import it.
"""
