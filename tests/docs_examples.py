"""The `sparana …` examples of README.md and docs/: found, checked against the command line, run.

A fenced block holds an example when a line of it starts with `sparana` (or `$ sparana`). A ```console
block is run: its `$ sparana …` lines one after the other in a sandbox, the lines under each being an
excerpt of what that command prints. Any other block holding an example must have `<!-- illustrative -->`
on the line before its fence; it is not run, but every command and option it names must exist.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
ILLUSTRATIVE = "<!-- illustrative -->"
PROGRAM = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:sparana|python -m sparana_cli)(?:\s|$)")
RUN_NAME = re.compile(r"\b(?:runs/)?([a-z0-9][a-z0-9_.-]*?)-(\d{8}-\d{6})(?:-\d+)?(?:\.tmp)?\b")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    info: str  # the fence's info string ("console", "sh", "")
    illustrative: bool
    lines: list[str] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        return self.info == "console" and not self.illustrative

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced block of a Markdown page, with its info string and whether it is marked illustrative."""
    blocks, current, previous, indent = [], None, "", 0
    for number, text in enumerate(page.read_text().splitlines(), 1):
        fence = text.lstrip().startswith("```")
        if current is None and fence:  # a fence may be indented (inside a list item), its lines with it
            indent = len(text) - len(text.lstrip())
            current = Block(page, number, text.strip()[3:].strip(), previous.strip() == ILLUSTRATIVE)
        elif current is not None and fence:
            blocks.append(current)
            current = None
        elif current is not None:
            current.lines.append(text[indent:] if text[:indent].isspace() else text)
        if text.strip():
            previous = text
    return blocks


def command_lines(block: Block) -> list[str]:
    """The sparana command lines of a block; in a synopsis, indented continuation lines are joined on."""
    commands = []
    for text in block.lines:
        stripped = text[2:] if text.startswith("$ ") else text
        if block.info == "console" and not text.startswith("$ "):
            continue
        if PROGRAM.match(stripped):
            commands.append(stripped)
        elif commands and text.startswith(" ") and block.info != "console" and stripped.strip().startswith("["):
            commands[-1] += " " + stripped.strip()
    return commands


def example_blocks() -> list[Block]:
    return [block for page in doc_pages() for block in fenced_blocks(page) if command_lines(block)]


def split_commands(line: str) -> list[list[str]]:
    """A command line's sparana invocations as argument lists (after `sparana`), comments and env prefixes dropped."""
    words = shlex.split(line, comments=True)
    invocations, current = [], None
    for word in words:
        if word in ("&&", "||", ";", "|"):
            current = None
            continue
        if current is None:
            if re.fullmatch(r"[A-Z_]+=\S*", word):
                continue
            if word == "sparana":
                current = []
                invocations.append(current)
            elif word == "python":
                current = "python"
            continue
        if current == "python":
            current = None if word != "-m" else "python -m"
            continue
        if current == "python -m":
            current = [] if word == "sparana_cli" else None
            if current is not None:
                invocations.append(current)
            continue
        current.append(word)
    return invocations


def synopsis_words(words: list[str]) -> list[str]:
    """Words of a synopsis or an example with brackets, bars and ellipses taken apart."""
    out = []
    for word in words:
        for part in re.split(r"[|\[\]]", word):
            part = part.strip("().,").removesuffix("...").removesuffix("…")
            if part:
                out.append(part)
    return out


