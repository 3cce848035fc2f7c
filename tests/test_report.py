"""The report runner on small fixture notebooks (built here, so these tests don't wait for the real ones).

One good run, then the same folder with a deliberately failing notebook added, then ``--only``,
several quarters at once and an interrupted run. Notebooks run for real (papermill, kernels);
the fixtures are tiny so the whole file stays quick.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kit.cli import main
from kit.report import runner
from kit.report.runner import MANIFEST, ReportError, build_reports, notebook_title, publish, select
from tests.test_overview import write_shop

pytestmark = pytest.mark.slow

# src/href/url(...) that would load something from outside the file (http, https or protocol-relative)
EXTERNAL = re.compile(r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["']?)(?:https?:)?//""", re.I)


def external_references(page: str) -> list[str]:
    return [page[m.start(): m.end() + 60] for m in EXTERNAL.finditer(page)]


def visible_text(page: str) -> str:
    """The page's text without tags and styles (code is split into highlighted spans)."""
    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def fixture_notebook(path: Path, title: str | None, *code: str) -> Path:
    cells = [new_markdown_cell(f"# {title}\n\nA fixture notebook.")] if title else []
    cells.append(new_code_cell('quarter = "2025Q4"\nsource = None', metadata={"tags": ["parameters"]}))
    cells += [new_code_cell(text) for text in code]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, str(path))
    return path


ALPHA_CODE = (
    'print(f"alpha ran for {quarter} on {source}")',
    # no %matplotlib magic: the figure must appear even though the run below exports MPLBACKEND=Agg
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 2))\nax.plot([1, 2, 3])\nplt.show()",
)
BETA_CODE = ('from IPython.display import Markdown\nMarkdown(f"beta for **{quarter}**")',
             # the runner checked the contract before the notebooks started: tables are not checked again
             'import kit\nprint("orders passed before:", kit.connect(source).passed_before("orders"))')
BROKEN_CODE = ('raise ValueError(f"planted failure for {quarter}")',)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    fixture_notebook(notebooks / "01_alpha.ipynb", "Alpha report", *ALPHA_CODE)
    fixture_notebook(notebooks / "02_beta.ipynb", None, *BETA_CODE)
    write_shop(root / "shop")
    return root


