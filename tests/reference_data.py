"""Where the shared reference data live: ``shared/`` beside the project checkout (as in CI).

``BAYESFIT_SHARED`` names another location; a clone elsewhere on this machine falls back to the
workplace's ``/work/shared``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


def _shared() -> Path:
    candidates = [
        Path(os.environ.get("BAYESFIT_SHARED", "")),
        Path(__file__).resolve().parents[2] / "shared",
        Path("/work/shared"),
    ]
    return next((path for path in candidates if (path / "reference").is_dir()), candidates[1])


SHARED = _shared()
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"

#: ``--set`` overrides that turn ``models/hese_diffuse.yaml`` into the seed notebook's fit: the
#: prompt-like component held at 0, no parameter of interest, no tests or limits of it.
HESE_NOTEBOOK = (
    "parameters.prompt_norm.fixed=true",
    "parameters.prompt_norm.start=0.0",
    "poi=null",
    "inference.hypotests={}",
    "inference.upper_limit={}",
)


#: The project's example scripts (``examples/*.py``), which write the inputs of ``models/``.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_module(name: str) -> ModuleType:
    """The example script ``examples/<name>.py`` imported as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
