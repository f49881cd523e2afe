"""README.md and docs/: every example names real commands and options, the console ones run as shown,
and every relative link and image resolves."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from tests.conftest import write_idx_folder
from tests.docs_examples import (
    ROOT,
    Block,
    command_lines,
    console_steps,
    doc_pages,
    example_blocks,
    excerpt_pattern,
    fenced_blocks,
    mentioned_runs,
    missing_excerpt_lines,
    split_commands,
    substitute_runs,
    unknown_options,
)

EXAMPLES = example_blocks()
TINY_HIDDEN = [128, 96, 64, 48]


def test_docs_have_examples_both_run_and_illustrative():
    run = sum(len(console_steps(b)) for b in EXAMPLES if b.runs)
    illustrative = sum(len(command_lines(b)) for b in EXAMPLES if not b.runs)
    print(f"docs examples: {run} command lines run, {illustrative} illustrative")
    assert run >= 15 and illustrative >= 1


@pytest.mark.parametrize("block", EXAMPLES, ids=Block.where)
def test_every_example_block_is_run_or_marked_illustrative(block):
    assert block.runs or block.illustrative, (
        f"{block.where()}: a block with sparana commands is either ```console (run by tests/test_docs.py) "
        f"or has <!-- illustrative --> on the line before its fence")


@pytest.mark.parametrize("block", EXAMPLES, ids=Block.where)
def test_every_command_and_option_named_exists(block):
    for line in command_lines(block):
        for words in split_commands(line):
            assert not unknown_options(main, words), f"{block.where()}: {line}: no such option"


def inline_commands(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [span for span in re.findall(r"`([^`\n]+)`", text) if re.match(r"sparana [a-z-]", span)]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_named_in_the_text_exist(page):
    for span in inline_commands(page):
        for words in split_commands(span):
            assert not unknown_options(main, words), f"{page.name}: `{span}` names an option that does not exist"


def test_a_removed_option_or_command_is_caught():
    assert unknown_options(main, ["forget", "--class", "3", "--no-such-option"]) == ["--no-such-option"]
    assert unknown_options(main, ["prune", "[--sparsity", "S", "|", "--count", "N]"]) == []
    with pytest.raises(ValueError):
        unknown_options(main, ["frobnicate", "--x"])


def test_excerpts_match_other_numbers_but_not_other_words():
    assert excerpt_pattern("test accuracy 94.60% before, 92.40% after").fullmatch("test accuracy 81.00% before, 7.5% after")
    assert not excerpt_pattern("test accuracy 94.60% before").fullmatch("validation accuracy 94.60% before")
    assert missing_excerpt_lines(["a 1", "...", "c 3"], "a 2\nb\nc 4\n") == []
    assert missing_excerpt_lines(["c 3", "a 1"], "a 2\nc 4\n") == ["a 1"]


def tiny_sandbox(base: Path) -> Path:
    """configs/ as shipped but small (tiny IDX data, narrow layers, five quick epochs), for the pages' examples."""
    data = write_idx_folder(base / "data")
    (base / "configs").mkdir()
    for config in (ROOT / "configs").glob("*.yaml"):
        spec = yaml.safe_load(config.read_text())
        spec.setdefault("data", {})["path"] = str(data)
        spec["data"]["name"] = "mnist"
        model = spec.setdefault("model", {})
        model["hidden"] = TINY_HIDDEN[:len(model.get("hidden", [0, 0, 0]))]
        spec.setdefault("train", {}).update(epochs=5, batch_size=50, lr=3e-3)
        if spec.get("prune", {}).get("steps"):
            spec["prune"].update(steps=2, finetune_epochs=0)
        (base / "configs" / config.name).write_text(yaml.safe_dump(spec))
    return base


RUN_PAGES = sorted({b.page for b in EXAMPLES if b.runs})


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples_run_as_shown(page, tmp_path, monkeypatch):
    sandbox = tiny_sandbox(tmp_path)
    monkeypatch.chdir(sandbox)
    monkeypatch.delenv("SPARANA_RUNS", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # a sweep's points run as processes of their own
    blocks = [b for b in fenced_blocks(page) if b.runs and command_lines(b)]
    mentioned = mentioned_runs(blocks)
    for block in blocks:
        for line, excerpt in console_steps(block):
            for words in split_commands(line):
                args = substitute_runs(words, sandbox / "runs", mentioned)
                result = CliRunner().invoke(main, args, catch_exceptions=False)
                printed = result.output
                assert result.exit_code == 0, f"{block.where()}: {line}: exit {result.exit_code}\n{printed}"
                missing = missing_excerpt_lines(excerpt, printed)
                assert not missing, f"{block.where()}: {line}: the page shows lines it does not print:\n" \
                                    + "\n".join(missing) + f"\n--- printed:\n{printed}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def heading_anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: link to {target}: no such file"
        if anchor:
            assert anchor in heading_anchors(file), f"{page.name}: link to {target}: no such heading"


def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


def every_command(group: click.Group, path=()) -> list[tuple[tuple[str, ...], click.Command]]:
    context = click.Context(group)
    found = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
    return found


@pytest.mark.parametrize("path,command", every_command(main), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_help_ends_with_real_examples_and_its_page(path, command):
    help_text = CliRunner().invoke(main, [*path, "--help"]).output
    assert "Examples:" in help_text, f"sparana {' '.join(path)} --help has no examples"
    shown = help_text.split("Examples:", 1)[1].split("Reference:")[0]
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    assert len(lines) >= 1 and all(line.startswith(f"sparana {' '.join(path)}") for line in lines), lines
    for line in lines:
        for words in split_commands(line):
            assert not unknown_options(main, words), f"--help example names an option that does not exist: {line}"
    page = re.search(r"Reference: (docs/[\w.-]+\.md)", help_text).group(1)
    assert (ROOT / page).exists()
