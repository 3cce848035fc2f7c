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

    ``needs`` maps each table the analysis cannot run without to the columns it reads beyond the
    contract's required ones (usually none); ``optional`` maps tables (or optional columns) it uses
    when they are there and does without otherwise.
    """

    key: str                      # short name: "channel"
    notebook: str                 # notebook stem in notebooks/: "01_channel_roi"
    title: str                    # what the index calls it
    module: str                   # package imported by the fork server: "kit.channel"
    params_section: str | None    # its section in params (None: it reads only the shared keys)
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optional: dict[str, tuple[str, ...]] = field(default_factory=dict)


ANALYSES: tuple[Analysis, ...] = (
    Analysis("overview", "00_quarter_overview", "Quarter overview", "kit.overview", None,
             needs={"orders": ()}, optional={"sessions": (), "users": ()}),
    Analysis("channel", "01_channel_roi", "Channel ROI", "kit.channel", "channel",
             needs={"orders": (), "sessions": (), "ad_spend": (), "touchpoints": ()}, optional={"promotions": ()}),
    Analysis("ab", "02_detail_page_ab", "Detail-page A/B tests", "kit.ab", "ab",
             needs={"experiments": (), "events": (), "orders": ()}),
    Analysis("funnel", "03_funnel_dropoff", "Funnel drop-off", "kit.funnel", "funnel",
             needs={"events": (), "sessions": ()}, optional={"users": (), "events.screen": ()}),
    Analysis("promo", "04_promotion_lift", "Promotion lift", "kit.promo", "promo",
             needs={"orders": (), "order_items": (), "promotions": ()}),
    Analysis("customers", "05_customers_retention", "Customers and retention", "kit.customers", "customers",
             needs={"orders": ()}, optional={"users": (), "users.member_tier": (), "outreach": ()}),
)


def by_key(key: str) -> Analysis:
    """The analysis called ``key`` (its key or its notebook stem)."""
    for analysis in ANALYSES:
        if key in (analysis.key, analysis.notebook):
            return analysis
    raise KeyError(f"no analysis {key!r}; known: {', '.join(a.key for a in ANALYSES)}")
