"""Sphinx configuration for skmm's documentation (``pip install -e ".[docs]"``).

Build (as CI does, warnings are errors, gallery examples executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is generated from each public subpackage's ``__all__`` (see
:func:`_write_api_pages`): a new subpackage or a new public name appears in the
reference without editing any ``.rst`` file. Cross-links to other projects'
docs (intersphinx) need the network: set ``SKMM_DOCS_INTERSPHINX=1`` to enable
them; CI builds offline without them.
"""

import importlib
import os
import pathlib
import pkgutil

# The gallery runs in this process: offline, headless, one thread per process
# (tiny example networks gain nothing from more; set before torch is imported).
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MPLBACKEND": "Agg",
    "SKMM_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}.items():
    os.environ.setdefault(_name, _value)

import skmm  # noqa: E402

project = "skmm"
author = "skmm developers"
copyright = "skmm developers"
release = skmm.__version__
version = release
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_with_keys": False}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

if os.environ.get("SKMM_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    }
else:
    intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Every example runs; one that fails breaks the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
}

# -- API reference generated from __all__ ---------------------------------------------
_HERE = pathlib.Path(__file__).parent
_API_DIR = _HERE / "api"


def public_modules():
    """Public skmm modules with an ``__all__`` (no ``_private`` path component)."""
    names = []
    for info in pkgutil.walk_packages(skmm.__path__, prefix="skmm."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "__all__", None):
            names.append(info.name)
    return sorted(names)


def _write_api_pages():
    _API_DIR.mkdir(exist_ok=True)
    wanted = set()
    for name in public_modules():
        module = importlib.import_module(name)
        entries = sorted(module.__all__, key=str.lower)
        title = f":mod:`{name}`"
        lines = [
            title,
            "=" * len(title),
            "",
            f".. automodule:: {name}",
            "   :no-members:",
            "   :no-index:",
            "",
            f".. currentmodule:: {name}",
            "",
            ".. autosummary::",
            "   :toctree: ../generated/",
            "",
            *(f"   {entry}" for entry in entries),
            "",
        ]
        target = _API_DIR / f"{name}.rst"
        wanted.add(target.name)
        text = "\n".join(lines)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    for stale in _API_DIR.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()


_write_api_pages()
