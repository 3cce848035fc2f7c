"""Projects (kit init, finding the project, its params and source) and what analyses a source can feed."""
from __future__ import annotations

import pandas as pd
import pytest

import kit
from kit import analyses, config
from kit import params as params_module
from kit.cli import main
from kit.project import MARKER, Project, ProjectError, find, init


def write_orders(folder, channels=("web", "app")):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(channels))], "user_id": "u1",
        "paid_at": pd.to_datetime(["2025-10-01 10:00"] * len(channels)), "gmv": 10.0, "discount": 0.0,
        "channel": list(channels), "is_presale": False, "status": "paid",
    }).to_parquet(folder / "orders.parquet", index=False)
    return folder


@pytest.fixture
def shop(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_PROJECT", raising=False)
    data = write_orders(tmp_path / "shop" / "data")
    project = init(tmp_path / "shop", data, currency="USD", timezone="America/New_York")
    return project


def test_init_writes_the_shops_defaults_marker_and_reports(shop):
    assert (shop.root / MARKER).is_file() and (shop.root / "reports").is_dir()
    p = params_module.load("2025Q4", project=shop)
    assert (p.currency.code, p.currency.symbol, p.timezone) == ("USD", "$", "America/New_York")
    assert list(p.channels) == ["app", "web"] and not p.paid_channels and p.target_roas() == {}
    assert p.targets.gmv is None and p.promo.promotions == [] and p.ab.experiments == []
    assert p.source == str(shop.root / "data")  # stored relative to the project, read absolute
    assert "source: \"data\"" in (shop.params_dir / "defaults.yaml").read_text()
    assert shop.quarter_file("2025Q4") is None


def test_init_refuses_an_existing_project_and_an_unknown_currency(shop, tmp_path):
    with pytest.raises(ProjectError, match="already a kit project"):
        init(shop.root)
    with pytest.raises(ProjectError, match="no symbol known for currency 'XYZ'"):
        init(tmp_path / "other", currency="XYZ")
    assert init(tmp_path / "other", currency="XYZ", currency_symbol="X$").params_dir.is_dir()


def test_the_project_is_found_from_the_current_folder_and_else_the_sample(shop, tmp_path, monkeypatch):
    (shop.root / "notebooks").mkdir()
    monkeypatch.chdir(shop.root / "notebooks")
    assert find() == Project(shop.root)
    assert params_module.load("2025Q4").currency.code == "USD"
    assert kit.connect().tables() == ["orders"]
    monkeypatch.chdir(tmp_path)
    assert find().embedded and find().params_dir == config.PARAMS_DIR
    assert params_module.load("2025Q4").currency.code == "CNY" and params_module.load("2025Q4").project is None
    monkeypatch.setenv("KIT_PROJECT", str(shop.root))
    assert find() == Project(shop.root)
    with pytest.raises(ProjectError, match="is not a kit project"):
        find(tmp_path)


def test_a_project_without_a_source_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_PROJECT", raising=False)
    bare = init(tmp_path / "bare")
    with pytest.raises(FileNotFoundError, match="names no source"):
        kit.connect(project=bare)


def test_readiness_names_missing_tables_and_columns_and_what_optional_ones_add():
    ready = {r.analysis.key: r for r in analyses.readiness({"orders": ["order_id", "promotion_id"], "events": ["ts"]})}
    assert ready["overview"].runnable and ready["overview"].describe() == (
        "overview: runnable (without sessions: active users and the conversion rate)")
    assert ready["funnel"].reason == "needs table sessions — not in this source"
    assert ready["channel"].reason == "needs tables sessions, ad_spend and touchpoints — not in this source"
    assert ready["promo"].reason == "needs tables order_items, promotions, ad_spend and users — not in this source"
    no_promotion_id = analyses.readiness({t: ["x"] for t in ("orders", "order_items", "promotions", "ad_spend", "users")})
    assert next(r for r in no_promotion_id if r.analysis.key == "promo").reason == "needs column orders.promotion_id — not in this source"
    assert {a.notebook for a in analyses.ANALYSES} == {p.stem for p in sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))}


def test_kit_validate_prints_per_analysis_whether_it_can_run(shop, capsys):
    assert main(["validate", "--project", str(shop.root)]) == 0
    out = capsys.readouterr().out
    assert "orders                  2 rows  ok" in out
    assert "  overview: runnable (without sessions: active users and the conversion rate)" in out
    assert "  funnel: needs tables events and sessions — not in this source" in out


def test_kit_init_command(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KIT_PROJECT", raising=False)
    data = write_orders(tmp_path / "data", channels=("web",))
    assert main(["init", str(tmp_path / "p"), "--source", str(data), "--currency", "eur"]) == 0
    assert params_module.defaults(project=tmp_path / "p").currency.symbol == "€"
    assert main(["init", str(tmp_path / "p")]) == 2 and "already a kit project" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "q"), "--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone" in capsys.readouterr().err and not (tmp_path / "q" / MARKER).exists()


def test_kit_notebooks_in_a_project_needs_the_quarter(shop, capsys):
    assert main(["notebooks", "--project", str(shop.root), "--no-progress"]) == 2
    assert "name the quarter for project" in capsys.readouterr().err


def test_the_readme_matrix_is_the_registrys():
    readme = (config.ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- matrix:analyses -->\n", 1)[1].split("\n<!-- /matrix:analyses -->", 1)[0]
    assert shown == analyses.matrix_markdown()
