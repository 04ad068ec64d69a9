"""The permission table is the one place that says who may do what."""

from __future__ import annotations

import pytest

from central.auth.roles import GRANTS, STAFF, Permission, Role, may, roles_for
from central.workflow import appeals, payments, persons, photos, review


def test_every_permission_is_granted_to_someone_and_only_to_known_roles() -> None:
    assert set(GRANTS) == set(Permission)
    for perm, roles in GRANTS.items():
        assert roles, perm
        assert set(roles) <= set(Role), perm


def test_no_staff_permission_reaches_a_citizen_by_accident() -> None:
    citizen = {p for p in Permission if may(Role.citizen, p)}
    # Paying is not among them: a citizen starts a checkout, the provider reports money.
    assert citizen == {Permission.payment_checkout, Permission.appeal_submit}
    assert not may(Role.citizen, Permission.payment_record)


@pytest.mark.parametrize(
    ("constant", "permission"),
    [
        (review.REVIEW_ROLES, Permission.review_decide),
        (review.QUEUE_ROLES, Permission.review_queue),
        (persons.ENROL_ROLES, Permission.person_enrol),
        (photos.VIEW_ROLES, Permission.photo_view),
        (appeals.APPEAL_DECIDE_ROLES, Permission.appeal_decide),
        (appeals.APPEAL_SUBMIT_ROLES, Permission.appeal_submit),
        (payments.PAYMENT_ROLES, Permission.payment_record),
        (payments.STAFF_PAYMENT_ROLES, Permission.payment_take),
        (payments.SETTLE_ROLES, Permission.payment_settle),
        (payments.LIST_ROLES, Permission.payment_list),
    ],
)
def test_workflow_role_lists_come_from_the_table(constant, permission) -> None:
    assert constant == roles_for(permission)
    assert all(type(r) is str for r in constant)  # what Actor.role holds


def test_staff_roles_are_the_accounts_roles() -> None:
    assert [str(r) for r in STAFF] == ["operator", "supervisor", "auditor", "admin", "cashier"]
