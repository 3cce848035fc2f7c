"""Quarter parameters: ``params/defaults.yaml`` merged with ``params/<QUARTER>.yaml``, then validated.

Every key is declared below; an unknown key, a wrong type or a bad quarter string raises
:class:`ParamsError` naming the file and the key. YAML is read with a loader that keeps YAML 1.1's
surprises out: ``NO``/``yes``/``on``/``off`` stay strings (only ``true``/``false`` are booleans),
dates stay strings, and string fields refuse numbers (so ``1.10`` can't silently become ``1.1``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from kit import config
from kit.quarter import Quarter


class ParamsError(ValueError):
    """A parameters file is invalid; the message names the file and the key."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's yes/no/on/off booleans and without implicit dates."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Channel(_Model):
    """One channel of params: display name, paid or not, ROAS target."""

    name: str
    paid: bool
    target_roas: float | None = Field(default=None, gt=0)


# Currencies whose amounts read better with a word than with the ISO code.
UNIT_WORDS = {"CNY": "yuan", "JPY": "yen"}


class Currency(_Model):
    """The currency money is shown in: its ISO code and the symbol put before amounts."""

    code: str = Field(default="CNY", min_length=3, max_length=3)
    symbol: str = Field(default="¥", min_length=1)

    @property
    def unit(self) -> str:
        """The word put after amounts in tables, findings and axis labels: 'yuan' for CNY, else the code (USD)."""
        return UNIT_WORDS.get(self.code, self.code)


class Targets(_Model):
    """The quarter's targets (GMV, repurchase rate, new customers, conversion rate)."""

    gmv: float | None = Field(default=None, gt=0, description="quarter GMV target, in the project's currency")
    repurchase_rate: float | None = Field(default=None, ge=0, le=1)
    new_customers: int | None = Field(default=None, gt=0)
    conversion_rate: float | None = Field(default=None, ge=0, le=1)


class ABParams(_Model):
    """The ``ab`` section: experiments, metrics, level, correction and the sequential settings."""

    experiments: list[str] = []
    primary_metric: str = "ctr"
    guardrails: list[str] = []
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["none", "bonferroni", "holm", "hochberg", "bh", "by"] = "holm"
    srm_threshold: float = Field(default=0.001, gt=0, lt=1)
    pre_window_days: int = Field(default=14, gt=0)
    cuped: bool = True
    sequential: bool = False
    planned_users: int | None = Field(default=None, gt=1, description="users per arm the sequential test is tuned for")
    prior_sd: float | None = Field(default=0.3, gt=0, description="sd of the N(0, sd²) prior on the relative lift; null = flat")
    min_lift: float = Field(default=0.05, gt=0, description="smallest relative lift worth shipping (no winner vs inconclusive)")
    splits: dict[str, dict[str, float]] = Field(default={}, description="experiment id -> arm -> planned share; absent = equal")


class FunnelParams(_Model):
    """The ``funnel`` section: steps, window, attempt, breakdowns, unit, level."""

    steps: list[str] = Field(default=["home_view", "pdp_view", "add_to_cart", "checkout", "pay"], min_length=1)
    window: str = Field(default="1D", description="conversion window from the first step, e.g. 1D, 30min")
    attempt: Literal["best", "first", "totals"] = "best"
    breakdowns: list[str] = Field(default=[], description="columns of kit.funnel.load_events: device, channel, is_paid, customer")
    unit: Literal["user_id", "session_id"] = "user_id"
    hold: str | None = Field(default=None, description="a column held constant across steps, e.g. sku_id")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["none", "bonferroni", "holm", "hochberg", "bh", "by"] = "holm"
    new_customer_days: int = Field(default=30, gt=0, description="a session within this many days of signup is 'new'")


class PromoParams(_Model):
    """The ``promo`` section: promotions, periods, controls, level, placebos."""

    promotions: list[str] = Field(default=[], description="promotion ids to review; empty = every promotion overlapping the quarter")
    post_days: int = Field(default=14, ge=0, description="days after a promotion in its 'after' period (pull-forward dip)")
    gap_days: int = Field(default=0, ge=0, description="days before the start left out of the fit (at least the presale)")
    controls: list[str] | None = Field(default=None, description="control categories; null = categories no promotion ever covers")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="1 - interval level and significance threshold")
    pre_days: int = Field(default=365, ge=21, description="days of history before the promotion the model is fitted on")
    mask_post_days: int = Field(default=7, ge=0, description="days after another promotion masked in the pre-period")
    placebos: int = Field(default=10, ge=0, description="fake promotions in the pre-period for the placebo check")
    trend: bool = Field(default=False, description="let the counterfactual's level drift at a constant rate (a growing store)")


