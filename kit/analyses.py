"""The registry of analyses: one entry per notebook of a quarter's review.

Everything that lists the analyses derives from here (the report's notebook list, the fork server's
warm imports, the params sections, what a source can feed), so adding an analysis is one entry
here plus its package, its params section and its notebook. Standard library only: the report
runner imports this before its fork server starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Analysis:
    """One analysis of the quarter's review.

    ``needs`` maps each table the analysis cannot run without to the columns it reads that the
    contract marks optional (the contract's required columns go without saying); ``optional``
    maps what it uses when it is there and does without otherwise — a whole table (``"sessions"``)
    or an optional column (``"events.screen"``) — to what it adds.
    """

    key: str                      # short name: "channel"
    notebook: str                 # notebook stem in notebooks/: "01_channel_roi"
    title: str                    # what the index calls it
    module: str                   # package imported by the fork server: "kit.channel"
    params_section: str | None    # its section in params (None: it reads only the shared keys)
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optional: dict[str, str] = field(default_factory=dict)


ANALYSES: tuple[Analysis, ...] = (
    Analysis("overview", "00_quarter_overview", "Quarter overview", "kit.overview", None,
             needs={"orders": ()},
             optional={"sessions": "active users and the conversion rate"}),
    Analysis("channel", "01_channel_roi", "Channel ROI", "kit.channel", "channel",
             needs={"orders": (), "sessions": (), "ad_spend": (), "touchpoints": ()},
             optional={"promotions": "promotion weeks left out of the response model's fit"}),
    Analysis("ab", "02_detail_page_ab", "Detail-page A/B tests", "kit.ab", "ab",
             needs={"experiments": (), "events": (), "orders": ()}),
    Analysis("funnel", "03_funnel_dropoff", "Funnel drop-off", "kit.funnel", "funnel",
             needs={"events": (), "sessions": ()},
             optional={"users": "the new/returning customer breakdown", "events.screen": "detail-page scroll exits",
                       "events.sku_id": "funnels that hold the item (hold: sku_id)"}),
    Analysis("promo", "04_promotion_lift", "Promotion lift", "kit.promo", "promo",
             needs={"orders": ("promotion_id",), "order_items": (), "promotions": (), "ad_spend": (), "users": ()},
             optional={"users.member_tier": "the members' share of event GMV",
                       "promotions.presale_start": "the presale period",
                       "promotions.categories": "promoted vs other categories (cannibalisation)"}),
    Analysis("customers", "05_customers_retention", "Customers and retention", "kit.customers", "customers",
             needs={"orders": ()},
             optional={"users": "signup dates (new customers by signup)", "users.member_tier": "layers by member tier",
                       "outreach": "wake-up rates of the outreach campaigns"}),
)


def by_key(key: str) -> Analysis:
    """The analysis called ``key`` (its key or its notebook stem)."""
    for analysis in ANALYSES:
        if key in (analysis.key, analysis.notebook):
            return analysis
    raise KeyError(f"no analysis {key!r}; known: {', '.join(a.key for a in ANALYSES)}")


def for_notebook(stem: str) -> Analysis | None:
    """The analysis a notebook belongs to, ``None`` for a notebook outside the registry."""
    return next((a for a in ANALYSES if a.notebook == stem), None)


def _listed(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class Readiness:
    """Whether a source can feed one analysis: the tables and columns it lacks, and what the
    analysis will leave out for want of an optional table or column."""

    analysis: Analysis
    missing_tables: tuple[str, ...]
    missing_columns: tuple[str, ...]   # "orders.promotion_id"
    without: tuple[str, ...]           # "sessions: active users and the conversion rate"
    empty_tables: tuple[str, ...] = ()  # needed tables that are there but hold no rows

    @property
    def runnable(self) -> bool:
        """Nothing the analysis needs is missing or empty."""
        return not (self.missing_tables or self.missing_columns or self.empty_tables)

    @property
    def reason(self) -> str:
        """Why it cannot run: "needs tables events and sessions — not in this source"; "" when it can."""
        parts = []
        for kind, names in (("table", self.missing_tables), ("column", self.missing_columns)):
            if names:
                parts.append(f"{kind}{'s' if len(names) > 1 else ''} {_listed(list(names))}")
        reason = f"needs {' and '.join(parts)} — not in this source" if parts else ""
        if self.empty_tables:
            names = list(self.empty_tables)
            empty = f"no data: table{'s' if len(names) > 1 else ''} {_listed(names)} {'are' if len(names) > 1 else 'is'} empty"
            reason = f"{reason}; {empty}" if reason else empty
        return reason

    def describe(self) -> str:
        """One line for ``kit validate``: "funnel: needs table events — not in this source"."""
        if not self.runnable:
            return f"{self.analysis.key}: {self.reason}"
        return f"{self.analysis.key}: runnable" + (f" (without {'; '.join(self.without)})" if self.without else "")


def readiness(columns: dict[str, list[str]], rows: dict[str, int] | None = None,
              analyses: tuple[Analysis, ...] = ANALYSES) -> list[Readiness]:
    """What each analysis can do with a source whose tables have these columns (table -> column
    names, e.g. from :func:`source_columns`) and, if known, these row counts (an empty table it
    needs stops it with "no data")."""
    out = []
    for analysis in analyses:
        tables = tuple(t for t in analysis.needs if t not in columns)
        missing_columns = tuple(f"{t}.{c}" for t, needed in analysis.needs.items() if t in columns
                                for c in needed if c not in columns[t])
        without = []
        for item, adds in analysis.optional.items():
            table, _, column = item.partition(".")
            if table not in columns or (column and column not in columns[table]):
                without.append(f"{item}: {adds}")
        empty = tuple(t for t in analysis.needs if t in columns and rows is not None and rows.get(t, 1) == 0)
        out.append(Readiness(analysis, tables, missing_columns, tuple(without), empty))
    return out


def source_columns(source) -> dict[str, list[str]]:
    """The columns of every contract table a :class:`kit.source.Source` has, as stored (unchecked);
    a table that cannot even be read (its error is reported by the check) is left out."""
    from kit.contract import ContractError

    columns = {}
    for name in source.tables():
        try:
            columns[name] = list(source.raw(name).columns)
        except ContractError:
            pass
    return columns


def matrix_markdown(tables: tuple[str, ...] | None = None) -> str:
    """The tables × analyses matrix of README "Your own data", from the declarations above:
    **needs** (with the optional contract columns it needs), *optional* (with what it adds), or –."""
    from kit.contract import TABLES

    tables = tables or TABLES
    header = "| analysis (notebook) | " + " | ".join(tables) + " |"
    lines = [header, "| --- " * (len(tables) + 1) + "|"]
    for analysis in ANALYSES:
        cells = []
        for table in tables:
            columns = [item.partition(".")[2] for item in analysis.optional if item.startswith(f"{table}.")]
            if table in analysis.needs:
                extra = ", ".join(analysis.needs[table])
                cell = "**needs**" + (f" ({extra})" if extra else "")
                cell += f"; opt. {', '.join(columns)}" if columns else ""
            elif table in analysis.optional:
                cell = "optional"
            else:
                cell = "–"
            cells.append(cell)
        lines.append(f"| {analysis.key} ({analysis.notebook}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
