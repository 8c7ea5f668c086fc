"""The one build step pyproject.toml cannot say: the repository's top-level
``resources/`` folder (icons, samples, the desktop entry...) becomes the
package ``visualizer.resources`` in the wheel, the sdist and an editable
install, so ``importlib.resources`` finds it however the app was installed.
Which files it holds is
pyproject.toml's package-data, as for everything else."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["visualizer*"]), "visualizer.resources"],
    package_dir={"visualizer.resources": "resources"},
    exclude_package_data={"visualizer.resources": ["**/__pycache__/*", "**/*.pyc"]},
)
