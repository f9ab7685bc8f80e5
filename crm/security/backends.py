from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.backends import ModelBackend

from crm.models import User
from crm.security.services import with_two_factor_state


class TwoFactorAwareModelBackend(ModelBackend):
    """Django's ModelBackend, loading the session's user with its two-factor state.

    The middleware asks on every request of a session that has not passed the second step
    whether the user owes a code or an enrolment; reading it in the query that loads the user
    anyway keeps that question free.
    """

    def get_user(self, user_id):
        user = with_two_factor_state(User._default_manager.filter(pk=user_id)).first()
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id):
        return await sync_to_async(self.get_user)(user_id)
