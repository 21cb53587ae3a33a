"""The docs tell the truth about the configs: every ```yaml block in README.md and docs/*.md validates, a
block that names a shipped file shows that file as it is, every config in configs/ opens with a command
that runs it, and what the docs cite (config paths, docs/science.md sections) exists."""

import json
import re
import shlex
from pathlib import Path

import pytest

from ltd_bench.config import ConfigError, load_config
from ltd_bench.sweep import is_sweep_file, load_sweep

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
SCIENCE = REPO / "docs" / "science.md"
COMMAND = re.compile(r"# ltd-bench (run|sweep) (\S.*)$")


def yaml_blocks(text: str, where: str) -> list[tuple[str, str]]:
    """(FILE:LINE, content) of every ```yaml fenced block, dedented by the fence's indentation."""
    blocks, lines, i = [], text.splitlines(keepends=True), 0
    while i < len(lines):
        fence = re.match(r"( *)```yaml\s*$", lines[i])
        if fence:
            indent, start, body = fence.group(1), i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i].removeprefix(indent))
                i += 1
            assert i < len(lines), f"{where}:{start}: ```yaml block never closed"
            blocks.append((f"{where}:{start}", "".join(body)))
        i += 1
    return blocks


BLOCKS = [b for p in DOCS for b in yaml_blocks(p.read_text(encoding="utf-8"), p.relative_to(REPO).as_posix())]


def validate(path: Path, kind: str, where: str) -> None:
    """Load `path` as a run config or a sweep (every run expanded and validated); fail naming `where`."""
    assert is_sweep_file(path) == (kind == "sweep"), f"{where}: `ltd-bench {kind}` cannot load this file"
    try:
        if kind == "sweep":
            assert load_sweep(path).runs, f"{where}: the sweep expands to no runs"
        else:
            load_config(path)
    except ConfigError as e:
        pytest.fail(f"{where}: does not validate:\n{e}")


def test_the_extractor_finds_blocks_and_sees_the_whole_block():
    text = "x\n```yaml\na: 1\n\nb: 2\n```\n  ```yaml\n  c: 3\n  ```\n```bash\nd\n```\n"
    assert yaml_blocks(text, "t.md") == [("t.md:2", "a: 1\n\nb: 2\n"), ("t.md:7", "c: 3\n")]
    with pytest.raises(AssertionError, match="never closed"):
        yaml_blocks("```yaml\na: 1\n", "t.md")
    assert sum(w.startswith("README.md:") for w, _ in BLOCKS) >= 2


@pytest.mark.parametrize("where,text", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_yaml_blocks_in_the_docs_validate(where, text, tmp_path):
    command = COMMAND.match(text.partition("\n")[0])
    if command:  # the block shows a shipped config: it must be that file, word for word
        rel = shlex.split(command.group(2))[0]
        path = REPO / rel
        assert path.is_file(), f"{where}: shows {rel}, which does not exist"
        assert text == path.read_text(encoding="utf-8"), f"{where}: differs from the shipped {rel}"
        kind = command.group(1)
    else:  # an example written for the docs: validate it as it stands
        path = tmp_path / "block.yaml"
        path.write_text(text, encoding="utf-8")
        kind = "sweep" if is_sweep_file(path) else "run"
    validate(path, kind, where)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.relative_to(REPO).as_posix() for p in CONFIGS])
def test_each_config_opens_with_the_command_that_runs_it(path, ltd_main, monkeypatch, tmp_path):
    rel = path.relative_to(REPO).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    command = COMMAND.match(lines[0])
    assert command, f"{rel}: first line should be '# ltd-bench run|sweep {rel} ...', is {lines[0]!r}"
    kind, (target, *options) = command.group(1), shlex.split(command.group(2))
    assert target == rel, f"{rel}: its command runs {target}"
    validate(path, kind, rel)
    monkeypatch.chdir(REPO)  # the command as written, from the repository root
    if kind == "sweep":  # options included, without training or writing anything
        code, _, err = ltd_main("sweep", target, *options, "--dry-run", "--out", tmp_path)
        out = options[options.index("--out") + 1] if "--out" in options else "results"
        name = load_sweep(path).name
        for line in lines[1:]:  # a report command that follows must read the sweep's folder
            if line.startswith("# ltd-bench report "):
                folder = shlex.split(line[2:])[2]
                assert folder.rstrip("/") == f"{out.rstrip('/')}/{name}", f"{rel}: reports {folder}"
    else:
        assert not options, f"{rel}: check the options of its run command here too"
        code, _, err = ltd_main("validate", target)
    assert code == 0, f"{rel}: {lines[0][2:]} exits {code}: {err}"


