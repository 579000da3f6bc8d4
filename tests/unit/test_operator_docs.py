"""What an operator deploying from the docs reads is what the code does: every environment
variable the deployment docs name exists, every variable the code reads is in the
configuration table with the code's default, the command-line table of docs/operating.md
lists every `carbon` command and only options those commands have, and every `/v1` route is
named in the docs.

Each of these was found wrong by following the docs literally: `CARBON_LOG_FORMAT` was read
but missing from the configuration table; `carbon recover`, `revert`, `reconcile`,
`factors history` and `export` were missing from the command table; five routes (the
catalog, report lists and stats, one job) were named nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPERATING = ROOT / "docs" / "operating.md"
# The documents an operator deploying and running the system reads.
OPERATOR_DOCS = [ROOT / "README.md", OPERATING, *(ROOT / "docs" / name for name in (
    "multihost.md", "metrics.md", "reliability.md", "development.md", "status.md"))]
PRODUCT_CODE = [*(p for base in ("carbon_api", "carbon_tasks", "carbon_domain")
                  for p in (ROOT / base).rglob("*.py")), ROOT / "celeryconfig.py"]
ENV_NAME = re.compile(r"\b((?:CARBON|CELERY)_[A-Z0-9_]+)\b")
# Reads of the environment outside the settings object (a Typer option's envvar included).
ENV_READ = re.compile(r"""(?:environ\.get\(|getenv\(|envvar=)\s*["']([A-Z][A-Z0-9_]+)["']"""
                      r"""|["']([A-Z][A-Z0-9_]+)["']\s+in\s+os\.environ""")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _settings_aliases() -> dict[str, object]:
    from carbon_domain.settings import Settings

    return {f.alias: f.default for f in Settings.model_fields.values() if f.alias}


def _read_by_code() -> set[str]:
    names = set()
    for path in PRODUCT_CODE:
        for a, b in ENV_READ.findall(path.read_text(encoding="utf-8")):
            name = a or b
            if name.startswith(("CARBON_", "CELERY_")):
                names.add(name)
    return names


def _mentioned_outside_the_docs() -> str:
    """Every code, script and deployment file, to find a variable a test harness reads."""
    parts = []
    for base in ("carbon_api", "carbon_tasks", "carbon_domain", "tests", "bench", "scripts",
                 ".ci", "docker"):
        for path in (ROOT / base).rglob("*"):
            if path.is_file() and path.suffix not in (".md", ".png", ".pyc", ".json"):
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    parts.append((ROOT / "celeryconfig.py").read_text(encoding="utf-8"))
    return "\n".join(parts)


def test_every_variable_the_operator_docs_name_exists() -> None:
    known = set(_settings_aliases()) | _read_by_code()
    elsewhere = _mentioned_outside_the_docs()
    ghosts = []
    for doc in OPERATOR_DOCS:
        for name in sorted(set(ENV_NAME.findall(doc.read_text(encoding="utf-8")))):
            if name not in known and not re.search(rf"\b{name}\b", elsewhere):
                ghosts.append(f"{doc.relative_to(ROOT)}: {name}")
    assert not ghosts, f"the docs name variables nothing reads: {ghosts}"


def test_every_variable_the_code_reads_is_in_the_configuration_table() -> None:
    table = _section(OPERATING.read_text(encoding="utf-8"), "Configuration")
    missing = sorted(n for n in _read_by_code() | set(_settings_aliases())
                     if f"`{n}`" not in table)
    assert not missing, f"read by the code, not in docs/operating.md#configuration: {missing}"


def _variable_tables() -> str:
    """The rows of docs/operating.md's `| variable | default | meaning |` tables."""
    rows, inside = [], False
    for line in OPERATING.read_text(encoding="utf-8").splitlines():
        if line.startswith("| variable | default |"):
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside:
            rows.append(line)
    return "\n".join(rows)


def _documented_defaults() -> list[tuple[str, str]]:
    """(variable, default) of every configuration row whose default cell is plain
    backticked literals, one per variable (`A` / `B` rows included)."""
    pairs = []
    for names, default in re.findall(r"^\| (`[A-Z][^|]*`) \| ([^|]+) \|", _variable_tables(),
                                     re.M):
        variables = re.findall(r"`([A-Z][A-Z0-9_]+)`", names)
        values = [v.strip() for v in default.split(" / ")]
        if len(values) != len(variables):
            continue
        for variable, value in zip(variables, values, strict=True):
            literal = re.fullmatch(r"`([^`]*)`", value)
            if literal:
                pairs.append((variable, literal.group(1)))
    return pairs


def test_documented_defaults_are_the_code_defaults() -> None:
    defaults = _settings_aliases()
    pairs = [(v, d) for v, d in _documented_defaults() if v in defaults]
    assert len(pairs) >= 25, pairs  # the parser still reads the table
    wrong = []
    for variable, documented in pairs:
        actual = defaults[variable]
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            if documented != str(actual):
                wrong.append(f"{variable}: docs {documented!r}, code {actual!r}")
        elif not re.fullmatch(r"[\d.]+", documented) or float(documented) != float(actual):
            wrong.append(f"{variable}: docs {documented}, code {actual}")
    assert not wrong, f"docs/operating.md defaults differ from carbon_domain/settings.py: {wrong}"


def _cli() -> object:
    import typer.main

    from carbon_api.cli import app

    return typer.main.get_command(app)


def _leaf_commands(group: object, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    leaves: dict[tuple[str, ...], object] = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if getattr(command, "commands", None):
            leaves.update(_leaf_commands(command, (*prefix, name)))
        else:
            leaves[(*prefix, name)] = command
    return leaves


def _table_spans() -> list[str]:
    section = _section(OPERATING.read_text(encoding="utf-8"), "Command line")
    table = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    return [span.replace("\\|", "|") for span in re.findall(r"`([^`\n]+)`", table)
            if span.startswith("carbon ") and span != "carbon ingest …"]


def _spelled(span: str, leaves: dict[tuple[str, ...], object]) -> list[tuple[str, ...]]:
    """The commands a span such as `carbon db upgrade|downgrade` or `carbon wait ID` names."""
    words = span.split()[1:]
    if not words:
        return []
    if (words[0],) in leaves:
        return [(words[0],)]
    if len(words) > 1:
        return [(words[0], sub) for sub in words[1].split("|") if (words[0], sub) in leaves]
    return []


def test_the_command_line_table_lists_every_command() -> None:
    leaves = _leaf_commands(_cli())
    listed = {path for span in _table_spans() for path in _spelled(span, leaves)}
    missing = sorted(" ".join(p) for p in set(leaves) - listed)
    assert not missing, f"not in docs/operating.md#command-line: carbon {missing}"


@pytest.mark.parametrize("span", _table_spans())
def test_options_in_the_command_line_table_exist(span: str) -> None:
    leaves = _leaf_commands(_cli())
    commands = _spelled(span, leaves)
    assert commands, f"`{span}` names no command"
    opts = {o for path in commands for p in leaves[path].params  # type: ignore[attr-defined]
            for o in (*p.opts, *p.secondary_opts)}
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", span))
    unknown = sorted(named - opts)
    assert not unknown, f"`{span}`: no such option {unknown}"


def test_every_route_is_named_in_the_docs() -> None:
    from carbon_api.app import create_app

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.rstrip("."))

    text = "".join(p.read_text(encoding="utf-8")
                   for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    named = {shape(p) for p in re.findall(r"(/(?:v1|metrics)[\w/{}.\-]*)", text)}
    # `…/{module}[/{type}]` names both routes.
    named |= {shape(a + b) for a, b in re.findall(r"(/v1[\w/{}.\-]*)\[(/[^\]\s]+)\]", text)}
    routes = create_app().openapi()["paths"]
    missing = sorted(p for p in routes if shape(p) not in named)
    assert not missing, f"routes named in no doc (docs/api.md lists them): {missing}"


def test_options_the_docs_give_a_command_exist() -> None:
    """Every `carbon …` the README and docs/ spell (in backticks or a code block) uses only
    options its command has."""
    root = _cli()
    fence = re.compile(r"^```.*?^```", re.S | re.M)
    checked, unknown = 0, []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        spans = re.findall(r"`([^`\n]+)`", text)
        for block in fence.findall(text):
            spans += block.splitlines()
        for span in spans:
            for m in re.finditer(r"(?:^|[;&|(]\s*|/bin/|\s)carbon ([a-z][^;&`]*)", span):
                words = m.group(1).replace("\\|", "|").split()
                command: object = root
                while getattr(command, "commands", None) and words and \
                        words[0] in command.commands:  # type: ignore[attr-defined]
                    command = command.commands[words.pop(0)]  # type: ignore[attr-defined]
                if command is root or getattr(command, "commands", None):
                    continue
                checked += 1
                opts = {"--help", "-h"} | {o for p in command.params  # type: ignore[attr-defined]
                                           for o in (*p.opts, *p.secondary_opts)}
                named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", m.group(1)))
                unknown += [f"{doc.name}: `{span}`: {o}" for o in sorted(named - opts)]
    assert checked > 100, checked  # the parser still finds the commands
    assert not unknown, f"the docs give options the CLI does not have: {unknown}"
