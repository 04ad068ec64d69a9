"""Roles and permissions as data: the one table that says who may do what.

Workflow functions check ``require_role(actor, *roles_for(Permission.x))`` and the HTTP
layers build their role dependencies from the same table, so a page and its API route
can no longer disagree about who may call them.

>>> may("operator", Permission.review_decide)
True
>>> may("auditor", Permission.review_decide)
False
>>> roles_for(Permission.appeal_decide)
('supervisor',)
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    operator = "operator"  # reviews matched events: confirms or dismisses
    supervisor = "supervisor"  # decides appeals, enrols persons
    auditor = "auditor"  # reads the audit log and the health of the system
    admin = "admin"  # devices, accounts, gallery, dead letters
    cashier = "cashier"  # records payments taken at a counter, with a receipt number
    citizen = "citizen"  # the holder of a notice (reference + access code)
    system = "system"  # central's own jobs and CLI


STAFF: tuple[Role, ...] = (
    Role.operator,
    Role.supervisor,
    Role.auditor,
    Role.admin,
    Role.cashier,
)


class Permission(StrEnum):
    review_queue = "review_queue"  # see the review queue and matched events
    review_decide = "review_decide"  # confirm or dismiss an event
    quarantine_read = "quarantine_read"
    gallery_upload = "gallery_upload"
    person_enrol = "person_enrol"
    person_read = "person_read"
    photo_add = "photo_add"
    photo_view = "photo_view"  # enrolled photos: those who compare matches and decide appeals
    payment_record = "payment_record"  # report money received (webhook, statement, counter)
    payment_take = "payment_take"  # take money at a counter and issue a receipt
    payment_settle = "payment_settle"  # settle refund/balance records, assign bank lines
    payment_list = "payment_list"  # see open refund/balance records and unmatched lines
    payment_checkout = "payment_checkout"  # start a checkout with the provider ("Pay now")
    appeal_submit = "appeal_submit"
    appeal_decide = "appeal_decide"


_R = Role
GRANTS: dict[Permission, tuple[Role, ...]] = {
    Permission.review_queue: (_R.operator, _R.supervisor),
    Permission.review_decide: (_R.operator,),
    Permission.quarantine_read: (_R.admin, _R.supervisor, _R.auditor),
    Permission.gallery_upload: (_R.admin,),
    Permission.person_enrol: (_R.supervisor, _R.admin),
    Permission.person_read: (_R.operator, _R.supervisor, _R.auditor, _R.admin),  # not cashiers
    Permission.photo_add: (_R.supervisor, _R.admin),
    Permission.photo_view: (_R.operator, _R.supervisor),
    # Never the citizen: money counts only when a provider, the bank or a cashier reports it.
    Permission.payment_record: (_R.system, _R.cashier, _R.supervisor),
    Permission.payment_take: (_R.cashier, _R.supervisor),
    Permission.payment_settle: (_R.supervisor,),
    Permission.payment_list: (_R.supervisor, _R.admin),
    Permission.payment_checkout: (_R.citizen,),
    Permission.appeal_submit: (_R.citizen, _R.supervisor),
    Permission.appeal_decide: (_R.supervisor,),
}


def roles_for(permission: Permission) -> tuple[str, ...]:
    """The roles granted ``permission``, as plain strings (what ``Actor.role`` holds)."""
    return tuple(str(r) for r in GRANTS[permission])


def may(role: str, permission: Permission) -> bool:
    return role in GRANTS[permission]
