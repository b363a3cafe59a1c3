"""MkDocs hooks for the docs site (mkdocs.yml): the README is the home page and the
changelog a page, and links that leave docs/ point at the repository instead."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/gradledger/gradledger"
_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!https?://)([^)]+)\)")
_LINK = re.compile(r"\]\((?!https?://|#)([^)]+)\)")


def _outside(markdown: str, base: str) -> str:
    """Links and pictures relative to `base` (a folder of the repository), made absolute."""
    def picture(match: re.Match) -> str:
        path = (Path(base) / match[2]).as_posix()
        return f"![{match[1]}]({REPOSITORY.replace('github.com', 'raw.githubusercontent.com')}" \
               f"/main/{_normal(path)})"

    def link(match: re.Match) -> str:
        target = match[1]
        if base == "." and target.startswith("docs/"):
            return f"]({target.removeprefix('docs/')})"  # a page of this site
        if base == "docs" and not target.startswith("../"):
            return match[0]
        return f"]({REPOSITORY}/blob/main/{_normal((Path(base) / target).as_posix())})"

    return _LINK.sub(link, _IMAGE.sub(picture, markdown))


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def on_files(files, config):
    for name, source in (("index.md", "README.md"), ("changelog.md", "CHANGELOG.md")):
        text = _outside((ROOT / source).read_text(encoding="utf-8"), ".")
        files.append(File.generated(config, name, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri in ("index.md", "changelog.md"):
        return markdown
    return _outside(markdown, "docs")
