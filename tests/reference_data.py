"""Where the shared reference data live: ``shared/`` beside the project checkout (as in CI)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"
