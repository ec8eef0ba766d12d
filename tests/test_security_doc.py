"""SECURITY.md stays true: every test it names as the proof of a defence exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def test_every_test_named_in_security_md_exists():
    references = REFERENCE.findall((ROOT / "SECURITY.md").read_text(encoding="utf-8"))
    assert len(references) >= 30
    missing = [f"{path}::{name}" for path, name in references
               if not (ROOT / path).is_file() or name not in defined_tests(ROOT / path)]
    assert missing == []


def test_the_reference_pattern_sees_a_missing_test(tmp_path):
    """The check above can fail: a name that is not in its file is reported."""
    (tmp_path / "test_x.py").write_text("def test_a():\n    pass\n")
    assert defined_tests(tmp_path / "test_x.py") == {"test_a"}
    assert "test_b" not in defined_tests(tmp_path / "test_x.py")
