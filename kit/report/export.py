"""HTML export of executed notebooks: no code, no parameter cells, images embedded, nothing external.

One :class:`nbconvert.HTMLExporter` is built per process and reused for every notebook (building
it loads and compiles the Jinja templates, which costs more than exporting a small notebook).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import nbformat

from kit.report.render import TEMPLATES_DIR

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
