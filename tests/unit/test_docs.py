"""The README is the front door and `docs/` holds the depth: every relative link resolves (file
and heading), every documented `carbon` command exists, the README stays a few screens long,
and the code cites only design documents that ship with the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked here (no network)
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_fits_on_a_few_screens() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move depth into docs/"


def test_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    top = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    missing = [name for name in top if f"docs/{name}" not in readme]
    assert not missing, f"README.md does not link {missing}"


def _documented_commands() -> set[tuple[str, ...]]:
    """`carbon X` and `carbon X Y` spelled in backticks in the docs (Y only when X is a group)."""
    found: set[tuple[str, ...]] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for span in re.findall(r"`([^`\n]+)`", text) + FENCE.findall(text):
            # A command starts a line or follows a shell operator or a venv path.
            for m in re.finditer(r"(?:^|[;&|(]\s*|/bin/)carbon ([a-z][a-z-]*)"
                                 r"(?: ([a-z][a-z-]*))?", span, re.M):
                found.add((m.group(1), m.group(2) or ""))
    return found


def test_documented_cli_commands_exist() -> None:
    import typer.main

    from carbon_api.cli import app

    root = typer.main.get_command(app)
    names = set(root.commands)  # type: ignore[attr-defined]
    unknown = []
    for first, second in sorted(_documented_commands()):
        if first not in names:
            unknown.append(f"carbon {first}")
            continue
        sub = root.commands[first]  # type: ignore[attr-defined]
        subs = getattr(sub, "commands", None)
        if subs and second and second not in subs and not second.startswith("-"):
            unknown.append(f"carbon {first} {second}")
    assert not unknown, f"the docs name commands the CLI does not have: {unknown}"


def test_code_cites_no_document_outside_the_repository() -> None:
    offenders = []
    for base in ("carbon_domain", "carbon_tasks", "carbon_api", "bench", "tests"):
        for path in (ROOT / base).rglob("*.py"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if path.name == "test_docs.py":
                    continue
                if re.search(r"\bSPEC\b(?!S)|research/|\b(domain|pipeline|celery|style)\.md",
                             line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, (f"cite docs/design.md instead of SPEC or the research notes (not in "
                           f"the repository): {offenders}")


def test_design_sections_cited_by_the_code_exist() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\.", design, re.M))
    cited = set()
    for base in ("carbon_domain", "carbon_tasks", "carbon_api", "tests"):
        for path in (ROOT / base).rglob("*.py"):
            cited |= set(re.findall(r"design\.md §(\d+)", path.read_text(encoding="utf-8")))
    assert cited, "the code cites the design"
    assert cited <= sections, f"cited sections missing from docs/design.md: {cited - sections}"


def test_the_operating_guide_lists_every_setting() -> None:
    """An operator setting up a deployment reads docs/operating.md's configuration table;
    seven settings were missing from it."""
    from carbon_domain.settings import Settings

    text = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    names = {f.alias for f in Settings.model_fields.values() if f.alias}
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"settings not in docs/operating.md: {missing}"