def _cli(workspace: Path, *args: str) -> int:
    return main(["report", *args, "--out", str(workspace / "reports"), "--notebooks", str(workspace / "notebooks"),
                 "--source", str(workspace / "shop"), "--jobs", "2", "--no-progress"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def good_run(workspace):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MPLBACKEND", "Agg")  # as CI exports it; kernels must still show figures inline
        code = _cli(workspace, "2025Q3")
    return code, workspace / "reports" / "2025Q3"


def test_good_run_writes_pages_index_and_manifest(good_run, workspace):
    code, folder = good_run
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["01_alpha.html", "01_alpha.ipynb", "02_beta.html", "02_beta.ipynb", "index.html", MANIFEST])
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["ok"] is True and [e["status"] for e in manifest["entries"]] == ["ok", "ok"]
    assert [e["title"] for e in manifest["entries"]] == ["Alpha report", "Beta"]
    # the quarter and the source were injected into the executed notebook
    executed = nbformat.read(str(folder / "01_alpha.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert f"alpha ran for 2025Q3 on {workspace / 'shop'}" in printed
    assert executed.metadata.papermill["output_path"] == "01_alpha.ipynb"  # no temporary paths left behind
    assert not list((workspace / "reports").glob(".*partial*"))


def test_notebooks_skip_the_contract_check_the_run_already_made(good_run):
    _, folder = good_run
    executed = (folder / "02_beta.ipynb").read_text(encoding="utf-8")
    assert "orders passed before: True" in executed


def test_pages_have_no_code_no_parameters_and_nothing_external(good_run):
    _, folder = good_run
    page = (folder / "01_alpha.html").read_text()
    assert "alpha ran for 2025Q3" in page                         # the output is there
    text = visible_text(page)
    assert "print(f" not in text and "plt.subplots" not in text    # the code is not
    assert "hl-ipython3" not in page                                # no highlighted code block
    assert 'quarter = "2025Q3"' not in text and "source = None" not in text
    assert "celltag_parameters" not in page and "celltag_injected-parameters" not in page  # the cells are gone, not just empty
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)  # the figure is embedded
    assert "<script src" not in page and "require.js" not in page and "mathjax" not in page.lower()
    assert external_references(page) == []
    beta = (folder / "02_beta.html").read_text()
    assert "beta for <strong>2025Q3</strong>" in beta and external_references(beta) == []


def test_index_lists_reports_with_status_duration_and_tiles(good_run):
    _, folder = good_run
    index = (folder / "index.html").read_text()
    assert index.count('class="kit-tile"') == 9  # KPI tiles from kit.overview on the fixture shop (8 KPIs and the 30-day repurchase)
    for name in ("01_alpha", "02_beta"):
        assert f'href="{name}.html"' in index and f'data-notebook="{name}" data-status="ok"' in index
    assert re.search(r'class="kit-duration">\d+\.\d s<', index)
    assert "All 2 reports built." in index
    assert external_references(index) == []


def test_external_reference_check_would_catch_a_cdn():
    assert external_references('<script src="https://cdn.example/require.js"></script>')
    assert external_references("<link href='//fonts.example/x.css'>")
    assert external_references("body { background: url( 'http://x/y.png') }")
    assert external_references('<a href="#local">x</a><img src="data:image/png;base64,AAAA">') == []


def test_failing_notebook_keeps_the_others_and_the_previous_good_folder(good_run, workspace, capsys):
    _, folder = good_run
    before = _snapshot(folder)
    broken = fixture_notebook(workspace / "notebooks" / "03_broken.ipynb", "Broken on purpose", *BROKEN_CODE)
    try:
        code = _cli(workspace, "2025Q3")
    finally:
        broken.unlink()
    out = capsys.readouterr().out
    assert code == 1
    assert _snapshot(folder) == before  # the good report is untouched
    failed = folder.with_name("2025Q3.failed")
    assert "FAILED 03_broken: ValueError: planted failure for 2025Q3" in out and str(failed) in out
    assert {"01_alpha.html", "02_beta.html", "03_broken.html", "03_broken.ipynb", "index.html"} <= {p.name for p in failed.iterdir()}
    index = (failed / "index.html").read_text()
    assert 'data-notebook="03_broken" data-status="failed"' in index
    assert 'data-notebook="01_alpha" data-status="ok"' in index and 'data-notebook="02_beta" data-status="ok"' in index
    assert "ValueError: planted failure for 2025Q3" in index and "1 of 3 notebooks failed: 03_broken" in index
    page = (failed / "03_broken.html").read_text()
    assert "planted failure for 2025Q3" in page  # the page shows the error, as a box for people
    box = page[page.index('class="kit-error-box"'):]
    shown, folded = box.split("<details", 1)
    assert "<b>Step:</b> Broken on purpose" in shown and "What to do:" in shown and "ValueError" in shown
    assert "Traceback" not in visible_text(shown) and "raise ValueError" in html.unescape(folded)
    assert "An Exception was encountered" not in page  # papermill's banner cells are left out
    assert json.loads((failed / MANIFEST).read_text())["ok"] is False


def test_failed_run_without_a_previous_report_lands_in_place(workspace, tmp_path):
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    fixture_notebook(notebooks / "01_broken.ipynb", "Broken", *BROKEN_CODE)
    code = main(["report", "2025Q4", "--out", str(tmp_path / "out"), "--notebooks", str(notebooks),
                 "--source", str(workspace / "shop"), "--no-progress"])
    assert code == 1
    index = (tmp_path / "out" / "2025Q4" / "index.html").read_text()
    assert "planted failure for 2025Q4" in index


def test_only_reruns_one_notebook_and_keeps_the_other_pages(good_run, workspace, tmp_path):
    _, folder = good_run
    copy = tmp_path / "reports" / "2025Q3"
    shutil.copytree(folder, copy)
    beta_before = (copy / "02_beta.html").read_bytes()
    code = main(["report", "2025Q3", "--only", "alpha", "--out", str(tmp_path / "reports"), "--notebooks",
                 str(workspace / "notebooks"), "--source", str(workspace / "shop"), "--no-progress"])
    assert code == 0
    manifest = json.loads((copy / MANIFEST).read_text())
    assert [(e["name"], e["carried_over"]) for e in manifest["entries"]] == [("01_alpha", False), ("02_beta", True)]
    assert (copy / "02_beta.html").read_bytes() == beta_before
    assert "from the previous run" in (copy / "index.html").read_text()


def test_index_reuses_the_tiles_a_notebook_displayed(workspace, tmp_path, monkeypatch):
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    fixture_notebook(notebooks / "00_tiles.ipynb", "Tiles", "from IPython.display import HTML\n"
                     "HTML('<div class=\"kit-tiles\"><div class=\"kit-tile\">planted tile</div></div>')")

    def not_again(*args, **kwargs):
        raise AssertionError("the index recomputed the tiles although a notebook displayed them")

    monkeypatch.setattr(runner, "_overview_tiles", not_again)
    [report] = build_reports(["2025Q4"], out=tmp_path / "out", notebooks_dir=notebooks, progress=False)
    assert report.ok and "planted tile" in report.index.read_text()


def test_several_quarters_in_one_run(workspace, tmp_path):
    reports = build_reports(["2025Q4", "2025Q2"], out=tmp_path, only=["02"], source=str(workspace / "shop"),
                            notebooks_dir=workspace / "notebooks", jobs=2, progress=False)
    assert [r.quarter for r in reports] == ["2025Q4", "2025Q2"] and all(r.ok for r in reports)
    for quarter in ("2025Q4", "2025Q2"):
        assert f"beta for <strong>{quarter}</strong>" in (tmp_path / quarter / "02_beta.html").read_text()
        assert f"<h1>{quarter} quarterly review</h1>" in (tmp_path / quarter / "index.html").read_text()


# Signals, SIGKILL, the swap under a kill and concurrent runs: tests/test_report_faults.py


def test_interrupted_run_leaves_the_previous_folder_and_no_partial_one(good_run, workspace, tmp_path, monkeypatch):
    _, folder = good_run
    out = tmp_path / "reports"
    shutil.copytree(folder, out / "2025Q3")
    before = _snapshot(out / "2025Q3")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_tasks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_reports(["2025Q3"], out=out, notebooks_dir=workspace / "notebooks", progress=False)
    assert _snapshot(out / "2025Q3") == before
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == ["2025Q3"]


# --------------------------------------------------------------------------------------------
# Units: folder publishing, selection, titles, errors

def _fake_report(folder: Path, ok: bool, marker: str) -> Path:
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"ok": ok, "entries": []}))
    (folder / "index.html").write_text(marker)
    return folder


