"""Dependencies point one way: no import cycle inside coinsuper_cli (imports made only for
type checking aside), and nothing below the command line imports it."""
import ast
from pathlib import Path

import coinsuper_cli

PACKAGE = Path(coinsuper_cli.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every coinsuper_cli module that `path` imports, at the top or inside a function,
    except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rpartition(".")[0]
    found = set()
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", "") == "TYPE_CHECKING"
               for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("coinsuper_cli")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("coinsuper_cli"):
                continue
            found.add(target)
            # `from . import x` imports the module x
            found |= {f"{target}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_cycles():
    edges = graph()
    # The graph is read right: edges that exist are found, lazy imports included.
    assert {"coinsuper_cli.api.trades", "coinsuper_cli.api.payloads"} <= edges["coinsuper_cli.api.channels"]
    assert "coinsuper_cli.live.app" in edges["coinsuper_cli.cli.core"]
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_nothing_below_the_cli_imports_it():
    importers = [m for m, targets in graph().items() if "coinsuper_cli.cli.main" in targets
                 and m not in ("coinsuper_cli.__main__",)]
    assert importers == []
