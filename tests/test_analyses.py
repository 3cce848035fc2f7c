"""The registry of analyses (kit/analyses.py) is the one list: every analysis has its package, its
params section and its notebook, nothing outside it is left unregistered, and the lists derived
from it (kit's lazy modules, the report's notebooks, the params sections) agree with it."""
from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import typing

import pytest

import kit
from kit import config, params
from kit.analyses import ANALYSES, by_key
from kit.report.runner import discover
from kit.results import Result

SHARED_KEYS = set(params._SharedParams.model_fields)  # quarter, timezone, source, currency, ...: not sections


@pytest.mark.parametrize("analysis", ANALYSES, ids=lambda a: a.key)
def test_each_registered_analysis_has_its_package_section_and_notebook(analysis):
    module = importlib.import_module(analysis.module)
    assert callable(getattr(module, "review_quarter", None)), f"{analysis.module} has no review_quarter(source, params)"
    assert (config.NOTEBOOKS_DIR / f"{analysis.notebook}.ipynb").is_file()
    if analysis.params_section is not None:
        assert analysis.params_section in params.Params.model_fields
        assert analysis.params_section in params.read_yaml(config.PARAMS_DIR / "defaults.yaml"), \
            f"params/defaults.yaml has no {analysis.params_section} section (defaults live there only)"
    assert getattr(kit, analysis.module.removeprefix("kit.")) is module
    shape = inspect.signature(module.review_quarter).parameters
    assert list(shape)[:2] == ["source", "params"] and inspect.Parameter.VAR_KEYWORD in {p.kind for p in shape.values()}, \
        f"{analysis.module}.review_quarter is not (source, params, **overrides)"
    returned = typing.get_type_hints(module.review_quarter)["return"]
    assert issubclass(returned, Result) and callable(getattr(returned, "finding", None)), \
        f"{analysis.module}.review_quarter does not return a Result with finding()"
    assert by_key(analysis.key) is by_key(analysis.notebook) is analysis


def test_nothing_is_left_unregistered():
    notebooks = {path.stem for path in config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == {a.notebook for a in ANALYSES}
    sections = set(params.Params.model_fields) - SHARED_KEYS
    assert sections == {a.params_section for a in ANALYSES if a.params_section}
    assert set(params.SECTION_MODELS) == sections
    assert [path.stem for path in discover()] == sorted(a.notebook for a in ANALYSES)
    assert len({a.key for a in ANALYSES}) == len({a.notebook for a in ANALYSES}) == len(ANALYSES)


def test_the_registry_imports_only_the_standard_library():
    code = ("import sys, kit.analyses; heavy = {'numpy', 'pandas', 'ibis', 'pydantic', 'yaml', 'matplotlib'};"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_overrides_apply_over_the_params_section():
    p = params.load("2025Q4")
    assert params.section(p, "promo") is p.promo
    assert params.section(p, "promo", alpha=None, post_days=7).post_days == 7
    assert params.section(p, "promo", post_days=7).alpha == p.promo.alpha
    with pytest.raises(params.ParamsError, match="unknown promo setting 'bogus'; the promo section has promotions"):
        params.section(p, "promo", bogus=1)
    with pytest.raises(params.ParamsError, match=r"promo.alpha: Input should be less than 1 \(got 2.0\)"):
        params.section(p, "promo", alpha=2.0)
    with pytest.raises(params.ParamsError, match="the overview has no settings of its own \\(got 'window'\\)"):
        kit.overview.review_quarter(None, p, window="1D", quarter=None)
