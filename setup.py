"""Packaging: the wheel carries startle's own files as package data (harness/_data/).

Everything startle needs outside Python code — built-in scenarios, profiles, the reference agent,
the center, Toxiproxy's and the base images' recipes, the upgrade images, the mutants used in
self-tests — is copied from the checkout into ``harness/_data`` of the build, so that
``pip install startle-*.whl`` works in another repository (harness/config.py finds it there).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ["scenarios", "fixtures", "tests/mutants", "scripts/setup.sh"]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".cache", "*.tar", "*.log")


class BuildWithData(build_py):
    def run(self):
        super().run()
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "harness" / "_data"
        for name in DATA:
            source, dest = here / name, target / name
            if dest.exists():
                shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, ignore=SKIP)
            elif source.exists():
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildWithData})
