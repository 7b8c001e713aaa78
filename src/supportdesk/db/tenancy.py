"""Tenancy, enforced in one place: every ORM statement a scoped session runs is limited to its workspace."""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

from sqlalchemy import Select, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.util import LoaderCriteriaOption
from sqlalchemy.sql.base import Executable

from supportdesk.db.base import WorkspaceScoped

WORKSPACE_KEY = "workspace_id"
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


class CrossWorkspaceWrite(RuntimeError):
    """A row of one workspace was about to be written through another workspace's session."""


def scope_to_workspace(session: Session, workspace_id: int) -> None:
    """From now on ``session`` sees and writes only rows of ``workspace_id``."""
    session.info[WORKSPACE_KEY] = workspace_id


class UnscopedSession(RuntimeError):
    """A statement that must be limited to a workspace ran in a session scoped to none."""


def required_workspace_id(session: Session) -> int:
    """The workspace ``session`` is scoped to, for the few hot statements that run below the ORM (where
    the criteria above do not reach) and name the workspace themselves."""
    workspace_id = current_workspace_id(session)
    if workspace_id is None:
        raise UnscopedSession("This statement needs a session scoped to a workspace")
    return workspace_id


def current_workspace_id(session: Session) -> int | None:
    """The workspace ``session`` is scoped to, if any."""
    value = session.info.get(WORKSPACE_KEY)
    return int(value) if value is not None else None


NAMES_ITS_WORKSPACE = "names_its_workspace"
"""Execution option, given the workspace id, of a statement loaded as objects (``from_statement``) that
writes rows of the workspace it names in its own SQL, as ticket creation's INSERT ... RETURNING does.
The criteria below would not change such SQL, only cost a new statement and cache key on every
execution; instead the named workspace must be the session's."""


@functools.lru_cache(maxsize=4096)
def _workspace_criteria(workspace_id: int) -> LoaderCriteriaOption:
    # One option per workspace, built once: building it analyses the lambda and, each time, gives the
    # statement a new part whose cache key must be computed again.
    return with_loader_criteria(
        WorkspaceScoped,
        lambda cls: cls.workspace_id == workspace_id,
        include_aliases=True,
    )


@event.listens_for(Session, "do_orm_execute")
def _limit_to_workspace(state: ORMExecuteState) -> None:
    workspace_id = current_workspace_id(state.session)
    if workspace_id is None:
        return
    named = state.execution_options.get(NAMES_ITS_WORKSPACE) if state.is_from_statement else None
    if named is not None:
        check_write(state.session, "A statement", named)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = _scoped(state.statement, workspace_id)


def as_scoped(session: Session, statement: SelectT) -> SelectT:
    """The read ``statement`` as the hook runs it in ``session``: limited to the session's workspace,
    if it has one. For a statement sent below the ORM (``db.direct``), which the hook does not see."""
    workspace_id = current_workspace_id(session)
    return statement if workspace_id is None else cast(SelectT, _scoped(statement, workspace_id))


@functools.lru_cache(maxsize=1024)
def _scoped(statement: Executable, workspace_id: int) -> Executable:
    """``statement`` limited to ``workspace_id``, the same object for the same statement and workspace.

    Most statements are built once and run many times. SQLAlchemy remembers a statement's cache key on
    the statement object, so a scoped copy made anew at each run would have its whole key computed again
    (every subquery and loader option walked); kept, it is computed once. Statements compare by identity,
    and an entry keeps its statement alive, so no other statement can be taken for it. A statement built
    for a single run only passes through."""
    return statement.options(_workspace_criteria(workspace_id))


def check_write(session: Session, what: str, workspace_id: int) -> None:
    """Refuse to write a row of ``workspace_id`` through a session scoped to another workspace; the flush
    checks every object it writes, and statements that write rows themselves call this."""
    scoped = current_workspace_id(session)
    if scoped is not None and workspace_id != scoped:
        raise CrossWorkspaceWrite(f"{what} of workspace {workspace_id} written in workspace {scoped}")


@event.listens_for(Session, "before_flush")
def _stamp_workspace(session: Session, _context: Any, _instances: Any) -> None:
    workspace_id = current_workspace_id(session)
    if workspace_id is None:
        return
    for instance in (*session.new, *session.dirty):
        if not isinstance(instance, WorkspaceScoped):
            continue
        if instance.workspace_id is None:
            instance.workspace_id = workspace_id
        else:
            check_write(session, type(instance).__name__, instance.workspace_id)
