"""Dependencies point one way. The folders of coinsuper_cli are its layers, and a module
imports only from its own package or from a layer below (imports made only for type
checking aside): the table below is the architecture, and the README's "Design" says it
in words. No import cycle, and no underscore name used outside the module that has it."""
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


# Each top-level package or module of coinsuper_cli, by layer: lowest first. Packages on
# one line are siblings, which must not import each other either.
LAYERS = (
    ("mqtt",),                                   # the MQTT 3.1.1 codec and session, sans-I/O
    ("errors",),                                 # every failure a user can hit; exit codes
    ("printable", "signals", "urls"),            # text, signals and URLs, shared by all
    ("api",),                                    # the exchange: facts, records, parsers
    ("net", "recordings", "output", "markets"),  # connections, files, text out, the board
    ("relay", "sandbox"),                        # the relay's targets; the simulated exchange
    ("live",),                                   # the rich views, and their run loops
    ("cli",),                                    # Click, and what each command does
    ("__main__",),                               # python -m coinsuper_cli
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def wrong_way(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports of a layer that is not below the importer's (the package's own
    __init__, which holds only the version, is below everything)."""
    return sorted((module, target) for module, targets in edges.items()
                  for target in targets
                  if layer(target) and layer(module) != layer(target)
                  and RANK[layer(target)] >= RANK[layer(module)])


def test_every_part_of_the_package_has_a_layer():
    parts = {layer(module) for module in graph()} - {""}
    assert parts == set(RANK)


def test_imports_point_down_the_layers():
    assert wrong_way(graph()) == []


def test_a_lower_layer_importing_a_higher_one_is_caught():
    edges = graph()
    edges["coinsuper_cli.api.stream"] = edges["coinsuper_cli.api.stream"] | {
        "coinsuper_cli.net.runner"}
    edges["coinsuper_cli.net.plans"] = edges["coinsuper_cli.net.plans"] | {
        "coinsuper_cli.recordings.replay"}  # a sibling
    assert wrong_way(edges) == [("coinsuper_cli.api.stream", "coinsuper_cli.net.runner"),
                                ("coinsuper_cli.net.plans", "coinsuper_cli.recordings.replay")]


def private_uses(path: Path) -> list[str]:
    """Underscore names of coinsuper_cli modules that `path` imports or reads as a
    module's attribute (`from x import _y`, `x._y` where x is an imported module)."""
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                "coinsuper_cli")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names
                        if a.name.startswith("coinsuper_cli")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name) \
                and node.value.id in modules:
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_underscore_name_is_used_outside_its_module():
    tests = Path(__file__).parent
    uses = {str(path): private_uses(path)
            for path in [*PACKAGE.rglob("*.py"), *tests.glob("*.py")]}
    assert {path: names for path, names in uses.items() if names} == {}


def test_a_private_use_is_caught(tmp_path):
    path = tmp_path / "user.py"
    path.write_text("from coinsuper_cli.output.sinks import _text\n"
                    "from coinsuper_cli.api import payloads\nx = payloads._decimal\n")
    assert private_uses(path) == ["coinsuper_cli.output.sinks._text", "payloads._decimal"]


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


