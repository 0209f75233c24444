"""The Streamlit app's building blocks: URL state, job access and shared views.

The chart builders the pages draw live in ``ipcore.charts`` (numpy + plotly, no streamlit), so a notebook
draws the same figures; the modules here render with streamlit.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (``pages/``, ``cached_runs/`` and ``ipcore/`` live here)."""

PAGES_DIR = ROOT / "pages"
