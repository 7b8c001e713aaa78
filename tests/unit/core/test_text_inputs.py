"""Text the databases cannot store is refused where the request is read, for every text input there is.

PostgreSQL refuses U+0000 in text and JSONB, and no UTF-8 database stores an unpaired surrogate (which a
JSON string can carry as an escape). The inputs are found by walking every operation's parameters and
body, so a new field, query parameter or header is checked without being listed here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter

from supportdesk.app import create_app
from supportdesk.core.schemas import Text
from tests.fixtures.database import make_settings
from tests.unit.core.api_inputs import (
    ApiInput,
    StringLeaf,
    api_inputs,
    errors_of,
    names_in,
    string_leaves,
    value_at,
)

REFUSED = "unstorable-character"

UNSTORABLE = [
    pytest.param("a\x00b", id="nul-inside"),
    pytest.param("\x00", id="nul-alone"),
    pytest.param("ab\ud800", id="unpaired-high-surrogate"),
    pytest.param("\udc00ab", id="unpaired-low-surrogate"),
    pytest.param("\udbff\ud800", id="surrogates-in-the-wrong-order"),
]


@pytest.fixture(scope="module")
def api() -> FastAPI:
    """The application, built only to read its routes (nothing connects to a database)."""
    return create_app(make_settings())


@pytest.fixture(scope="module")
def text_inputs(api: FastAPI) -> list[tuple[ApiInput, StringLeaf]]:
    """Every place in every operation's input where a string is validated."""
    return [
        (api_input, leaf)
        for api_input in api_inputs(api)
        for leaf in string_leaves(api_input.adapter.core_schema)
    ]


def _label(api_input: ApiInput, leaf: StringLeaf) -> str:
    return f"{api_input.label} {leaf.label}"


def test_the_walk_finds_the_text_inputs_the_probe_named(
    text_inputs: list[tuple[ApiInput, StringLeaf]],
) -> None:
    # Guards the walk itself: if it found nothing, the test below would pass for nothing.
    found = {_label(api_input, leaf) for api_input, leaf in text_inputs}
    expected = {
        "POST /api/v1/tickets body body title",
        "POST /api/v1/tickets body body description",
        "POST /api/v1/tickets body body customer_name",
        "POST /api/v1/tickets body body tags.[item]",
        "POST /api/v1/tickets header Idempotency-Key (itself)",
        "GET /api/v1/tickets query cursor (itself)",
        "POST /api/v1/tickets/{ticket_id:int}/comments body body content",
        "POST /api/v1/customers body body company",
        "GET /api/v1/customers query company (itself)",
        "POST /api/v1/admin/users body body name",
        "POST /api/v1/me/tokens body body name",
        "POST /api/v1/macros body body reply",
        "POST /api/v1/triggers body body name",
        "POST /api/v1/triggers body body conditions.[item].value",
        "POST /api/v1/triggers body body actions.[item].message",
        "POST /api/v1/sla/policies body body name",
        "POST /api/v1/sla/calendars body body name",
        "POST /api/v1/sla/calendars body body weekly_hours.monday.[item].start",
        "PATCH /api/v1/workspace body body category_strategies.[key]",
        "PATCH /api/v1/tickets/{ticket_id:int} header if-match (itself)",
    }
    assert expected <= found


@pytest.mark.parametrize("text", UNSTORABLE)
def test_every_text_input_of_the_api_refuses_what_no_database_can_store(
    text_inputs: list[tuple[ApiInput, StringLeaf]], text: str
) -> None:
    accepted = [
        _label(api_input, leaf)
        for api_input, leaf in text_inputs
        if not any(
            error["type"] == REFUSED and names_in(tuple(error["loc"]), leaf.field_names)
            for error in errors_of(api_input.adapter, value_at(leaf, text))
        )
    ]
    assert accepted == [], "these inputs do not refuse the text with " + REFUSED


Limited = TypeAdapter(Annotated[str, Text(min_length=1, max_length=8, pattern=r"^[a-z\x00]+$")])


@pytest.mark.parametrize("text", UNSTORABLE)
def test_the_refusal_comes_before_the_other_checks_so_its_error_is_always_the_same(text: str) -> None:
    errors = list(errors_of(Limited, text * 10))
    assert [error["type"] for error in errors] == [REFUSED]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("tab\tand\nnewline", id="control-characters-but-nul"),
        pytest.param("Grüße, 東京", id="accents-and-cjk"),
        pytest.param("\U0001f600", id="emoji-beyond-the-basic-plane"),
        pytest.param("\ufffd\uffff", id="replacement-and-noncharacter"),
        pytest.param("\u2028", id="line-separator"),
    ],
)
def test_text_that_the_databases_can_store_is_accepted(text: str) -> None:
    assert TypeAdapter(Annotated[str, Text(max_length=100)]).validate_python(text) == text


def test_non_strings_are_left_to_the_string_check() -> None:
    errors: list[dict[str, Any]] = list(errors_of(TypeAdapter(Annotated[str, Text()]), 5))
    assert [error["type"] for error in errors] == ["string_type"]


def test_the_published_schema_says_that_text_holds_no_nul() -> None:
    published = TypeAdapter(Annotated[str, Text(max_length=5)]).json_schema()
    pattern = re.compile(published["pattern"])
    assert published["maxLength"] == 5
    assert pattern.search("a\x00b") is None
    assert pattern.search("Grüße \U0001f600") is not None


def test_a_pattern_of_the_fields_own_is_published_unchanged() -> None:
    published = TypeAdapter(Annotated[str, Text(pattern="^[a-z]+$")]).json_schema()
    assert published["pattern"] == "^[a-z]+$"
