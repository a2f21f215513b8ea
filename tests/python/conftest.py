"""pytest set-up for the bindings' tests: the package comes from the source
tree and the library from $RLKD_LIBRARY (tests/python/run.sh sets it to the
build's librlkd.so), so the tests exercise what was just built.

With RLKD_CHECK_COVERAGE=1 (run.sh sets it for the whole suite) every C
function the package calls is counted, and the run fails if one of them was
never called by any test: a wrapper without a test is caught here."""
import os
import re
import sys

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python")
sys.path.insert(0, PACKAGE)

CALLED = set()


def _count_calls():
    from rlkd import _ffi
    for name in _ffi.SIGNATURES:
        original = getattr(_ffi.lib, name)

        def counting(*args, _original=original, _name=name):
            CALLED.add(_name)
            return _original(*args)
        setattr(_ffi.lib, name, counting)


def _functions_the_package_calls():
    used = set()
    folder = os.path.join(PACKAGE, "rlkd")
    for file in os.listdir(folder):
        if file.endswith(".py") and file != "_ffi.py":
            used.update(re.findall(r"\blib\.(rlkd_\w+)", open(os.path.join(folder, file)).read()))
    return used


if os.environ.get("RLKD_CHECK_COVERAGE") == "1":
    _count_calls()


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("RLKD_CHECK_COVERAGE") != "1":
        return
    missing = sorted(_functions_the_package_calls() - CALLED)
    if missing:
        print("\nFAIL python/coverage: the package calls these C functions but no test "
              "does: " + ", ".join(missing))
        session.exitstatus = 1
    else:
        print("\nPASS python/coverage: every C function the package calls was called")
