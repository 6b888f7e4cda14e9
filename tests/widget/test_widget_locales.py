"""The widget's catalogues (static/widget/locales/*.json, issue 23): each says every word the
widget's English `STRINGS` says (static/widget/src/strings.js), no more, with the same
`{placeholders}`; and the server hands them out at `GET /api/v1/widget/locales/{locale}`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.widget.paths import WIDGET

LOCALES = sorted((WIDGET / "locales").glob("*.json"))
SHIPPED = ["fr", "ja", "ko", "ro"]  # and English, built in


def english() -> dict[str, str]:
    source = (WIDGET / "src" / "strings.js").read_text(encoding="utf-8")
    body = source[source.index("export const STRINGS = {") : source.index("\n};")]
    found: dict[str, str] = {}
    for key, value in re.findall(r"^  (\w+):\s*((?:'[^']*'\s*\+?\s*)+),$", body, re.M):
        found[key] = "".join(re.findall(r"'([^']*)'", value))
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_widget_ships_its_languages() -> None:
    assert [path.stem for path in LOCALES] == SHIPPED


@pytest.mark.parametrize("path", LOCALES, ids=lambda p: p.stem)
def test_a_catalogue_says_every_word_with_the_same_placeholders(path: Path) -> None:
    words = json.loads(path.read_text(encoding="utf-8"))
    base = english()
    assert len(base) > 80  # the parse above found the table
    assert sorted(words) == sorted(base)
    for key, text in words.items():
        assert isinstance(text, str)
        assert text.strip(), key
        assert placeholders(text) == placeholders(base[key]), key


async def test_the_server_hands_out_each_catalogue_and_refuses_others(
    client: httpx.AsyncClient,
) -> None:
    for code in SHIPPED:
        answer = await client.get(f"/api/v1/widget/locales/{code}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == json.loads((WIDGET / "locales" / f"{code}.json").read_text())
        again = await client.get(
            f"/api/v1/widget/locales/{code}", headers={"If-None-Match": answer.headers["etag"]}
        )
        assert again.status_code == 304
    missing = await client.get("/api/v1/widget/locales/xx")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_locale")
