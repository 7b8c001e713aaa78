"""The permission table: which staff role may perform which action. Every endpoint asks it."""

from __future__ import annotations

from enum import StrEnum

from supportdesk.core.errors import PermissionDenied


class Role(StrEnum):
    admin = "admin"
    senior_agent = "senior_agent"
    agent = "agent"
    viewer = "viewer"


class Action(StrEnum):
    view_ticket = "view_ticket"
    create_ticket = "create_ticket"
    update_ticket = "update_ticket"
    reassign_ticket = "reassign_ticket"
    delete_ticket = "delete_ticket"
    comment_ticket = "comment_ticket"
    view_customer = "view_customer"
    manage_customer = "manage_customer"
    list_users = "list_users"
    create_user = "create_user"
    change_role = "change_role"
    deactivate_user = "deactivate_user"
    manage_own_tokens = "manage_own_tokens"
    view_audit = "view_audit"
    manage_workspace = "manage_workspace"
    view_sla = "view_sla"
    manage_sla = "manage_sla"
    manage_automation = "manage_automation"
    apply_macro = "apply_macro"
    manage_webhooks = "manage_webhooks"
    manage_deliveries = "manage_deliveries"


_EVERYONE = frozenset(Role)
_WORKERS = frozenset({Role.admin, Role.senior_agent, Role.agent})
_ADMINS = frozenset({Role.admin})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.view_ticket: _EVERYONE,
    Action.create_ticket: _WORKERS,
    Action.update_ticket: _WORKERS,
    Action.reassign_ticket: _WORKERS,
    Action.delete_ticket: _ADMINS,
    Action.comment_ticket: _WORKERS,
    Action.view_customer: _EVERYONE,
    Action.manage_customer: _WORKERS,
    Action.list_users: _EVERYONE,
    Action.create_user: _ADMINS,
    Action.change_role: _ADMINS,
    Action.deactivate_user: _ADMINS,
    Action.manage_own_tokens: _EVERYONE,
    Action.view_audit: frozenset({Role.admin, Role.senior_agent}),
    Action.manage_workspace: _ADMINS,
    Action.view_sla: _EVERYONE,
    Action.manage_sla: _ADMINS,
    Action.manage_automation: _ADMINS,
    Action.apply_macro: _WORKERS,
    Action.manage_webhooks: _ADMINS,
    Action.manage_deliveries: _ADMINS,
}


def check_permission(role: Role | str, action: Action | str) -> bool:
    """Whether ``role`` may perform ``action``. Unknown roles or actions are never allowed."""
    try:
        return Role(role) in PERMISSIONS[Action(action)]
    except ValueError:
        return False


def require_permission(role: Role | str, action: Action | str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may perform ``action``."""
    if not check_permission(role, action):
        raise PermissionDenied(f"The role {role!s} may not {str(action).replace('_', ' ')}")