def test_publish_never_replaces_a_good_report_with_a_failed_one(tmp_path):
    final = _fake_report(tmp_path / "2025Q4", True, "good")
    where, replaced = publish(_fake_report(tmp_path / "new1", False, "bad 1"), final, ok=False)
    assert (where, replaced) == (tmp_path / "2025Q4.failed", False)
    assert (final / "index.html").read_text() == "good"
    where, _ = publish(_fake_report(tmp_path / "new2", False, "bad 2"), final, ok=False)  # replaces the older failure
    assert (where / "index.html").read_text() == "bad 2"
    where, replaced = publish(_fake_report(tmp_path / "new3", True, "better"), final, ok=True)
    assert (where, replaced) == (final, True) and (final / "index.html").read_text() == "better"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025Q4", "2025Q4.failed"]


def test_a_failed_report_may_replace_a_failed_one(tmp_path):
    final = _fake_report(tmp_path / "2025Q4", False, "old failure")
    where, replaced = publish(_fake_report(tmp_path / "new", False, "new failure"), final, ok=False)
    assert (where, replaced) == (final, True) and (final / "index.html").read_text() == "new failure"


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path, workspace):
    (tmp_path / "2025Q4").mkdir()
    (tmp_path / "2025Q4" / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match=r"2025Q4 exists and is not a kit report folder \(no kit-report.json\)"):
        build_reports(["2025Q4"], out=tmp_path, notebooks_dir=workspace / "notebooks", progress=False)
    assert (tmp_path / "2025Q4" / "notes.txt").read_text() == "mine"


def test_select_by_number_name_or_stem_and_unknown_names_are_listed():
    notebooks = [Path("00_quarter_overview.ipynb"), Path("01_channel_roi.ipynb"), Path("02_detail_page_ab.ipynb")]
    assert select(notebooks, ["01"]) == [notebooks[1]]
    assert select(notebooks, ["detail_page_ab", "00_quarter_overview"]) == [notebooks[0], notebooks[2]]
    assert select(notebooks, None) == notebooks
    with pytest.raises(ReportError, match="--only 'funnel' matches no notebook; notebooks: 00_quarter_overview, 01_channel_roi"):
        select(notebooks, ["funnel"])


