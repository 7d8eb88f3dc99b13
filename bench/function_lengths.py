"""The longest functions of the platform's code, for spotting what wants splitting: `python bench/function_lengths.py [N]`.

Prints lines and branch count (if/for/while/try/with/match/boolean operators) per function, longest first.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("mlops_site", "experiments", "registry", "deployments", "monitoring")
BRANCHES = (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.Match, ast.BoolOp, ast.IfExp, ast.comprehension)


def functions():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    branches = sum(isinstance(child, BRANCHES) for child in ast.walk(node))
                    yield lines, branches, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    rows = sorted(functions(), reverse=True)
    print(f"{'lines':>5} {'branches':>8}  function")
    for lines, branches, where in rows[:count]:
        print(f"{lines:>5} {branches:>8}  {where}")
    print(f"{len(rows)} functions; {sum(1 for r in rows if r[0] > 60)} longer than 60 lines")


if __name__ == "__main__":
    main()
