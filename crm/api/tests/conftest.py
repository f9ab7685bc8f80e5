from __future__ import annotations

import pytest

from crm.models import ApiToken


class TokenClient:
    """Calls the API as one user's personal token, the way a script does (no session)."""

    def __init__(self, client, user) -> None:
        self.client = client
        self.user = user
        self.token, self.raw = ApiToken.issue(user, "Script")
        self.headers = {"Authorization": f"Bearer {self.raw}"}

    def get(self, path: str, data=None):
        return self.client.get(path, data, headers=self.headers)

    def post(self, path: str, body=None):
        return self.client.post(path, body or {}, content_type="application/json", headers=self.headers)

    def patch(self, path: str, body=None):
        return self.client.patch(path, body or {}, content_type="application/json", headers=self.headers)


@pytest.fixture
def admin_api(client, admin_user):
    return TokenClient(client, admin_user)


@pytest.fixture
def manager_api(client, manager_user):
    return TokenClient(client, manager_user)


@pytest.fixture
def member_api(client, member_user):
    return TokenClient(client, member_user)
