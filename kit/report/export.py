"""HTML export of executed notebooks: no code, no parameter cells, images embedded, nothing external.

One :class:`nbconvert.HTMLExporter` is built per process and reused for every notebook (building
it loads and compiles the Jinja templates, which costs more than exporting a small notebook).
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path

import nbformat

from kit.report.render import TEMPLATES_DIR, environment

# Cells papermill tags: the notebook's defaults and the values it injected for this run.
HIDDEN_TAGS = ("parameters", "injected-parameters", "remove_cell")


@lru_cache(maxsize=1)
def exporter():
    """The HTML exporter (built once): offline, input cells tagged for removal left out."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.embed_images = True
    config.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS)
    config.TagRemovePreprocessor.enabled = True
    html_exporter = HTMLExporter(config=config, template_name="kit_offline",
                                 extra_template_basedirs=[str(TEMPLATES_DIR)])
    html_exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    return html_exporter


def notebook_to_html(notebook: "nbformat.NotebookNode | str | Path", title: str, quarter: str = "") -> str:
    """The report page of an executed notebook (a NotebookNode or a path)."""
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(str(notebook), as_version=4)
    body, _ = exporter().from_notebook_node(notebook, resources={"metadata": {"name": title}, "kit_quarter": quarter})
    return body


# --------------------------------------------------------------------------------------------
# A failed notebook's page: the error as a box for people, not a Python traceback

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # papermill's "An Exception was encountered" cells
_ADVICE = {
    "ContractError": "fix the data as the message says (every broken rule is listed) and run the report again; "
                     "`kit validate` checks the source without running the report.",
    "FileNotFoundError": "add the missing table or file to the source, or check the source in params; "
                         "`kit validate` lists the tables found and the analyses they can feed.",
    "ParamsError": "correct the params file and key named in the message and run the report again.",
    "KeyError": "check the names in the params file (experiments, promotions, channels) against the data.",
}
_DEFAULT_ADVICE = ("check the inputs the message names (data, params); if they are right, open the notebook in "
                   "Jupyter to see the step in context and pass the technical details below to the kit's maintainers.")


def error_box_html(ename: str, evalue: str, step: str, traceback: str = "") -> str:
    """The error box of a failed page: what failed, in which step, what to do; the traceback folded."""
    message = _ANSI.sub("", evalue).strip() or "(no message)"
    return environment().get_template("error_box.html.j2").render(
        what=f"{ename}", step=step, message=message, advice=_ADVICE.get(ename, _DEFAULT_ADVICE),
        traceback=_ANSI.sub("", traceback).strip())


def _step_name(cells: list, index: int, fallback: str) -> str:
    """The heading of the section a cell is in (the nearest Markdown heading above it)."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            if headings:
                return headings[-1]
    return fallback


def with_error_box(notebook: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """The executed notebook as its failed page shows it: papermill's banner cells dropped, the
    failing cell's error output replaced by :func:`error_box_html`, the cells after it (never run)
    left out. A notebook without an error output is returned unchanged."""
    notebook = copy.deepcopy(notebook)
    cells = [c for c in notebook.cells if PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
    for index, cell in enumerate(cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"] if cell.cell_type == "code" else []
        if not errors:
            continue
        error = errors[0]
        step = _step_name(cells, index, fallback=f"the start of “{title}”")
        box = error_box_html(error.get("ename", "Error"), error.get("evalue", ""), step, "\n".join(error.get("traceback", [])))
        cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"] + [
            nbformat.v4.new_output("display_data", data={"text/html": box, "text/plain": f"{error.get('ename')}: {error.get('evalue')}"})]
        notebook.cells = cells[:index + 1]
        return notebook
    return notebook
