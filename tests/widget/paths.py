"""Where the widget's files are: the readable source, the build script, and the built file that
`GET /widget/uplift.js` serves from a checkout (static/widget/README.md, "Build")."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WIDGET = REPO / "static" / "widget"
SOURCE = WIDGET / "src"
BUILT = WIDGET / "uplift.js"
ESBUILD = REPO / "node_modules" / ".bin" / "esbuild"


def source_files() -> list[Path]:
    """The widget's JavaScript modules (src/*.js), in name order."""
    return sorted(SOURCE.glob("*.js"))
