"""Imported once by the report runner's fork server; every worker and kernel is forked from it.

Everything a notebook kernel imports is imported here, so no kernel imports it again. Nothing
here connects to a database or starts a thread: a process is safe to fork only while it has just
one thread (DuckDB's worker threads, say, would be copied as held locks).
"""
import os

# Kernels draw inline, as in JupyterLab, even when the caller exported MPLBACKEND=Agg (CI does,
# for the unit tests): matplotlib reads the variable once, when it is imported, here.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

try:
    import matplotlib.pyplot  # noqa: F401,E402
    import papermill  # noqa: F401,E402
    import ipykernel.kernelapp  # noqa: F401,E402
    import IPython.display  # noqa: F401,E402

    import kit  # noqa: F401,E402
    import kit.ab, kit.channel, kit.funnel, kit.overview, kit.promo  # noqa: F401,E401,E402
    from kit.report.export import exporter  # noqa: E402

    exporter()  # builds the HTML exporter (loads and compiles its templates) once for all workers
except Exception:  # noqa: BLE001 - a failed warm-up only costs speed: the kernels import what they need
    pass
