"""The permission table: who may do what. The expected matrix is written out by hand on purpose,
so any change to PERMISSIONS has to be made twice: once in the code and once here, knowingly."""

from __future__ import annotations

import pytest

from supportdesk.core.errors import PermissionDenied
from supportdesk.core.permissions import Action, Role, check_permission, require_permission
from tests.unit.grids import read_grid

EXPECTED_MATRIX = read_grid(
    """
    action              admin  senior_agent  agent  viewer
    view_ticket         yes    yes           yes    yes
    create_ticket       yes    yes           yes    no
    update_ticket       yes    yes           yes    no
    reassign_ticket     yes    yes           yes    no
    delete_ticket       yes    no            no     no
    comment_ticket      yes    yes           yes    no
    view_customer       yes    yes           yes    yes
    manage_customer     yes    yes           yes    no
    list_users          yes    yes           yes    yes
    create_user         yes    no            no     no
    change_role         yes    no            no     no
    deactivate_user     yes    no            no     no
    manage_own_tokens   yes    yes           yes    yes
    view_audit          yes    yes           no     no
    manage_workspace    yes    no            no     no
    view_sla            yes    yes           yes    yes
    manage_sla          yes    no            no     no
    manage_automation   yes    no            no     no
    apply_macro         yes    yes           yes    no
    manage_webhooks     yes    no            no     no
    manage_deliveries   yes    no            no     no
    """
)


def _sentence(role: str, action: str, allowed: bool) -> str:
    verb = "may" if allowed else "may-not"
    return f"{role}-{verb}-{action}".replace("_", "-")


MATRIX_CASES = [
    pytest.param(Role(role), Action(action), allowed, id=_sentence(role, action, allowed))
    for action, row in EXPECTED_MATRIX.items()
    for role, allowed in row.items()
]


class TestMatrix:
    def test_the_expected_matrix_covers_every_role_and_every_action(self) -> None:
        assert set(EXPECTED_MATRIX) == {action.value for action in Action}
        for row in EXPECTED_MATRIX.values():
            assert set(row) == {role.value for role in Role}

    @pytest.mark.parametrize(("role", "action", "allowed"), MATRIX_CASES)
    def test_check_permission_follows_the_matrix(self, role: Role, action: Action, allowed: bool) -> None:
        assert check_permission(role, action) is allowed

    @pytest.mark.parametrize(("role", "action", "allowed"), MATRIX_CASES)
    def test_plain_strings_are_understood_like_the_enums(
        self, role: Role, action: Action, allowed: bool
    ) -> None:
        assert check_permission(role.value, action.value) is allowed


class TestUnknownNamesAreNeverAllowed:
    @pytest.mark.parametrize(
        ("role", "action"),
        [
            pytest.param("superuser", "view_ticket", id="unknown-role-may-not-even-view"),
            pytest.param("", "view_ticket", id="empty-role-may-not-view"),
            pytest.param("Admin", "view_ticket", id="role-names-are-case-sensitive"),
            pytest.param("admin", "launch_rockets", id="admin-may-not-do-an-unknown-action"),
            pytest.param("admin", "", id="admin-may-not-do-an-empty-action"),
            pytest.param("admin", "Delete_Ticket", id="action-names-are-case-sensitive"),
            pytest.param("root", "launch_rockets", id="unknown-role-and-unknown-action"),
        ],
    )
    def test_check_permission_returns_false(self, role: str, action: str) -> None:
        assert check_permission(role, action) is False


class TestRequirePermission:
    @pytest.mark.parametrize(
        ("role", "action"),
        [
            pytest.param(Role.viewer, Action.create_ticket, id="viewer-creating-a-ticket"),
            pytest.param(Role.agent, Action.delete_ticket, id="agent-deleting-a-ticket"),
            pytest.param(Role.senior_agent, Action.change_role, id="senior-agent-changing-a-role"),
            pytest.param(Role.agent, Action.view_audit, id="agent-reading-the-audit-trail"),
            pytest.param("intruder", Action.view_ticket, id="unknown-role-viewing-a-ticket"),
            pytest.param(Role.admin, "launch_rockets", id="admin-doing-an-unknown-action"),
        ],
    )
    def test_a_forbidden_action_raises_permission_denied(
        self, role: Role | str, action: Action | str
    ) -> None:
        with pytest.raises(PermissionDenied) as raised:
            require_permission(role, action)
        assert raised.value.status_code == 403
        assert raised.value.code == "permission-denied"

    def test_the_refusal_names_the_role_and_the_action_in_words(self) -> None:
        with pytest.raises(PermissionDenied, match="viewer may not create ticket"):
            require_permission(Role.viewer, Action.create_ticket)

    @pytest.mark.parametrize(
        ("role", "action"),
        [
            pytest.param(Role.admin, Action.delete_ticket, id="admin-deleting-a-ticket"),
            pytest.param(Role.viewer, Action.view_ticket, id="viewer-viewing-a-ticket"),
            pytest.param("senior_agent", "view_audit", id="senior-agent-by-string-reading-audit"),
        ],
    )
    def test_an_allowed_action_passes_silently(self, role: Role | str, action: Action | str) -> None:
        require_permission(role, action)  # raising here is the failure
