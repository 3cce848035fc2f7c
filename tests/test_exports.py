"""Real exports: each class of awkward file is read right or rejected by name, with its message."""
from __future__ import annotations

import pandas as pd
import pytest

import kit
from tests.contract_fixtures import valid_tables, write


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))


def _csv_source(tmp_path, table, frame):
    tables = valid_tables()
    tables[table] = frame
    return kit.connect(write(tables, tmp_path / "csv", "csv"))


def _error(source, table) -> str:
    with pytest.raises(kit.ContractError) as error:
        source.table(table).execute()
    return str(error.value)


@pytest.mark.parametrize("text", ["2025-11-10 16:30:00 UTC", "2025-11-10 16:30:00+00", "2025-11-11 00:30:00+0800",
                                  "2025-11-11T00:30:00+08:00", "2025-11-11 00:30:00 +08:00", "2025-11-10T16:30:00Z",
                                  "2025-11-10 11:30:00-05"])
def test_every_zone_spelling_is_an_instant_converted_to_local_time(tmp_path, text):
    frame = valid_tables()["touchpoints"].assign(ts=[text, "2025-11-11 00:30:00"])
    loaded = _csv_source(tmp_path, "touchpoints", frame).table("touchpoints").execute()
    # Double 11's first half hour stays on 11 November, in Beijing time, whatever the spelling
    assert loaded.ts.tolist() == [pd.Timestamp("2025-11-11 00:30:00")] * 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("bad", ["NaN", "inf", "-Infinity"])
def test_money_must_be_finite(tmp_path, fmt, bad):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = valid_tables()
    tables["orders"]["gmv"] = tables["orders"].gmv.astype(object)
    folder = write(valid_tables(), tmp_path / fmt, fmt)
    tables["orders"].loc[1, "gmv"] = bad
    if fmt == "csv":
        tables["orders"].to_csv(folder / "orders.csv", index=False)
    if fmt == "parquet":  # pandas would write NaN as null: build the float column with pyarrow
        orders = pa.Table.from_pandas(tables["orders"].drop(columns="gmv"), preserve_index=False)
        gmv = pa.array([280.0, float(bad), 55.5], from_pandas=False)
        pq.write_table(orders.append_column("gmv", gmv), folder / "orders.parquet")
    message = _error(kit.connect(folder), "orders")
    assert "table 'orders', column 'gmv': gmv must be a finite number (not NaN or infinity) — 1 row breaks it" in message
    assert "order_id='o2'" in message


def test_text_ids_are_trimmed_and_placeholders_are_empty(tmp_path):
    tables = valid_tables()
    tables["orders"]["order_id"] = [" o1", "o2 ", "o3"]
    tables["orders"]["promotion_id"] = ["NULL", "p1", "\\N"]
    tables["order_items"]["order_id"] = ["o1", "o2", " o2", "o3"]
    source = kit.connect(write(tables, tmp_path / "csv", "csv"))
    orders = source.table("orders").execute()
    assert orders.order_id.tolist() == ["o1", "o2", "o3"]
    assert orders.promotion_id.isna().tolist() == [True, False, True]
    assert source.table("order_items").order_id.nunique().execute() == 3  # ' o2' and 'o2' are one order


@pytest.mark.parametrize("placeholder", ["NULL", "\\N", "N/A", "-", "   "])
def test_a_placeholder_id_is_an_empty_id(tmp_path, placeholder):
    frame = valid_tables()["orders"]
    frame.loc[1, "user_id"] = placeholder
    message = _error(_csv_source(tmp_path, "orders", frame), "orders")
    assert ("table 'orders', column 'user_id': must not be empty (null, blank or a placeholder such as NULL, \\N, N/A, -)"
            " — 1 row breaks it") in message


def test_a_column_named_twice_is_rejected(tmp_path):
    folder = write(valid_tables(), tmp_path / "csv", "csv")
    text = (folder / "orders.csv").read_text().splitlines()
    text[0] = text[0].replace("discount", "gmv")
    (folder / "orders.csv").write_text("\n".join(text) + "\n")
    message = _error(kit.connect(folder), "orders")
    assert "table 'orders' (file orders.csv): the header names column 'gmv' twice" in message


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fractional_qty_is_rejected_not_rounded(tmp_path, fmt):
    tables = valid_tables()
    tables["order_items"]["qty"] = [1, 2.5, 1, 1]
    message = _error(kit.connect(write(tables, tmp_path / fmt, fmt)), "order_items")
    assert "table 'order_items', column 'qty': cannot be read as a whole number — 1 row breaks it" in message
    assert "qty='2.5'" in message if fmt == "csv" else "qty=2.5" in message


