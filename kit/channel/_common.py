"""Input handling shared by the channel functions: tables in, clear errors out."""
from __future__ import annotations

from typing import Any, Iterable

from kit import params as params_module


def known_channels(channels: Iterable[str] | None) -> list[str]:
    """The channel list to validate against: the given one, else the params defaults'."""
    if channels is not None:
        return list(channels)
    return list(params_module.defaults().channels)


def resolve_source(source: Any, params: "params_module.Params"):
    """A kit Source from a Source, a source spec (path/URL/backend) or None (the params' source)."""
    from kit.source import Source, connect

    return source if isinstance(source, Source) else connect(source, params=params)


def resolve_params(quarter: Any, params: "params_module.Params | None") -> "params_module.Params":
    if params is not None:
        return params
    return params_module.load(quarter) if quarter is not None else params_module.defaults()
