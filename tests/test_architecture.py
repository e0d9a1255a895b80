"""Dependencies run one way: the library never imports the command line or the demo, and never picks a
matplotlib backend (that is the application's choice)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "clippan_kit"


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text())
    pkg = list(path.relative_to(PACKAGE.parent).parts[:-1])  # the package the file belongs to
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def test_library_never_imports_the_cli_or_the_demo():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli" or path.name == "__main__.py":
            continue
        bad = {m for m in _imports(path) if m.startswith(("clippan_kit.cli", "demo", "gradio"))}
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}


def test_no_library_module_sets_the_matplotlib_backend():
    users = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if p.relative_to(PACKAGE).parts[0] != "cli" and "matplotlib.use(" in p.read_text()]
    assert users == []


def test_the_import_scanner_sees_relative_imports():
    names = _imports(PACKAGE / "cli" / "__init__.py")
    assert "clippan_kit.cli.scene_commands" in names and "clippan_kit.errors.UsageError" in names