def test_paths_the_docs_name_exist():
    for p in [*DOCS, *CONFIGS, *sorted((REPO / "tasks").glob("*.yaml"))]:
        text = p.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text, (
            f"{p.relative_to(REPO)} cites DESIGN.md, which is not in the repository"
        )
        for line in text.splitlines():
            if line.startswith("error "):  # a sample error message about a made-up file
                continue
            for rel in re.findall(r"(?<![\w/.])((?:configs|docs)/[\w./-]*\w)", line):
                assert (REPO / rel).exists(), f"{p.relative_to(REPO)} names {rel}, which does not exist"


def _sections() -> set[str]:
    return {m.strip() for m in re.findall(r"^#{2,4} (.+)$", SCIENCE.read_text(encoding="utf-8"), re.M)}


def test_citations_of_docs_science_name_a_section():
    sections = _sections()
    assert {"Tasks", "The regularizer Ω", "Deviations from the original code"} <= sections
    files = [
        *DOCS,
        *CONFIGS,
        *sorted((REPO / "tasks").glob("*.yaml")),
        *sorted((REPO / "ltd_bench").rglob("*.py")),
    ]
    cited = 0
    for p in files:
        for name in re.findall(r'docs/science\.md,? "([^"\n]+)"', p.read_text(encoding="utf-8")):
            assert name in sections, f"{p.relative_to(REPO)} cites docs/science.md {name!r}: no such section"
            cited += 1
    assert cited
    slugs = {re.sub(r"[^\w\- ]", "", s.lower()).replace(" ", "-") for s in sections}
    for anchor in re.findall(r"\]\(#([^)]+)\)", SCIENCE.read_text(encoding="utf-8")):
        assert anchor in slugs, f"docs/science.md links to #{anchor}: no such section"


SHOWCASE = sorted(p.parent for p in (REPO / "results" / "showcase").glob("*/table.md"))


@pytest.mark.parametrize("part", SHOWCASE, ids=[p.name for p in SHOWCASE])
def test_committed_showcase_tables_are_what_report_prints_from_its_runs(
    part, ltd_main, monkeypatch, tmp_path
):
    """The README quotes these tables: a change to the analysis that moves a number must re-render them."""
    rel = part.relative_to(REPO).as_posix()
    monkeypatch.chdir(REPO)
    code, _, err = ltd_main(
        "report", rel, "--csv", tmp_path / "table.csv", "--markdown", tmp_path / "table.md"
    )
    assert code == 0, err
    for name in ("table.md", "table.csv", "table_runs.csv", "table_verdicts.csv"):
        assert (tmp_path / name).read_text() == (part / name).read_text(), f"{rel}/{name} is out of date"


def test_every_complete_showcase_part_has_its_report():
    """A part whose sweep has finished ships its tables; the test above then checks them."""
    complete = []
    for sweep in sorted((REPO / "configs" / "showcase").glob("*.yaml")):
        part = REPO / "results" / "showcase" / sweep.stem
        if (part / "sweep.json").is_file():
            runs = json.loads((part / "sweep.json").read_text())["runs"]
            if all((part / r / "summary.json").is_file() for r in runs):
                assert (part / "table.md").is_file(), (
                    f"{part.relative_to(REPO)} is complete but has no report"
                )
                complete.append(part)
    assert complete and set(complete) <= set(SHOWCASE)
