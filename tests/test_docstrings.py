"""Every module's docstring examples run, and every public name has one."""
import doctest
import importlib
import inspect
import pkgutil

import pytest

import jkeras

MODULES = sorted(m.name for m in pkgutil.walk_packages(jkeras.__path__, "jkeras."))
PACKAGES = ["jkeras"] + [m.name for m in pkgutil.walk_packages(jkeras.__path__, "jkeras.")
                         if m.ispkg]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} failing examples in {name} (printed above)"


def _public(package):
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__name__ == name:
            yield f"{package}.{name}", obj


def test_every_public_class_and_function_has_an_example():
    missing = sorted({qual for package in PACKAGES for qual, obj in _public(package)
                      if ">>>" not in (inspect.getdoc(obj) or "")})
    assert not missing, f"public names without a docstring example: {missing}"