def test_two_files_for_one_table_are_both_named(tmp_path):
    folder = write(valid_tables(), tmp_path / "d")
    valid_tables()["orders"].to_csv(folder / "orders.csv", index=False)
    source = kit.connect(folder)
    message = _error(source, "orders")
    assert "table 'orders': 2 files hold this table: orders.parquet, orders.csv; keep one" in message


def test_item_amounts_must_add_up_to_the_order(tmp_path):
    tables = valid_tables()
    tables["order_items"]["amount"] = tables["order_items"].amount * [1, 100, 100, 1]  # o2's items in fen
    message = _error(kit.connect(write(tables, tmp_path / "d")), "order_items")
    assert ("table 'order_items', column 'amount': an order's item amounts must add up to between its gmv and "
            "gmv + discount (within 1 yuan or 1%") in message
    assert "1 row breaks it; example: order_id='o2', gmv=1000.0, discount=200.0, items_amount=100000.0" in message
    # at list price (gmv + discount) and within the tolerance: no error
    tables["order_items"]["amount"] = [280.5, 700.0, 500.0, 55.5]
    assert kit.connect(write(tables, tmp_path / "ok")).table("order_items").count().execute() == 4


def test_every_missing_column_of_every_table_in_one_run(tmp_path):
    tables = valid_tables()
    tables["orders"] = tables["orders"].drop(columns=["is_presale", "gmv"])
    tables["order_items"] = tables["order_items"].drop(columns=["sku_id"])
    with pytest.raises(kit.ContractError) as error:
        kit.connect(write(tables, tmp_path / "d")).check()
    message = str(error.value)
    assert message.startswith("3 data contract violations in ")
    for column, table in (("gmv", "orders"), ("is_presale", "orders"), ("sku_id", "order_items")):
        assert f"table '{table}', column '{column}': required column is missing (columns present: " in message
    assert "break it" not in message.replace("breaks it", "")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-8-sig"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    tables = valid_tables()
    tables["promotions"]["name"] = ["双十一 Double 11"]
    folder = write(tables, tmp_path / "d", "csv")
    tables["promotions"].to_csv(folder / "promotions.csv", index=False, encoding=encoding)
    assert kit.connect(folder).table("promotions").execute().name.tolist() == ["双十一 Double 11"]


def test_an_undecodable_csv_names_file_line_and_what_to_do(tmp_path):
    folder = write(valid_tables(), tmp_path / "d", "csv")
    lines = (folder / "users.csv").read_bytes().split(b"\n")
    lines[2] = lines[2] + b"\x81\xff"  # neither UTF-8 nor GB18030
    (folder / "users.csv").write_bytes(b"\n".join(lines))
    message = _error(kit.connect(folder), "users")
    assert ("table 'users' (file users.csv): line 3 cannot be decoded as utf-8 or gb18030; save the file as CSV UTF-8, "
            "or declare its encoding in the folder's kit-mapping.yaml") in message


