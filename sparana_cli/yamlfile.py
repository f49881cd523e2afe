"""YAML read safely: safe_load with duplicate keys refused and nesting and alias expansion bounded.

Every YAML text sparana reads (spec files, KEY=VALUE overrides, a run's spec.yaml, sweep axes,
--where) goes through `parse_yaml`, so none of them can hide a duplicate key ("the last wins"),
expand a few hundred bytes of aliases into gigabytes when the result is copied, or nest deeply
enough to exhaust the interpreter's stack.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sparana_cli.errors import UserError

MAX_DEPTH = 64  # nesting levels; a spec needs 4
MAX_NODES = 100_000  # values once every alias is expanded; a spec has about 100


@functools.cache
def _loader() -> type:
    """libyaml's safe loader when PyYAML has it (about ten times faster), refusing a key given twice in a mapping."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = self.construct_object(key_node)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} given twice (remove one)", key_node.start_mark)
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def parse_yaml(text: str, source: str) -> Any:
    """The value of a YAML text; anything malformed, duplicated, too deep or too large is a UserError naming `source`."""
    import yaml

    try:
        value = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{source}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise UserError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)") from None
    except (ValueError, TypeError, OverflowError) as err:  # a tag whose text is not its type: !!float 1e-3x, !!int 9x
        raise UserError(f"{source}: not valid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    check_size(value, source)
    return value


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with parse_yaml; a missing or unreadable file is a one-line UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({err.__class__.__name__}: {err})") from None
    return parse_yaml(text, str(path))


def check_size(value: Any, source: str) -> None:
    """Refuse a value nested more than MAX_DEPTH levels, or of more than MAX_NODES values with aliases expanded.

    Aliases make the loaded value a graph whose parts are shared: sizes are memoised per object,
    so a bomb is measured in time linear in its text, never expanded. A value that contains
    itself (a recursive alias) is too deep.
    """
    memo: dict[int, tuple[int, int]] = {}  # id -> (expanded values, height)

    def measure(item: Any, depth: int) -> tuple[int, int]:
        if not isinstance(item, (dict, list)):
            return 1, 0
        known = memo.get(id(item))
        if known is None:
            if depth >= MAX_DEPTH:
                raise UserError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels, or an alias that contains "
                                "itself)")
            parts = [p for pair in item.items() for p in pair] if isinstance(item, dict) else item
            sizes = [measure(p, depth + 1) for p in parts]
            known = memo[id(item)] = (1 + sum(s for s, _ in sizes), 1 + max((h for _, h in sizes), default=0))
        if depth + known[1] > MAX_DEPTH:
            raise UserError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)")
        if known[0] > MAX_NODES:
            raise UserError(f"{source}: expands to {known[0]:,} values (aliases included), more than the "
                            f"{MAX_NODES:,} a spec may hold")
        return known

    measure(value, 0)
