"""Real data sets nobody here wrote, for trying the kit on a shop that is not the sample.

CDNOW (an online CD store, 1997-01 … 1998-06: 23,570 customers who first bought in 1997Q1 and all
their 69,659 purchases; Fader & Hardie's data set) ships in the MIT-licensed ``lifetimes`` wheel as
``lifetimes/datasets/CDNOW_master.txt``, with a 1/10 sample of the customers in
``CDNOW_sample.txt``. The files are located through the installed distribution's file list
(``importlib.metadata``): the package itself is never imported (it is unmaintained and pulls in
autograd).

``cdnow_to_folder(folder)`` (or ``kit cdnow FOLDER``) writes the purchases as a kit source:

- ``orders``: one row per purchase line of the file; ``order_id`` = customer id, date and the
  line's number within that customer's day; ``paid_at`` the purchase date at midnight (the file has
  no time of day); ``gmv`` = the dollar value; ``discount`` 0; ``channel`` ``web`` (CDNOW sold
  online only); ``is_presale`` false; ``status`` paid (the file has no refunds);
- ``users``: one row per customer; ``signup_at`` = the first purchase (the file has no sign-up date).

There are no sessions, events, items, promotions, ad spend or experiments in CDNOW, so only the
analyses that need orders alone can run on it (``kit validate`` says which).
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pandas as pd

CDNOW_DISTRIBUTION = "lifetimes"
CDNOW_CHANNEL = "web"


def cdnow_path(sample: bool = False) -> Path:
    """The path of ``CDNOW_master.txt`` (or, with ``sample=True``, ``CDNOW_sample.txt``) inside the
    installed ``lifetimes`` distribution; ``FileNotFoundError`` with the install command otherwise."""
    name = "CDNOW_sample.txt" if sample else "CDNOW_master.txt"
    try:
        files = metadata.distribution(CDNOW_DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == name and file.parent.name == "datasets":
            path = Path(file.locate())
            if path.is_file():
                return path
    raise FileNotFoundError(f"{name} not found: it ships in the 'lifetimes' wheel; install it without its "
                            f"dependencies: pip install --no-deps lifetimes (the kit's dev extra pins it)")


def read_cdnow(sample: bool = False, path: Path | str | None = None) -> pd.DataFrame:
    """The purchases as a frame: ``customer_id`` (text, leading zeros kept), ``date`` (datetime64),
    ``cds`` (int), ``dollars`` (float), in file order.

    The master file has a header and four columns; the sample file has none and five (the master
    customer id, a renumbered id, then the same three): both are read here.
    """
    path = Path(path) if path is not None else cdnow_path(sample)
    rows = [line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    if rows and not rows[0][0].isdigit():
        rows = rows[1:]  # the master file's header line
    widths = {len(row) for row in rows}
    if widths not in ({4}, {5}):
        raise ValueError(f"{path}: expected 4 columns (master) or 5 (sample) on every line, found {sorted(widths)}")
    if widths == {5}:
        rows = [[row[0], *row[2:]] for row in rows]  # keep the master customer id
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "cds", "dollars"])
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    frame["cds"] = frame["cds"].astype("int64")
    frame["dollars"] = frame["dollars"].astype("float64")
    return frame


def cdnow_tables(sample: bool = False, path: Path | str | None = None) -> dict[str, pd.DataFrame]:
    """CDNOW as the contract's ``orders`` and ``users`` tables (see the module docstring)."""
    purchases = read_cdnow(sample, path)
    line = purchases.groupby(["customer_id", "date"]).cumcount() + 1
    orders = pd.DataFrame({
        "order_id": purchases["customer_id"] + "-" + purchases["date"].dt.strftime("%Y%m%d") + "-" + line.astype(str),
        "user_id": purchases["customer_id"],
        "paid_at": purchases["date"],
        "gmv": purchases["dollars"],
        "discount": 0.0,
        "channel": CDNOW_CHANNEL,
        "is_presale": False,
        "status": "paid",
    })
    users = (purchases.groupby("customer_id", as_index=False)["date"].min()
             .rename(columns={"customer_id": "user_id", "date": "signup_at"}))
    return {"orders": orders, "users": users}


def cdnow_to_folder(folder: Path | str, sample: bool = False, path: Path | str | None = None) -> dict[str, int]:
    """Write CDNOW as ``orders.parquet`` and ``users.parquet`` into ``folder`` (created if needed);
    returns the row count of each table."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, frame in cdnow_tables(sample, path).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        counts[name] = len(frame)
    return counts


__all__ = ["cdnow_path", "read_cdnow", "cdnow_tables", "cdnow_to_folder"]
