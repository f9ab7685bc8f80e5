"""The audit log: every history row of every CRM record, for admins and managers."""
