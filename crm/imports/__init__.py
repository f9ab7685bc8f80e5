"""Importing CSV files: the wizard at /import/ and manage.py import_airtable share this engine."""
