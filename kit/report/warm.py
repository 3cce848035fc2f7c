"""Imported once by the report runner's fork server; every worker and kernel is forked from it.

Everything a notebook kernel imports is imported here, so no kernel imports it again. Nothing
here connects to a database or starts a thread: a process is safe to fork only while it has just
one thread (DuckDB's worker threads, say, would be copied as held locks).
"""
import importlib
import os

# The server's stderr goes nowhere, as its workers' does (runner._worker_setup): a worker that the
# run stops while it is still being forked would otherwise print its traceback on the terminal,
# after the run's one-line message. What a worker reports comes back to the run as an outcome.
_devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(_devnull, 2)
os.close(_devnull)

# Kernels draw inline, as in JupyterLab, even when the caller exported MPLBACKEND=Agg (CI does,
# for the unit tests): matplotlib reads the variable once, when it is imported, here.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

try:
    import ipykernel.kernelapp  # noqa: F401,E402
    import IPython.display  # noqa: F401,E402
    import matplotlib.pyplot  # noqa: F401,E402
    import nbformat  # noqa: E402
    import papermill  # noqa: F401,E402

    import kit  # noqa: F401,E402
    from kit.analyses import ANALYSES  # noqa: E402
    from kit.report.export import notebook_to_html  # noqa: E402

    for analysis in ANALYSES:  # every registered analysis's package, as its notebook imports it
        importlib.import_module(analysis.module)

    # One small page through the exporter: it builds the exporter (templates loaded and compiled)
    # and the converters it loads on first use (Markdown, highlighting), 0.4 s, once for all workers.
    v4 = nbformat.v4
    notebook_to_html(v4.new_notebook(cells=[
        v4.new_markdown_cell("# Warm-up\n\n*text* and `code`"),
        v4.new_code_cell("1", outputs=[v4.new_output("display_data", data={"text/html": "<b>1</b>", "text/plain": "1"})]),
    ]), "warm-up")
except Exception:  # noqa: BLE001 - a failed warm-up only costs speed: the kernels import what they need
    pass
