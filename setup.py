"""The build steps pyproject.toml cannot say.

1. The repository's top-level ``resources/`` folder (icons, samples, the
   desktop entry...) becomes the package ``visualizer.resources``, and ``docs/``
   (the user guide the window shows, with its pictures) ``visualizer.docs``, in
   the wheel, the sdist and an editable install, so ``importlib.resources`` finds
   them however the app was installed. Which files they hold is pyproject.toml's
   package-data, as for everything else.

2. The TCP analysis's hot modules (``visualizer/core/compiled.py`` lists them)
   are compiled with mypyc from the same source when mypyc, a C compiler and
   Python's headers are there, unless ``PV_COMPILE=0``; otherwise the package is
   installed interpreted only, and this script says so. Either way the ``.py``
   files are installed and are the fallback (docs/architecture.md).
"""

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
# The commands that build code; metadata and sdist runs need no compiler.
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def _compiled_module():  # the package is not importable while it is being built
    spec = importlib.util.spec_from_file_location(
        "_pv_compiled", HERE / "visualizer" / "core" / "compiled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _why_not_compiled():
    if os.environ.get("PV_COMPILE", "1") == "0":
        return "PV_COMPILE=0"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc (mypy) is not installed"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        return "no Python headers (Python.h: the python3-dev package)"
    return None


def _ext_modules():
    if not BUILDS & set(sys.argv[1:]):
        return []
    compiled = _compiled_module()
    # An extension left in the tree by an earlier build (in place, as an editable
    # install builds) would win over its source at import: none survives a build.
    for stale in (HERE / "visualizer").rglob("*.so"):
        stale.unlink()
    why = _why_not_compiled()
    if why is not None:
        (HERE / "visualizer" / "core" / compiled.RECORD).unlink(missing_ok=True)
        print(f"setup.py: not compiling the analysis ({why}); installing the interpreted "
              "modules only, which give the same results more slowly", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    os.chdir(HERE)   # mypyc names modules from paths relative to the current folder
    sources = [str(compiled.source_path(m, HERE).relative_to(HERE)) for m in compiled.MODULES]
    extensions = mypycify(sources, group_name=compiled.GROUP, opt_level="3")
    compiled.write_record(HERE)
    print(f"setup.py: compiling {', '.join(compiled.MODULES)} with mypyc", file=sys.stderr)
    return extensions


setup(
    packages=[*find_packages(include=["visualizer*"]), "visualizer.resources",
              "visualizer.docs"],
    package_dir={"visualizer.resources": "resources", "visualizer.docs": "docs"},
    exclude_package_data={"visualizer.resources": ["**/__pycache__/*", "**/*.pyc"],
                          "visualizer.docs": ["**/__pycache__/*", "**/*.pyc"]},
    ext_modules=_ext_modules(),
)
