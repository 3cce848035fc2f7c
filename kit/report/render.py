"""Jinja2 rendering of the report index and the KPI tiles (templates in ``kit/report/templates``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescaped)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty cell
        keep_trailing_newline=True,
    )


def render_tiles(tiles: list[dict[str, Any]], caption: str | None = None) -> str:
    """The KPI tiles as HTML."""
    return environment().get_template("tiles.html.j2").render(tiles=tiles, caption=caption)


def render_index(**context: Any) -> str:
    """The report index page as HTML."""
    return environment().get_template("index.html.j2").render(**context)
