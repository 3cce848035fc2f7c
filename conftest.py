"""Every test session remembers contract checks in a folder of its own (``KIT_CACHE_DIR``), so a
run starts as on a fresh machine and never reads or writes the user's cache, and pins OpenBLAS's
kernels (``kit.config.reproducible_blas``) so nbval's kernels compute the committed digits on any
machine. Kernels started by nbval and report runs inherit both."""
import os
import shutil
import tempfile

_cache = None


def pytest_configure(config):
    from kit.config import reproducible_blas

    global _cache
    os.environ.update(reproducible_blas())
    if "KIT_CACHE_DIR" not in os.environ:
        _cache = tempfile.mkdtemp(prefix="kit-test-cache-")
        os.environ["KIT_CACHE_DIR"] = _cache


def pytest_unconfigure(config):
    if _cache is not None:
        os.environ.pop("KIT_CACHE_DIR", None)
        shutil.rmtree(_cache, ignore_errors=True)
