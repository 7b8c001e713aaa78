"""Reading the yes/no grids that unit tests write out by hand, so a table in the code is checked
against a table a person can read at a glance."""

from __future__ import annotations

_CELLS = {"yes": True, "no": False}


def read_grid(text: str) -> dict[str, dict[str, bool]]:
    """Parse a grid whose first line names the columns and whose other lines start with a row name
    followed by one ``yes`` or ``no`` per column. Returns ``{row: {column: allowed}}``.

    Anything malformed is a mistake in the test itself, so it fails loudly instead of guessing.
    """
    header, *rows = [line.split() for line in text.strip().splitlines() if line.strip()]
    columns = header[1:]
    grid: dict[str, dict[str, bool]] = {}
    for row in rows:
        name, cells = row[0], row[1:]
        if len(cells) != len(columns):
            raise ValueError(f"row {name!r} has {len(cells)} cells for {len(columns)} columns")
        if name in grid:
            raise ValueError(f"row {name!r} appears twice")
        unknown = set(cells) - set(_CELLS)
        if unknown:
            raise ValueError(f"row {name!r} has cells other than yes/no: {sorted(unknown)}")
        grid[name] = {column: _CELLS[cell] for column, cell in zip(columns, cells, strict=True)}
    return grid
