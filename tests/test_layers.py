"""The folders are the layers: core <- trainables <- sweeps <- analysis <- groupsweep (the command) / bench. Every
import (module level or inside a function) points down or stays in its own package; an arrow up would let a low
layer change with a high one."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# what each package may import besides itself (bench measures through every layer, the analysis included)
MAY_IMPORT = {"core": set(), "trainables": {"core"}, "sweeps": {"core", "trainables"},
              "analysis": {"core", "trainables", "sweeps"}, "bench": {"core", "trainables", "sweeps", "analysis"},
              "groupsweep": {"core", "trainables", "sweeps", "analysis"}}


def imports(path: Path) -> set[str]:
    """The top-level packages a file imports (absolute imports; a relative import stays in its package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_import_points_down_the_layers():
    up = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            up += [f"{path.relative_to(ROOT)} imports {target}"
                   for target in sorted(imports(path) & set(MAY_IMPORT) - allowed - {package})]
    assert up == []


def test_core_needs_no_framework():
    """core is read by the driver's checks and the analysis: no torch, TensorFlow or Ray behind it."""
    heavy = {"torch", "torchvision", "tensorflow", "keras", "ray"}
    found = [f"{p.relative_to(ROOT)} imports {sorted(imports(p) & heavy)}"
             for p in sorted((ROOT / "core").rglob("*.py")) if imports(p) & heavy]
    assert found == []


def test_the_driver_checks_data_without_torch_tensorflow_or_ray(tmp_path):
    """The preflight's data checks (every kind of the demo's datasets: listing, counts, value ranges, class sizes)
    ask each kind's protocol (trainables.data.kinds) and import no framework."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from trainables.demo import generate_demo\n"
            "from core.course import all_groups, expand; from sweeps.preflight import check_data\n"
            f"facts = check_data(expand(all_groups()), generate_demo(Path({str(tmp_path)!r})), demo=True)\n"
            "print(len(facts), sorted(m for m in ('torch', 'tensorflow', 'ray') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.split("\n")[-2] == "9 []", done.stdout + done.stderr
