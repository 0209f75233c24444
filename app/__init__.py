"""The Streamlit app's building blocks: URL state, chart builders, job access and shared views.

``charts`` is pure (numpy + plotly, no streamlit) and unit-testable; the others render with streamlit.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (``pages/``, ``cached_runs/`` and ``ipcore/`` live here)."""

PAGES_DIR = ROOT / "pages"