def test_truncated_parquet_and_xlsx_named_csv_are_named(tmp_path):
    folder = write(valid_tables(), tmp_path / "d")
    data = (folder / "orders.parquet").read_bytes()
    (folder / "orders.parquet").write_bytes(data[: len(data) // 2])
    valid_tables()["users"].assign(signup_at=lambda f: f.signup_at.dt.tz_localize(None)).to_excel(
        folder / "users.csv", index=False)
    (folder / "users.parquet").unlink()
    source = kit.connect(folder)
    assert "table 'orders' (file orders.parquet): is a truncated Parquet file" in _error(source, "orders")
    assert "table 'users' (file users.csv): is an Excel workbook (xlsx) saved under a .csv name; rename it to users.xlsx" \
        in _error(source, "users")
    with pytest.raises(kit.ContractError) as error:
        source.check()
    assert str(error.value).startswith("2 data contract violations")


def test_an_excel_table_is_typed_and_checked_like_a_csv(tmp_path):
    tables = valid_tables()
    folder = write(tables, tmp_path / "d")
    (folder / "orders.parquet").unlink()
    frame = tables["orders"].assign(paid_at=tables["orders"].paid_at.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None),
                                    order_id=["001", "002", "003"])
    with pd.ExcelWriter(folder / "orders.xlsx") as writer:
        pd.DataFrame({"note": ["not this one"]}).to_excel(writer, sheet_name="readme", index=False)
        frame.to_excel(writer, sheet_name="orders", index=False)
    (folder / "kit-mapping.yaml").write_text("tables:\n  orders:\n    sheet: orders\n", encoding="utf-8")
    (folder / "order_items.parquet").unlink()
    loaded = kit.connect(folder).table("orders").execute()
    expected = kit.connect(write(valid_tables(), tmp_path / "pq")).table("orders").execute()
    assert loaded.order_id.tolist() == ["001", "002", "003"]  # text cells keep their zeros
    pd.testing.assert_frame_equal(loaded.drop(columns="order_id"), expected.drop(columns="order_id"), check_dtype=False)


def _chinese_export() -> pd.DataFrame:
    """An orders export as a Chinese shop back end writes it: Chinese headers and statuses, fen."""
    return pd.DataFrame({
        "订单号": ["A001", "A002", "A003"], "买家ID": ["b1", "b2", "b1"],
        "支付时间": ["20251111 003000", "20251110 235959", "20251201 120000"],
        "实付金额(分)": [28000, 100050, 5550], "优惠(分)": [0, 20000, 0],
        "订单状态": ["已付款", "已付款", "已退款"], "预售": ["否", "是", "否"],
    })


_MAPPING = """\
tables:
  orders:
    file: {file}
    columns: {{订单号: order_id, 买家ID: user_id, 支付时间: paid_at, 实付金额(分): gmv, 优惠(分): discount,
               订单状态: status, 预售: is_presale}}
    values: {{status: {{已付款: paid, 已退款: refunded}}, is_presale: {{是: "true", 否: "false"}}}}
    units: {{gmv: fen, discount: fen}}
    formats: {{paid_at: "{date_format}"}}
    constants: {{channel: direct}}
"""


def _mapped_orders(folder):
    return kit.connect(folder, channels=["direct"]).table("orders").execute()


def test_a_chinese_export_maps_to_the_contract_from_gbk_csv_and_from_xlsx(tmp_path):
    export = _chinese_export()
    csv = tmp_path / "csv"
    csv.mkdir()
    export.to_csv(csv / "订单导出.csv", index=False, encoding="gbk")
    (csv / "kit-mapping.yaml").write_text(_MAPPING.format(file="订单导出.csv", date_format="%Y%m%d %H%M%S"), encoding="utf-8")

    xlsx = tmp_path / "xlsx"
    xlsx.mkdir()
    days = (pd.to_datetime(export["支付时间"], format="%Y%m%d %H%M%S") - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    export.assign(支付时间=days).to_excel(xlsx / "订单.xlsx", index=False)  # Excel keeps dates as serial days
    (xlsx / "kit-mapping.yaml").write_text(_MAPPING.format(file="订单.xlsx", date_format="excel_days"), encoding="utf-8")

    from_csv, from_xlsx = _mapped_orders(csv), _mapped_orders(xlsx)
    assert from_csv.order_id.tolist() == ["A001", "A002", "A003"]
    assert from_csv.gmv.tolist() == [280.0, 1000.5, 55.5] and from_csv.discount.tolist() == [0.0, 200.0, 0.0]
    assert from_csv.status.tolist() == ["paid", "paid", "refunded"] and from_csv.is_presale.tolist() == [False, True, False]
    assert from_csv.paid_at.tolist() == [pd.Timestamp("2025-11-11 00:30:00"), pd.Timestamp("2025-11-10 23:59:59"),
                                         pd.Timestamp("2025-12-01 12:00:00")]
    assert set(from_csv.channel) == {"direct"}
    pd.testing.assert_frame_equal(from_csv, from_xlsx)


def test_a_mapped_column_error_names_the_export_column(tmp_path):
    export = _chinese_export()
    export["实付金额(分)"] = export["实付金额(分)"].astype(object)
    export.loc[1, "实付金额(分)"] = "一百"
    export.to_csv(tmp_path / "orders.csv", index=False, encoding="gb18030")
    (tmp_path / "kit-mapping.yaml").write_text(_MAPPING.format(file="orders.csv", date_format="%Y%m%d %H%M%S"), encoding="utf-8")
    message = _error(kit.connect(tmp_path, channels=["direct"]), "orders")
    assert ("table 'orders', column 'gmv' (export column '实付金额(分)'): cannot be read as an amount of money (number) — 1 row breaks it"
            in message) and "gmv='一百'" in message
    (tmp_path / "kit-mapping.yaml").write_text("tables:\n  orders:\n    units: {gmv: li}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"kit-mapping.yaml: tables.orders.units.gmv: unknown unit 'li'"):
        kit.connect(tmp_path)


def test_the_same_data_as_csv_and_parquet_gives_identical_tables(tmp_path):
    tables = valid_tables()
    from_csv = kit.connect(write(tables, tmp_path / "csv", "csv"))
    from_parquet = kit.connect(write(tables, tmp_path / "pq"))
    for name in kit.contract.TABLES:
        csv, parquet = from_csv.table(name).execute(), from_parquet.table(name).execute()
        pd.testing.assert_frame_equal(csv, parquet, check_dtype=False, obj=name)
    gmv = [s.table("orders", quarter="2025Q4").gmv.sum().execute() for s in (from_csv, from_parquet)]
    assert gmv[0] == gmv[1] == 335.5  # o2 was paid on 30 September, local time


def test_plausibility_warnings_are_shown_not_raised(tmp_path, capsys):
    """1970 and 2099 dates, an amount in fen among yuan and an id Excel turned into 1.23457E+17 are
    warnings on the Source and in `kit validate`, which still passes the tables."""
    import numpy as np

    from kit import cli

    n = 200
    rng = np.random.default_rng(3)
    tables = valid_tables()
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)], "user_id": "u1", "session_id": None,
        "paid_at": pd.date_range("2025-10-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M:%S"),
        "gmv": rng.uniform(50, 500, n).round(2), "discount": 0.0, "channel": "douyin", "promotion_id": None,
        "is_presale": False, "status": "paid"})
    orders.loc[5, "paid_at"], orders.loc[6, "paid_at"] = "1970-01-01 08:00:00", "2099-12-31 00:00:00"
    orders.loc[7, "gmv"] = 12_345_600.0
    orders.loc[8, "order_id"] = "1.23457E+17"
    tables["orders"] = orders
    tables["order_items"] = orders[["order_id"]].assign(sku_id="k1", category="skincare", qty=1, amount=orders.gmv)
    folder = write(tables, tmp_path / "csv", "csv")
    source = kit.connect(folder)
    source.table("orders")
    warnings = {w["rule"].split(" (")[0].split(":")[0]: w for w in source.warnings["orders"]}
    assert set(warnings) == {"dates far outside the data's span", "amounts far beyond the rest", "ids in Excel's scientific notation"}
    assert warnings["dates far outside the data's span"]["rows"] == 2
    assert warnings["amounts far beyond the rest"]["example"]["gmv"] == 12_345_600.0

    assert cli.main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "5 plausibility warnings (not errors; check these values):" in out  # orders 3, order_items 2
    assert ("- table 'orders', column 'paid_at': dates far outside the data's span (most lie between 2025-10-0"
            in out) and "— 2 rows break it" in out
    assert "column 'order_id': ids in Excel's scientific notation (like 1.23457E+17): their digits are already lost" in out
    # a later Source that reuses the pass still has them
    again = kit.connect(folder)
    again.table("orders")
    assert len(again.warnings["orders"]) == 3


