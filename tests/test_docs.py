"""The documentation site: builds with ``mkdocs build --strict``, and every page is in the nav."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.conftest import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def _nav_pages(entry) -> list[str]:
    """Every page path in a mkdocs ``nav`` (strings, ``{title: page}``, nested sections)."""
    if isinstance(entry, str):
        return [] if "://" in entry else [entry]
    if isinstance(entry, list):
        return [page for item in entry for page in _nav_pages(item)]
    if isinstance(entry, dict):
        return [page for value in entry.values() for page in _nav_pages(value)]
    return []


def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, (
        f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    )
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_page_under_docs_is_in_the_nav():
    config = yaml.safe_load((PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert pages, f"no pages under {DOCS}"
    missing = [p for p in pages if p not in in_nav]
    assert not missing, f"pages under docs/ missing from the nav in mkdocs.yml: {missing}"
    dangling = [p for p in in_nav if not (DOCS / p).is_file()]
    assert not dangling, f"nav entries without a page under docs/: {dangling}"
    duplicates = sorted({p for p in in_nav if in_nav.count(p) > 1})
    assert not duplicates, f"pages listed twice in the nav: {duplicates}"
