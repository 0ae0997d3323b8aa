"""What every run records about where it came from: versions, git commit, device, host (no torch)."""
from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("extrapbench", "torch", "torch_geometric", "fairchem-core", "matminer", "pymatgen", "numpy", "pandas",
            "scipy", "scikit-learn", "snakemake")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: str | Path = ".") -> dict[str, object]:
    def git(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def code_digest() -> str:
    """sha256 over the extrapbench package's Python source (each file's path and bytes, in path order): the code
    version a run was trained with, git or not, committed or not."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def provenance(device_text: str) -> dict[str, object]:
    """What every run records: versions, git commit, code digest, host, Python, and `device_text` (the run's
    device in words: extrapbench.device.device_description for a training run, "cpu" for a reference predictor).
    No torch here, so the reference predictors' jobs need none."""
    return {"versions": package_versions(), "git": git_commit(Path(__file__).resolve().parent),
            "code_sha256": code_digest(), "device": device_text, "host": platform.node(),
            "python": platform.python_version()}


#: sub-packages whose modules the registries import by name at run time (extrapbench.registry): code that imports
#: the registry depends on every one of their modules, though no import statement names them
PLUGIN_PACKAGES = ("backbones", "methods", "splits", "references")


def _without_docstrings(tree):
    import ast

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _parsed(path: Path):
    """(the AST of a Python file, without docstrings, as text; the file's own imports as (level, module, names))."""
    import ast

    tree = ast.parse(path.read_bytes(), str(path))
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
    return ast.dump(_without_docstrings(tree)), tuple(imports)


def _module_file(package: Path, dotted: list[str]) -> Path | None:
    """The file of module extrapbench.<dotted> (a module or a package's __init__), or None."""
    base = package.joinpath(*dotted)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if dotted and candidate.is_file():
            return candidate
    return package / "__init__.py" if not dotted else None


def code_closure(script: str | Path) -> list[Path]:
    """`script` and every extrapbench module it runs: the modules it imports, transitively (imports inside
    functions included: they run too), each package's __init__ on the way, and, where extrapbench.registry is
    among them, every module of PLUGIN_PACKAGES (the registries import those by name). Sorted, `script` first."""
    package = Path(__file__).resolve().parent
    script = Path(script).resolve()
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.parent == package and path.name == "registry.py":
            todo += [p for name in PLUGIN_PACKAGES for p in (package / name).rglob("*.py")]
        here = path.relative_to(package).parent.parts if path.is_relative_to(package) else None
        for level, module, names in _parsed(path)[1]:
            if level:
                if here is None:
                    continue  # a relative import outside the package: not extrapbench's code
                dotted = list(here[: len(here) - level + 1]) + (module.split(".") if module else [])
            elif module == "extrapbench" or module.startswith("extrapbench."):
                dotted = module.split(".")[1:]
            else:
                if here is None and (beside := path.parent / f"{module.split('.')[0]}.py").is_file():
                    todo.append(beside)  # a script's helper module in the script's own folder
                continue
            for depth in range(len(dotted) + 1):  # the packages on the way: their __init__ runs first
                found = _module_file(package, dotted[:depth])
                if found is not None:
                    todo.append(found)
            for name in names:  # `from extrapbench.data import graphs`: a module, when such a file exists
                found = _module_file(package, dotted + [name]) if name != "*" else None
                if found is not None:
                    todo.append(found)
    return [script] + sorted(seen - {script})


@functools.lru_cache(maxsize=None)
def script_code_digest(script: str | Path) -> str:
    """sha256 of the code a rule script runs (code_closure): each file's name and its syntax tree without comments
    or docstrings. The workflow's rules take it as a param, so that a rerun follows what the code does: an edited
    function a script uses reruns its jobs; a touched file, a fresh clone, an edited comment or docstring, or an
    edit in a module the script never imports reruns nothing. Code outside extrapbench (installed packages, a
    plug-in named by `class:` or an entry point) is not part of it."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in code_closure(script):
        name = path.relative_to(package).as_posix() if path.is_relative_to(package) else f"<script>/{path.name}"
        digest.update(name.encode() + b"\0" + _parsed(path)[0].encode() + b"\0")
    return digest.hexdigest()
