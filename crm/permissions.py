"""Who may change money, compliance and the fund set-up: one rule book, checked where the write happens.

Routes and templates decide nothing here. Every save and delete of a guarded model (see
``crm.models.GuardedModel``) is checked against the acting user, whatever path it came
through: a form, the board, a move, a bulk action, an import, a merge or the admin. The
few paths that write without ``save()`` (bulk updates) call ``require_write`` themselves.

Who the acting user is, in order: the user a service put on the instance
(``_history_user``, which simple-history also records), the user of an ``acting_as``
block (background work), the signed-in user of the current request (simple-history's
middleware keeps it). With none of these the write is the system's own — a management
command run by whoever has the server (seed_demo, restore, migrations) — and allowed.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any, ClassVar

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models.signals import pre_delete, pre_save
from simple_history.models import HistoricalRecords

from crm.models import ROLE_RANK, Role


class Capability(StrEnum):
    """What a role may do to guarded data. The value reads as the end of "You may not …"."""

    CHANGE_COMMITMENTS = "create, change or delete commitments (amounts, status, dates, paperwork)"
    CHANGE_COMPLIANCE = "change an LP's compliance status (accredited, qualified purchaser)"
    CONFIGURE_FUNDS = "create, change or delete funds and pipeline stages"
    VIEW_AUDIT = "see the audit log of every change across the CRM"


# The lowest role that has each capability. The README's roles table says the same.
CAPABILITY_ROLES: dict[Capability, str] = {
    Capability.CHANGE_COMMITMENTS: Role.MANAGER,
    Capability.CHANGE_COMPLIANCE: Role.MANAGER,
    Capability.CONFIGURE_FUNDS: Role.MANAGER,
    Capability.VIEW_AUDIT: Role.MANAGER,
}

# In a model's WRITE_RULES: every field, creating and deleting included.
ANY_FIELD = "*"
# In a model's WRITE_RULES: a field anyone who may edit the record may change.
OPEN = None

_acting_user: contextvars.ContextVar[Any] = contextvars.ContextVar("crm_acting_user", default=None)
# In an ``as_system()`` block: the server's own work, whoever its history rows name.
_SYSTEM = object()


@contextlib.contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Writes inside the block are checked as ``user`` (a worker or command acting for someone)."""
    token = _acting_user.set(user)
    try:
        yield
    finally:
        _acting_user.reset(token)


def as_system() -> contextlib.AbstractContextManager[None]:
    """Writes inside the block are the server's own (seeding demo or bulk data): always allowed,
    even where their history rows name a team member for display."""
    return acting_as(_SYSTEM)


def acting_user(instance: Any = None) -> Any:
    """The user a write is made by, or None for the system itself (see the module docstring)."""
    if _acting_user.get() is _SYSTEM:
        return None
    user = getattr(instance, "_history_user", None)
    if user is None:
        user = _acting_user.get()
    if user is None:
        request = getattr(HistoricalRecords.context, "request", None)
        user = getattr(request, "user", None)
    return user


def can(user: Any, capability: Capability) -> bool:
    """Whether ``user`` has ``capability``; None (the system) always has."""
    if user is None:
        return True
    required = ROLE_RANK[CAPABILITY_ROLES[capability]]
    return bool(getattr(user, "is_active", False)) and ROLE_RANK.get(getattr(user, "role", ""), 0) >= required


def refusal(capability: Capability) -> str:
    role = Role(CAPABILITY_ROLES[capability]).label.lower()
    return f"Only a {role} or admin may {capability.value}."


def require(user: Any, capability: Capability) -> None:
    if not can(user, capability):
        raise PermissionDenied(refusal(capability))


def require_write(model: type, user: Any, field_names: Iterable[str] | None) -> None:
    """Refuse (PermissionDenied) writing ``field_names`` of ``model`` by ``user``.

    ``field_names`` None means creating or deleting a whole record: only a rule for every
    field (``ANY_FIELD``) applies then; a per-field rule is about values (see
    ``GuardedModel.guarded_changes``).
    """
    rules = model.WRITE_RULES
    if ANY_FIELD in rules:
        require(user, rules[ANY_FIELD])
        return
    for name in sorted(field_names or ()):
        capability = rules.get(name)
        if capability is not None:
            require(user, capability)


class GuardedModel(models.Model):
    """A model whose writes are checked against ``WRITE_RULES``: field name → Capability or OPEN,
    or ``{ANY_FIELD: capability}`` for every field, creating and deleting included.

    A concrete model lists every field it has (the permissions test fails on a field with no
    rule), so a new field is a decision, not an accident.
    """

    WRITE_RULES: ClassVar[dict[str, Capability | None]] = {}

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str, field_names: Any, values: Any) -> GuardedModel:
        instance = super().from_db(db, field_names, values)
        instance._guarded_loaded = {
            name: getattr(instance, name) for name in cls._guarded_fields() if name in field_names
        }
        return instance

    @classmethod
    def _guarded_fields(cls) -> list[str]:
        return [name for name, rule in cls.WRITE_RULES.items() if rule is not None and name != ANY_FIELD]

    def refuse_write(self, user: Any) -> None:
        """Refuse (PermissionDenied) ``user`` changing this record at all: the access helper's
        ``write=True`` (crm.lib.scoping), checked before a form is shown. Per-field rules are
        about values and stay with the save."""
        require_write(type(self), user, None)

    def guarded_changes(self) -> set[str]:
        """Fields with a rule whose value this save would change."""
        names = self._guarded_fields()
        if self._state.adding or self.pk is None:
            return {n for n in names if getattr(self, n) != self._meta.get_field(n).get_default()}
        loaded = getattr(self, "_guarded_loaded", {})
        missing = [n for n in names if n not in loaded]
        if missing:  # built by hand or loaded with only(): ask the database
            stored = type(self)._base_manager.filter(pk=self.pk).values(*missing).first() or {}
            loaded = {**loaded, **stored}
        return {n for n in names if n in loaded and getattr(self, n) != loaded[n]}


def _check_save(sender: type, instance: GuardedModel, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata / restore: the system's own
        return
    user = acting_user(instance)
    if ANY_FIELD in sender.WRITE_RULES:
        require_write(sender, user, None)
    else:
        require_write(sender, user, instance.guarded_changes())


def _check_delete(sender: type, instance: GuardedModel, **kwargs: Any) -> None:
    require_write(sender, acting_user(instance), None)


def connect_guards() -> None:
    """Check every save and delete of a guarded model (deletes by cascade included)."""
    for model in apps.get_models():
        if issubclass(model, GuardedModel):
            pre_save.connect(_check_save, sender=model, dispatch_uid=f"guard-save-{model._meta.label}")
            pre_delete.connect(_check_delete, sender=model, dispatch_uid=f"guard-delete-{model._meta.label}")
