"""The order in which a flush fills new objects is stated where each filler is registered, not left to
the order modules happen to be imported in: each model has at most one filler per stage, the stages run
in their order, and each model has at most one follower of changes."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from supportdesk.db.defaults import FillStage, fillers_of, fills_new, follows_changes
from supportdesk.sla import clocks
from supportdesk.tickets import defaults as ticket_defaults
from supportdesk.tickets.models import Ticket


def _another(_session: Session, _tickets: list[Ticket]) -> None:
    """A second filler or follower for a model whose place is taken."""


def test_a_tickets_own_columns_are_filled_before_its_sla_columns() -> None:
    assert [filler.__module__ for filler in fillers_of(Ticket)] == [
        ticket_defaults.__name__,
        clocks.__name__,
    ]


@pytest.mark.parametrize("stage", list(FillStage), ids=lambda stage: stage.name)
def test_a_second_filler_at_a_taken_stage_is_refused(stage: FillStage) -> None:
    before = fillers_of(Ticket)

    with pytest.raises(ValueError, match="already has"):
        fills_new(Ticket, stage)(_another)

    assert fillers_of(Ticket) == before


def test_a_second_follower_is_refused() -> None:
    with pytest.raises(ValueError, match="already has a follower"):
        follows_changes(Ticket, ["title"])(_another)


def test_a_module_registering_again_replaces_its_own_filler() -> None:
    """What a reloaded module does: the same function, as a new object, takes its old place."""
    own = fillers_of(Ticket)[0]

    def again(session: Session, tickets: list[Ticket]) -> None:
        own(session, tickets)

    again.__module__, again.__qualname__ = own.__module__, own.__qualname__
    try:
        fills_new(Ticket, FillStage.own)(again)
        assert fillers_of(Ticket) == [again, fillers_of(Ticket)[1]]
    finally:
        fills_new(Ticket, FillStage.own)(own)
    assert fillers_of(Ticket)[0] is own
