"""pip installs bindings/python as `make python` does (the library copied
into the package), and the installed package finds that copy by itself:
no $RLKD_LIBRARY, no source tree on the path."""
import os
import shutil
import subprocess
import sys

import pytest

import rlkd

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python")


def test_pip_installs_the_package_with_its_library(tmp_path):
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
        "__pycache__", "librlkd.so.*", "build", "*.egg-info"))
    shutil.copy(rlkd.library_path(), source / "rlkd" / ("librlkd.so.%d" % rlkd.ABI_MAJOR))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                    "--no-deps", "--no-index", "--target", str(site), str(source)],
                   check=True, cwd=tmp_path)
    assert (site / "rlkd" / "py.typed").exists()
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("RLKD_LIBRARY", "RLKD_CHECK_COVERAGE")}
    environment["PYTHONPATH"] = str(site)
    probe = ("import rlkd; c = rlkd.Context(); "
             "print(rlkd.library_path()); print(rlkd.version()); "
             "print(rlkd.ops.relu(rlkd.Tensor(c, [-1.0, 2.0])).numpy().tolist())")
    lines = subprocess.run([sys.executable, "-c", probe], check=True, cwd=tmp_path,
                           env=environment, capture_output=True, text=True).stdout.split("\n")
    assert os.path.realpath(lines[0]).startswith(os.path.realpath(site / "rlkd"))
    assert lines[1] == rlkd.version() and lines[2] == "[0.0, 2.0]"
