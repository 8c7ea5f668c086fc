"""The one build step pyproject.toml cannot say: the repository's top-level
``resources/`` folder (icons, samples, the desktop entry...) becomes the
package ``visualizer.resources``, and ``docs/`` (the user guide the window
shows, with its pictures) ``visualizer.docs``, in the wheel, the sdist and an
editable install, so ``importlib.resources`` finds them however the app was
installed. Which files they hold is pyproject.toml's package-data, as for
everything else."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["visualizer*"]), "visualizer.resources",
              "visualizer.docs"],
    package_dir={"visualizer.resources": "resources", "visualizer.docs": "docs"},
    exclude_package_data={"visualizer.resources": ["**/__pycache__/*", "**/*.pyc"],
                          "visualizer.docs": ["**/__pycache__/*", "**/*.pyc"]},
)
