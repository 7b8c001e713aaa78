"""The published pattern of stripped, non-empty text says exactly what the server accepts.

A request body strips its text before checking its length, so " " or "\\f" alone is too short. The
schema must not call such text valid, or clients (and the contract tests) send it in good faith.
"""

from __future__ import annotations

import re
from typing import Annotated

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from supportdesk.core.schemas import RequestModel, Text


class Stripped(RequestModel):
    name: Annotated[str, Text(min_length=1, max_length=50)]


class Kept(RequestModel):
    reply: Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=50)]


def _pattern(model: type[RequestModel], field: str) -> re.Pattern[str]:
    published = model.model_json_schema()["properties"][field]["pattern"]
    # JSON Schema writes \\uXXXX escapes; Python's re reads them the same way.
    return re.compile(published)


STORABLE = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)


@given(STORABLE)
def test_stripped_text_matches_the_pattern_exactly_when_the_server_accepts_it(text: str) -> None:
    try:
        Stripped(name=text)
        accepted = True
    except ValidationError:
        accepted = False

    assert bool(_pattern(Stripped, "name").search(text)) == accepted


def test_whitespace_alone_is_published_as_invalid_where_it_is_stripped() -> None:
    pattern = _pattern(Stripped, "name")

    for blank in (" ", "\f", "\x85", "\u3000", "\t\n"):
        assert pattern.search(blank) is None, repr(blank)


def test_text_that_is_kept_as_sent_may_be_whitespace() -> None:
    assert Kept(reply=" ").reply == " "
    assert _pattern(Kept, "reply").search(" ") is not None
