"""Print the import arrows between the project's top-level packages (files per arrow), module-level and in-function
imports alike: `python scripts/import_arrows.py [ROOT]`. tests/test_layers.py asserts that every arrow points down
(core <- trainables <- sweeps <- analysis / bench); this shows them, e.g. to compare two commits."""
from __future__ import annotations

import ast
import collections
import sys
from pathlib import Path

TOP = ("core", "trainables", "sweeps", "analysis", "bench")


def arrows(root: Path) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for top in TOP:
        for path in (root / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                for name in names:
                    head = name.split(".")[0]
                    if head in TOP and head != top:
                        found[(top, head)].add(str(path.relative_to(root)))
    return found


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    for (source, target), files in sorted(arrows(root).items()):
        print(f"{source} -> {target}: {len(files)} files")


if __name__ == "__main__":
    main()
