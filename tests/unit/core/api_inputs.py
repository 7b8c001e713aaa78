"""Every text input of the API, found by introspection: the routes' parameters and request bodies, and
inside each the place of every string pydantic validates.

The walk reads pydantic's core schema (what validation really does), not the published JSON schema, so
a string nested in a list, a dictionary key, a nested model or one member of a union is found too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError


@dataclass(frozen=True, slots=True)
class Step:
    """One step from a parameter down to a string: a model's field, a list item, a dict key or value.

    A field step carries the model's literal fields (the discriminators of a union such as a trigger
    condition's ``field`` and ``operator``), so an input built along the path reaches that member.
    """

    kind: str  # "field", "item", "key" or "value"
    name: str = ""
    literals: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class StringLeaf:
    """A place where a string is validated, and what is known about it on the way there."""

    path: tuple[Step, ...]
    schema: dict[str, Any]
    functions: tuple[Callable[..., Any], ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.path if step.kind == "field")

    @property
    def label(self) -> str:
        parts = [step.name if step.kind == "field" else f"[{step.kind}]" for step in self.path]
        return ".".join(parts) or "(itself)"


@dataclass(frozen=True, slots=True)
class ApiInput:
    """One parameter of one operation: a query parameter, a header or a request body."""

    operation: str  # "POST /api/v1/tickets"
    location: str  # "query", "header", "cookie", "path" or "body"
    name: str
    adapter: TypeAdapter[Any]

    @property
    def model(self) -> type[BaseModel] | None:
        core = self.adapter.core_schema
        while core["type"] == "definitions":
            core = cast(Any, core)["schema"]
        cls = core.get("cls")
        return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None

    @property
    def label(self) -> str:
        return f"{self.operation} {self.location} {self.name}"


def _parameters(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    """(location, parameter) of an endpoint and of every dependency it has."""
    for location in ("path", "query", "header", "cookie", "body"):
        for param in getattr(dependant, f"{location}_params"):
            yield location, param
    for dependency in dependant.dependencies:
        yield from _parameters(dependency)


def api_inputs(app: FastAPI) -> list[ApiInput]:
    """Every parameter of every API operation, each with a validator built as FastAPI builds it."""
    inputs: dict[tuple[str, str, str], ApiInput] = {}
    # Included routers are walked as the published schema walks them, with their prefixes.
    for route in iter_route_contexts(app.routes):
        endpoint = route.original_route
        if not isinstance(endpoint, APIRoute):
            continue
        for method in sorted(route.methods or ()):
            operation = f"{method} {route.path}"
            for location, param in _parameters(endpoint.dependant):
                info = param.field_info
                annotation = (
                    Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
                )
                adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, annotation))
                inputs[operation, location, param.alias] = ApiInput(operation, location, param.alias, adapter)
    return list(inputs.values())


_WRAPPERS = ("function-before", "function-after", "function-wrap")


def string_leaves(schema: Any) -> list[StringLeaf]:
    """Every string validated under ``schema`` (a pydantic core schema), with its path."""
    definitions: dict[str, Any] = {}
    leaves: list[StringLeaf] = []

    def walk(
        node: Any, path: tuple[Step, ...], functions: tuple[Callable[..., Any], ...], refs: frozenset[str]
    ) -> None:
        kind = node["type"]
        if kind == "definitions":
            for definition in node["definitions"]:
                definitions[definition["ref"]] = definition
            walk(node["schema"], path, functions, refs)
        elif kind == "definition-ref":
            ref = node["schema_ref"]
            if ref not in refs:
                walk(definitions[ref], path, functions, refs | {ref})
        elif kind == "str":
            leaves.append(StringLeaf(path, node, functions))
        elif kind == "model":
            walk(node["schema"], path, functions, refs)
        elif kind == "model-fields":
            literals = tuple(
                (name, _literal(field["schema"]))
                for name, field in node["fields"].items()
                if _literal(field["schema"]) is not None
            )
            for name, field in node["fields"].items():
                walk(field["schema"], (*path, Step("field", name, literals)), functions, refs)
        elif kind in {"list", "set", "frozenset"}:
            if "items_schema" in node:
                walk(node["items_schema"], (*path, Step("item")), functions, refs)
        elif kind == "dict":
            for part in ("keys", "values"):
                if f"{part}_schema" in node:
                    walk(node[f"{part}_schema"], (*path, Step(part[:-1])), functions, refs)
        elif kind == "union":
            for choice in node["choices"]:
                walk(choice[0] if isinstance(choice, tuple) else choice, path, functions, refs)
        elif kind == "tagged-union":
            for choice in node["choices"].values():
                walk(choice, path, functions, refs)
        elif kind == "chain":
            for step in node["steps"]:
                walk(step, path, functions, refs)
        elif kind in _WRAPPERS:
            walk(node["schema"], path, (*functions, node["function"]["function"]), refs)
        elif kind in {"nullable", "default"}:
            walk(node["schema"], path, functions, refs)
        elif kind in {"tuple", "arguments", "call", "typed-dict", "dataclass", "json-or-python"}:
            raise NotImplementedError(f"teach string_leaves to walk a {kind!r} schema")

    walk(schema, (), (), frozenset())
    return leaves


def _literal(schema: Any) -> Any:
    while schema["type"] in {"default", "nullable"}:
        schema = schema["schema"]
    return schema["expected"][0] if schema["type"] == "literal" else None


def value_at(leaf: StringLeaf, text: str) -> Any:
    """An input that puts ``text`` at ``leaf`` (and fills only the literal fields on the way)."""
    value: Any = text
    for step in reversed(leaf.path):
        if step.kind == "field":
            value = {**dict(step.literals), step.name: value}
        elif step.kind == "item":
            value = [value]
        elif step.kind == "key":
            value = {value: None}
        else:
            value = {"x": value}
    return value


def errors_of(adapter: TypeAdapter[Any], value: Any) -> Iterator[dict[str, Any]]:
    """The validation errors of ``value``; none when it is valid."""
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        yield from cast(list[dict[str, Any]], error.errors())


def names_in(location: tuple[Any, ...], names: tuple[str, ...]) -> bool:
    """Whether ``names`` appear in ``location`` in order (union members add their tags in between)."""
    remaining = iter(part for part in location if isinstance(part, str))
    return all(any(part == name for part in remaining) for name in names)
