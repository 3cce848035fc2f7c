"""Projects: a shop's own folder with its params and reports, apart from the kit's checkout.

A project is a folder holding the marker file ``kit-project.yaml``, ``params/defaults.yaml`` (and
``params/<QUARTER>.yaml`` files), and ``reports/``. ``kit init DIR --source SOURCE`` creates one.
The project of a command or a call is, in order:

1. the one named (``--project DIR``, ``project=``);
2. ``$KIT_PROJECT`` (``kit report`` sets it for the notebooks it runs);
3. the nearest folder holding ``kit-project.yaml`` from the current directory upwards;
4. else the **embedded sample project**: the kit's own ``params/`` and ``reports/`` over the
   sample data, exactly as without projects.

The notebooks stay the kit's (``notebooks/``); a project holds data settings, not code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit import config

MARKER = "kit-project.yaml"
ENVIRONMENT_VARIABLE = "KIT_PROJECT"
# Currency symbols kit init knows by code; any other code needs --currency-symbol.
CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$", "TWD": "NT$",
                    "KRW": "₩", "SGD": "S$", "AUD": "A$", "CAD": "C$", "INR": "₹"}
# Columns whose values are channel ids (the contract checks them against the params' list).
CHANNEL_COLUMNS = (("sessions", "channel"), ("orders", "channel"), ("ad_spend", "channel"), ("touchpoints", "channel"))


class ProjectError(ValueError):
    """A project folder is missing, incomplete, or would be overwritten."""


@dataclass(frozen=True)
class Project:
    """Where a shop's params and reports live; ``embedded`` is the kit's own sample project."""

    root: Path
    embedded: bool = False

    @property
    def params_dir(self) -> Path:
        """The folder of ``defaults.yaml`` and the quarters' params files."""
        return config.PARAMS_DIR if self.embedded else self.root / "params"

    @property
    def reports_dir(self) -> Path:
        """Where ``kit report`` writes unless told otherwise."""
        return config.REPORTS_DIR if self.embedded else self.root / "reports"

    @property
    def name(self) -> str:
        """How pages and messages name the project."""
        return "embedded sample project" if self.embedded else str(self.root)

    def quarter_file(self, quarter: str) -> Path | None:
        """``params/<QUARTER>.yaml`` if it exists; ``None`` means the defaults apply as they are."""
        path = self.params_dir / f"{quarter}.yaml"
        return path if path.is_file() else None


def embedded() -> Project:
    """The sample project inside the kit's checkout."""
    return Project(config.ROOT, embedded=True)


def find(project: "Project | Path | str | None" = None, start: Path | str | None = None) -> Project:
    """The project to use (see the module docstring for the order)."""
    if isinstance(project, Project):
        return project
    named = project if project is not None else os.environ.get(ENVIRONMENT_VARIABLE) or None
    if named is not None:
        root = Path(named).expanduser().resolve()
        if not (root / MARKER).is_file():
            raise ProjectError(f"{root} is not a kit project (no {MARKER}); create one with `kit init {named}`")
        return Project(root)
    folder = Path(start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / MARKER).is_file():
            return Project(candidate)
    return embedded()


def discover_channels(source: Any) -> list[str]:
    """The distinct values of the source's channel columns (unchecked: the data is not yet valid
    for a channel list that does not exist), sorted."""
    from kit.source import connect

    src = connect(source, channels=[], reuse_checks=False)
    found: set[str] = set()
    try:
        for table, column in CHANNEL_COLUMNS:
            if table in src.tables():
                raw = src.raw(table)
                if column in raw.columns:
                    values = raw[column].cast("string").name("value")
                    found.update(v for v in values.as_table().distinct().to_pandas()["value"] if v is not None and v != "")
    finally:
        src.backend.disconnect()
    return sorted(found)


def _defaults_yaml(source: str | None, timezone: str, currency: str, symbol: str, channels: list[str]) -> str:
    import json

    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML string

    lines = [
        "# This shop's defaults; params/<QUARTER>.yaml overrides any key for one quarter (a quarter",
        "# without a file uses these as they are). Every key: see the kit's params/defaults.yaml.",
        f"timezone: {timezone}        # business days and quarters are local dates in this zone",
        f"source: {quoted(source) if source else 'null'}    # a folder (relative to this project), a .duckdb file or an Ibis URL",
        "gmv_basis: paid                # paid: GMV before refunds; net_of_refunds: refunded orders excluded",
        f"currency: {{code: {currency}, symbol: {quoted(symbol)}}}   # money on every page, tile and finding",
        "",
        "# The channel ids found in the data's channel columns. For each: paid: true for a channel you",
        "# pay for (its spend is in ad_spend), and target_roas: its ROI target (attributed GMV / spend,",
        "# 3.0 means 3.0:1), or null for none. name: how pages call it.",
    ]
    if channels:
        lines.append("channels:")
        lines += [f"  {quoted(c)}: {{name: {quoted(c)}, paid: false, target_roas: null}}" for c in channels]
    else:
        lines.append("channels: {}")
    lines += ["", "# Quarter targets (gmv, repurchase_rate, new_customers, conversion_rate) belong in params/<QUARTER>.yaml.",
              "targets: {}", ""]
    return "\n".join(lines)


def init(folder: Path | str, source: Any = None, *, currency: str = "CNY", currency_symbol: str | None = None,
         timezone: str = config.DEFAULT_TIMEZONE, force: bool = False) -> Project:
    """Create a project in ``folder``: the marker, ``params/defaults.yaml`` written for this shop
    (time zone, currency, the channels found in ``source``; no targets, no promotions) and
    ``reports/``. An existing project is left alone unless ``force``."""
    from kit import params as params_module

    root = Path(folder).expanduser().resolve()
    if (root / MARKER).exists() and not force:
        raise ProjectError(f"{root} is already a kit project; use --force to write its defaults.yaml again")
    code = currency.upper()
    symbol = currency_symbol or CURRENCY_SYMBOLS.get(code)
    if symbol is None:
        raise ProjectError(f"no symbol known for currency {code!r}; give one with --currency-symbol")
    stored_source, channels = None, []
    if source is not None:
        text = str(source)
        if "://" not in text:
            path = Path(text).expanduser().resolve()
            if not path.exists():
                raise ProjectError(f"source {text!r} not found")
            text = os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
            source = path
        stored_source = text
        channels = discover_channels(source)
    root.mkdir(parents=True, exist_ok=True)
    (root / "params").mkdir(exist_ok=True)
    (root / "reports").mkdir(exist_ok=True)
    defaults = root / "params" / "defaults.yaml"
    defaults.write_text(_defaults_yaml(stored_source, timezone, code, symbol, channels), encoding="utf-8")
    try:
        params_module.defaults(project=Project(root))  # what we wrote must load (a bad time zone …)
    except params_module.ParamsError:
        defaults.unlink()
        raise
    (root / MARKER).write_text("# Marks a kit project: params/ holds its parameters, reports/ its reports.\n"
                               "# kit report, kit validate and kit notebooks find it from any folder below.\n"
                               "kit_project: 1\n", encoding="utf-8")
    return Project(root)


__all__ = ["Project", "ProjectError", "MARKER", "find", "embedded", "init", "discover_channels"]