class ChannelParams(_Model):
    """The ``channel`` section: attribution, response model and reallocation settings."""

    lookback: str = "30D"
    attribution_models: list[str] = ["last", "first", "linear", "time_decay", "position", "markov", "shapley"]
    half_life_days: float = Field(default=7.0, gt=0)
    bounds: float = Field(default=0.3, gt=0, lt=1)
    history_start: str = Field(default="2024-01-01", description="first day of the weekly data the response model fits")
    saturation: Literal["hill", "logistic", "auto"] = "auto"
    controls: list[str] = ["promo_days"]
    exclude_promotion_kinds: list[str] = ["festival", "brand_day", "flash_sale", "coupon"]
    promotion_buffer_days: int = Field(default=7, ge=0)
    bootstrap: int = Field(default=200, ge=0)
    seed: int = 0
    target_roas: float | None = Field(default=None, gt=0, description="blended ROAS the reallocation must meet (None: keep the budget)")


class SourceSpec(_Model):
    """A data source that needs a session of its own, opened by each process that reads it (every
    notebook kernel of a report): Spark over files or catalog tables. Warehouses are an Ibis URL
    string instead (``postgres://user@host/db``)."""

    kind: Literal["spark"]
    master: str | None = Field(default=None, description='"local[2]", "spark://host:7077", "yarn"; null = the session\'s default')
    conf: dict[str, str] = Field(default={}, description="Spark settings for the session builder, e.g. spark.sql.shuffle.partitions")
    tables: dict[str, str] = Field(default={}, description="table -> a Parquet/CSV path (file, folder, URI) or a catalog table name")

    def __hash__(self) -> int:  # frozen, but its dicts are not hashable
        return hash(self.model_dump_json())


class CustomersParams(_Model):
    """Settings of the customers and retention analysis (RFM layers, repurchase, dormancy, CLV)."""

    lookback_days: int = Field(default=365, gt=0, description="frequency and GMV of RFM over this many days up to the date")
    new_days: int = Field(default=90, gt=0, description="first order within this many days: 新客 new")
    dormant_days: int = Field(default=90, gt=0, description="no order for more than this many days: 沉睡 dormant")
    churn_days: int = Field(default=180, gt=0, description="no order for more than this many days: 流失 churned")
    high_value_quantile: float = Field(default=0.8, gt=0, lt=1, description="高价值: GMV at least this quantile of the active customers'")
    high_value_min_orders: int = Field(default=2, ge=1, description="高价值: orders on at least this many days in the lookback")
    repurchase_days: list[int] = Field(default=[30, 60, 90], min_length=1, description="repurchase within N days of the first order")
    dormancy_tiers: list[int] = Field(default=[7, 15, 30, 90], min_length=1, description="days since the last order that start each tier")
    wake_days: int = Field(default=30, gt=0, description="a dormant customer who orders within this many days woke up")
    campaigns: list[str] = Field(default=[], description="outreach campaigns to review; empty = those sent in the quarter")
    calibration_days: int = Field(default=365, ge=28, description="CLV: BG/NBD and Gamma-Gamma are fitted on this many days before the quarter")
    clv_horizon_weeks: float = Field(default=52.0, gt=0, description="CLV over this many weeks")
    discount_rate: float = Field(default=0.0, ge=0, description="CLV discount per month (12 slices of the horizon)")
    alpha: float = Field(default=0.05, gt=0, lt=1)


# The model of each analysis's params section, by the section name kit/analyses.py registers.
SECTION_MODELS: dict[str, type[_Model]] = {"ab": ABParams, "funnel": FunnelParams, "promo": PromoParams,
                                           "channel": ChannelParams, "customers": CustomersParams}


class _SharedParams(_Model):
    """The keys every analysis reads; the per-analysis sections are added from the registry below."""

    quarter: str
    timezone: str = config.DEFAULT_TIMEZONE
    source: str | SourceSpec | None = None
    gmv_basis: Literal["paid", "net_of_refunds"] = "paid"
    currency: Currency = Currency()
    project: str | None = Field(default=None, description="set by load: the project folder (None: the embedded sample project)")
    channels: dict[str, Channel]
    targets: Targets = Targets()

    @field_validator("quarter")
    @classmethod
    def _quarter(cls, value: str) -> str:
        return Quarter(value).label

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Asia/Shanghai')") from error
        return value

    @property
    def period(self) -> Quarter:
        return Quarter(self.quarter)

    @property
    def paid_channels(self) -> list[str]:
        return [key for key, channel in self.channels.items() if channel.paid]

    def target_roas(self) -> dict[str, float]:
        return {key: c.target_roas for key, c in self.channels.items() if c.target_roas is not None}


