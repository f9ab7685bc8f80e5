"""Helpers for the test suites (the shared builders in ``factories``); never imported by the app itself."""