def test_plausibility_warnings_are_on_the_report_index(tmp_path):
    """The index lists the warnings of the contract check the report ran (here over a source whose
    only notebook is skipped, so no kernel starts)."""
    import numpy as np

    from kit import config
    from kit.report.runner import build_reports

    n = 200
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)], "user_id": "u1", "session_id": None,
        "paid_at": pd.date_range("2025-10-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M:%S"),
        "gmv": np.random.default_rng(3).uniform(50, 500, n).round(2), "discount": 0.0, "channel": "douyin",
        "promotion_id": None, "is_presale": False, "status": "paid"})
    orders.loc[7, "gmv"] = 12_345_600.0
    folder = write({"orders": orders}, tmp_path / "csv", "csv")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    funnel = config.NOTEBOOKS_DIR / "03_funnel_dropoff.ipynb"  # needs events and sessions: skipped
    (notebooks / funnel.name).write_bytes(funnel.read_bytes())
    [report] = build_reports(["2025Q4"], out=tmp_path / "out", source=str(folder), notebooks_dir=notebooks,
                             progress=False)
    index = (report.folder / "index.html").read_text()
    assert "1 plausibility warning about the data (not errors" in index
    assert "column &#39;gmv&#39;: amounts far beyond the rest" in index or "column 'gmv': amounts far beyond the rest" in index