def _section_fields() -> dict[str, Any]:
    """One field per params section of :data:`kit.analyses.ANALYSES`, typed by :data:`SECTION_MODELS`."""
    from kit.analyses import ANALYSES

    fields = {}
    for analysis in ANALYSES:
        if analysis.params_section is None:
            continue
        model = SECTION_MODELS.get(analysis.params_section)
        if model is None:
            raise TypeError(f"kit/analyses.py registers the params section {analysis.params_section!r} of "
                            f"{analysis.key!r}, but kit/params.py has no model for it in SECTION_MODELS")
        fields[analysis.params_section] = (model, model())
    return fields


Params = create_model("Params", __base__=_SharedParams, __doc__="Validated parameters of one quarter.", **_section_fields())


def section(params: Params, name: str, **overrides: Any) -> BaseModel:
    """The ``name`` section of ``params`` (``params.promo``, say) with ``overrides`` applied over it.

    An override of None means "take it from params" (so a notebook parameter left at None keeps the
    quarter's value); the others are validated like the YAML (an unknown key or a bad value raises
    :class:`ParamsError` naming it). Defaults live only in ``params/defaults.yaml``.
    """
    current = getattr(params, name)
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(type(current).model_fields))
    if unknown:
        raise ParamsError(f"unknown {name} setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"the {name} section has {', '.join(type(current).model_fields)}")
    if not given:
        return current
    try:
        return type(current).model_validate({**current.model_dump(), **given})
    except ValidationError as error:
        problems = "; ".join(f"{name}.{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})" for e in error.errors())
        raise ParamsError(f"invalid override: {problems}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one params file with the strict loader; an empty file is an empty mapping."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has_path(data: Any, path: tuple) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def validate(data: dict[str, Any], files: list[tuple[Path, dict]]) -> Params:
    """Validate merged data; errors name the file each offending key came from (last file wins)."""
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            loc = tuple(item["loc"])
            origin = next((str(p) for p, raw in reversed(files) if _has_path(raw, loc[:1]) and _has_path(raw, loc)), None)
            if origin is None:  # a missing key: say where it should be
                origin = str(files[0][0])
            key = ".".join(str(part) for part in loc) or "(top level)"
            value = item.get("input")
            shown = "" if item["type"] == "missing" else f" (got {value!r})"
            lines.append(f"{origin}: key '{key}': {item['msg']}{shown}")
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(lines)) from None


def _params_dir(params_dir: Path | str | None, project: Any) -> tuple[Path, Path | None]:
    """The params folder, and the project root that relative sources in it are relative to."""
    from kit.project import find

    if params_dir is not None:
        return Path(params_dir), None
    chosen = find(project)
    return chosen.params_dir, None if chosen.embedded else chosen.root


def _anchor_source(merged: dict[str, Any], root: Path | None) -> None:
    """A project's ``source: data`` means the project's ``data`` folder, wherever the command runs;
    the params remember their project."""
    merged["project"] = None if root is None else str(root)
    source = merged.get("source")
    if root is not None and isinstance(source, str) and "://" not in source and not Path(source).expanduser().is_absolute():
        merged["source"] = str(root / source)


def load(quarter: "str | Quarter", params_dir: Path | str | None = None, *, project: Any = None,
         **overrides: Any) -> Params:
    """Load ``defaults.yaml`` merged with ``<quarter>.yaml`` (if present) and validate.

    The params folder is ``params_dir``, else the project's (``project=`` a folder or a
    :class:`kit.project.Project`; default: found from ``$KIT_PROJECT`` or the current directory,
    else the embedded sample project, see :mod:`kit.project`). A quarter without its own file uses
    the defaults as they are (``kit.project.Project.quarter_file`` says whether it has one).
    ``overrides`` (e.g. ``source=...``) are applied last, as notebook parameters are.
    """
    label = Quarter(quarter).label  # raises a clear error for a bad quarter string
    folder, root = _params_dir(params_dir, project)
    defaults_path = folder / "defaults.yaml"
    quarter_path = folder / f"{label}.yaml"
    files = [(defaults_path, read_yaml(defaults_path))]
    if quarter_path.exists():
        quarter_data = read_yaml(quarter_path)
        stated = quarter_data.get("quarter", label)
        if stated != label:
            raise ParamsError(f"{quarter_path}: key 'quarter' says {stated!r} but the file is for {label}")
        files.append((quarter_path, quarter_data))
    merged: dict[str, Any] = {}
    for _, raw in files:
        merged = _merge(merged, raw)
    merged["quarter"] = label
    _anchor_source(merged, root)
    if overrides:
        files.append((Path("<overrides>"), overrides))
        merged = _merge(merged, overrides)
    return validate(merged, files)


def defaults(params_dir: Path | str | None = None, *, project: Any = None) -> Params:
    """The defaults alone, for code that needs the channel list without a quarter."""
    folder, root = _params_dir(params_dir, project)
    path = folder / "defaults.yaml"
    raw = read_yaml(path)
    merged = {**raw, "quarter": raw.get("quarter", "2025Q4")}
    _anchor_source(merged, root)
    return validate(merged, [(path, raw)])
