"""The morning digest by email: what each team member has due, and the raise's changes for managers."""
