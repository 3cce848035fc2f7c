"""Every test session remembers contract checks in a folder of its own (``KIT_CACHE_DIR``), so a
run starts as on a fresh machine and never reads or writes the user's cache. Kernels started by
nbval and report runs inherit it. (No BLAS kernels are pinned: the committed notebook outputs are
rounded displays that must come out the same on any CPU; ``make test`` checks that by running the
notebooks' nbval a second time as another CPU, see DEVELOPING.md.)"""
import os
import shutil
import tempfile

_cache = None


def pytest_configure(config):
    global _cache
    if "KIT_CACHE_DIR" not in os.environ:
        _cache = tempfile.mkdtemp(prefix="kit-test-cache-")
        os.environ["KIT_CACHE_DIR"] = _cache


def pytest_unconfigure(config):
    if _cache is not None:
        os.environ.pop("KIT_CACHE_DIR", None)
        shutil.rmtree(_cache, ignore_errors=True)