def test_titles_come_from_the_first_heading():
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_markdown_cell("Intro\n## Channel ROI 渠道\ntext")])
    assert notebook_title(nb, "01_channel_roi") == "Channel ROI 渠道"
    assert notebook_title(new_notebook(cells=[]), "03_funnel_dropoff") == "Funnel dropoff"


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["report", "2025Q9", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "not a quarter: '2025Q9'" in capsys.readouterr().err
    assert main(["report", "2025Q4", "--jobs", "0", "--out", str(tmp_path)]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err
    assert main(["report", "2025Q4", "--notebooks", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "notebooks folder not found" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# kit notebooks: re-execute in place

def test_kit_notebooks_reexecutes_in_place_and_keeps_a_failing_notebook(workspace, tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copyfile(workspace / "notebooks" / "02_beta.ipynb", folder / "02_beta.ipynb")
    broken = fixture_notebook(folder / "03_broken.ipynb", "Broken", *BROKEN_CODE)
    broken_before = broken.read_bytes()
    code = main(["notebooks", "--notebooks", str(folder), "--no-progress"])
    assert code == 1
    out = capsys.readouterr().out
    assert "02_beta: re-executed" in out and "03_broken: FAILED (kept the previous version)" in out
    beta = nbformat.read(str(folder / "02_beta.ipynb"), as_version=4)
    outputs = [o for c in beta.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs[0]["data"]["text/markdown"] == "beta for **2025Q4**"  # executed for the reference quarter
    assert beta.metadata.papermill["input_path"] == beta.metadata.papermill["output_path"] == "02_beta.ipynb"
    assert broken.read_bytes() == broken_before


def test_relative_source_paths_are_made_absolute_for_the_notebooks(tmp_path, monkeypatch):
    (tmp_path / "shop").mkdir()
    monkeypatch.chdir(tmp_path)
    assert runner._resolve_source("shop") == str(tmp_path / "shop")  # notebooks run in notebooks/, not here
    assert runner._resolve_source("duckdb:///warehouse.duckdb") == "duckdb:///warehouse.duckdb"
    assert runner._resolve_source(None) is None


def test_longest_notebooks_start_first(tmp_path):
    folder = tmp_path / "2025Q4"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"ok": True, "entries": [
        {"name": "00_a", "seconds": 3.0}, {"name": "01_b", "seconds": 40.0}, {"name": "02_c", "seconds": 9.0}]}))
    tasks = [runner.Task("2025Q4", Path(f"{name}.ipynb"), tmp_path, {}, tmp_path) for name in ("00_a", "01_b", "02_c", "03_new")]
    assert [t.name for t in runner.longest_first(tasks, tmp_path)] == ["03_new", "01_b", "02_c", "00_a"]


def test_without_a_previous_report_the_notebooks_recorded_durations_order_them(tmp_path):
    def notebook(name, seconds):
        nb = new_notebook(cells=[new_code_cell("1")])
        if seconds is not None:
            nb.metadata["papermill"] = {"duration": seconds}
        nbformat.write(nb, str(tmp_path / f"{name}.ipynb"))
        return runner.Task("2025Q4", tmp_path / f"{name}.ipynb", tmp_path, {}, tmp_path)

    tasks = [notebook("00_a", 5.0), notebook("01_b", 30.0), notebook("02_never_run", None), notebook("03_c", 12.0)]
    assert [t.name for t in runner.longest_first(tasks, tmp_path / "no-reports")] == ["02_never_run", "01_b", "03_c", "00_a"]


def test_the_fork_server_starts_before_anything_heavy_is_imported():
    """`kit report` starts its fork server first, so it warms up while the command imports the rest:
    `import kit` and the module that starts it must pull in none of the heavy libraries, and
    jsonschema is imported without the parser-building 'iri' checker (rfc3987-syntax)."""
    code = ("import sys, kit, kit.report.workers; "
            "print(sorted(m for m in ('ibis', 'pandas', 'duckdb', 'nbformat', 'papermill', 'rfc3987_syntax') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