def resolve(group: click.Group, words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """The command path the words name, the command, and the option names they use; unknown command -> ValueError."""
    context = click.Context(group)
    command, path, options = group, [], []
    for word in synopsis_words(words):
        if re.fullmatch(r"--[A-Za-z][\w-]*(=.*)?|-[A-Za-z]", word):  # "-metric" (a --sort value) is no option
            options.append((command, word.split("=", 1)[0]))
            continue
        if isinstance(command, click.Group) and not options:
            sub = command.get_command(context, word)
            if sub is not None:
                command, path = sub, [*path, word]
                continue
            if command is group and re.fullmatch(r"[a-z][a-z-]*", word):
                raise ValueError(f"no command 'sparana {word}'")
    return path, command, [name for _, name in options]


def option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def unknown_options(group: click.Group, words: list[str]) -> list[str]:
    """Options a command line names that its command (or the sparana group, given before it) does not have."""
    path, command, used = resolve(group, words)
    known = option_names(command) | option_names(group)
    return [name for name in used if name not in known]


def excerpt_pattern(line: str) -> re.Pattern:
    """A printed line as a pattern: numbers, run names, dates and rule lengths may differ; spacing may too."""
    pattern, position = "", 0
    token = re.compile(r"(?P<run>(?:runs/)?[a-z0-9][a-z0-9_.-]*?-\d{8}-\d{6}(?:-\d+)?(?:\.tmp)?)"
                       r"|(?P<number>[-+]?\d[\d.,:]*(?:e[-+]?\d+)?%?)"
                       r"|(?P<rule>-{3,})"
                       r"|(?P<space>\s+)")
    for match in token.finditer(line):
        pattern += re.escape(line[position:match.start()])
        kind = match.lastgroup
        pattern += {"run": r"\S+", "number": r"[-+]?(?:\d[\d.,:]*(?:e[-+]?\d+)?%?|-|nan|n/a)",
                    "rule": r"-+", "space": r"\s+"}[kind]
        position = match.end()
    pattern += re.escape(line[position:])
    return re.compile(pattern.strip())


def missing_excerpt_lines(expected: list[str], printed: str) -> list[str]:
    """The excerpt lines not found, in order, among the printed lines ("..." lines skip any number)."""
    lines = [line.strip() for line in printed.splitlines()]
    position, missing = 0, []
    for want in expected:
        if not want.strip() or want.strip() in ("...", "…"):
            continue
        pattern = excerpt_pattern(want.strip())
        for index in range(position, len(lines)):
            if pattern.fullmatch(lines[index]):
                position = index + 1
                break
        else:
            missing.append(want)
    return missing


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    """(command line, its excerpt lines) for each `$` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for text in block.lines:
        if text.startswith("$ "):
            steps.append((text[2:], []))
        elif steps:
            steps[-1][1].append(text)
    return steps


def substitute_runs(words: list[str], runs_dir: Path, mentioned: dict[str, list[str]]) -> list[str]:
    """A page's run names replaced by the sandbox's runs of the same kind, matched oldest to oldest.

    The names a page mentions of one kind (`mnist`, `mnist-forget`, …) are matched in the order of their
    times with the newest runs of that kind the sandbox holds, so "the first and second training" of a
    page are the sandbox's, whatever their timestamps.
    """
    out = []
    for word in words:
        match = RUN_NAME.search(word)
        if not match:
            out.append(word)
            continue
        kind, name = match.group(1), match.group(0).removeprefix("runs/")
        own = sorted(p.name for p in runs_dir.glob(f"{kind}-*") if RUN_NAME.fullmatch(p.name)
                     and RUN_NAME.fullmatch(p.name).group(1) == kind)
        names = sorted(mentioned[kind])
        chosen = own[len(own) - len(names) + names.index(name)] if len(own) >= len(names) else None
        if chosen is None:
            raise AssertionError(f"{word}: the sandbox has no {kind} run to stand for it ({own})")
        out.append(word.replace(match.group(0), str(Path("runs") / chosen) if word.startswith("runs/") else chosen))
    return out


def mentioned_runs(blocks: list[Block]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for block in blocks:
        for command, _ in console_steps(block):
            for match in RUN_NAME.finditer(command):
                kind_names = names.setdefault(match.group(1), [])
                name = match.group(0).removeprefix("runs/")
                if name not in kind_names:
                    kind_names.append(name)
    return names
