"""The per-rule conda environments (envs/*.yaml, used with `snakemake --sdm conda`), checked without conda.

A static check: every rule names an env file that exists and parses; the env pins (with ==) every third-party
package that the rule's script imports, following its imports through scripts/ and the extrapbench package
(including the modules a registry lookup loads); every pin agrees with requirements.txt (the versions `make
test` runs); and the post-deploy scripts install the repository's extrapbench into the env, also when run the
way Snakemake runs them (a copy under .snakemake/conda/, from the working directory). Then the imports are followed
into the third-party packages (fairchem-core, installed without its dependencies, above all): every distribution
reached must be pinned by the env or required by a pin.

Slow and opt-in (`make test-envs`, EXTRAPBENCH_TEST_ENVS=1): each env file built as a venv without conda (cached by
its hash), its post-deploy script run in it, and every module its rules import imported there, with tiny PaiNN,
EquiformerV2 and SchNet models run forward and backward.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import os
import re
import shutil
import stat
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ENVS = REPO / "envs"
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk")) + [REPO / "workflow" / "Snakefile"]
PACKAGE = "extrapbench"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------------------------
# rules -> (env file, script, input text), parsed from the rule files
# ---------------------------------------------------------------------------------------------------------------
def _directive(body: str, name: str) -> str | None:
    """The text of one rule directive (its indented block), or None."""
    match = re.search(rf"^    {name}:(.*?)(?=^    \w+:|\Z)", body, re.S | re.M)
    return match.group(1) if match else None


def _quoted(text: str | None) -> str | None:
    match = re.search(r"[\"']([^\"']+)[\"']", text or "")
    return match.group(1) if match else None


@lru_cache(maxsize=None)
def rules() -> dict:
    """rule name -> its file, conda env, script and input text; `use rule A as B with:` inherits A's and
    overrides what its with-block sets."""
    found = {}
    for path in RULE_FILES:
        text = path.read_text()
        for match in re.finditer(r"^(?:rule (\w+)|use rule (\w+) as (\w+)(?: with)?):\n?(.*?)(?=^\S|\Z)",
                                 text, re.S | re.M):
            name, base, alias, body = match.groups()
            entry = dict(found[base]) if base else {"file": path, "conda": None, "script": None, "input": ""}
            conda, script = _quoted(_directive(body, "conda")), _quoted(_directive(body, "script"))
            if conda:
                entry["conda"] = (path.parent / conda).resolve()
            if script:
                entry["script"] = (path.parent / script).resolve()
            if _directive(body, "input") is not None:
                entry["input"] = _directive(body, "input")
            found[alias or name] = entry
    return found


def listed_rules() -> set[str]:
    """The rules Snakemake itself lists for the demo config (first word of each unindented line)."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "--configfile",
                             str(REPO / "config" / "demo.yaml")], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return {line.split()[0] for line in result.stdout.splitlines() if line.strip() and not line[0].isspace()}


def job_rules() -> dict:
    """Rules that run code (all but the `all` target)."""
    return {name: rule for name, rule in rules().items() if rule["script"] is not None}


def test_rule_parser_sees_every_rule():
    listed = listed_rules()
    assert listed == set(rules()), (listed, set(rules()))
    assert set(rules()) - set(job_rules()) == {"all"}


@pytest.mark.parametrize("rule", sorted(job_rules()))
def test_every_rule_names_an_existing_env(rule):
    env = job_rules()[rule]["conda"]
    assert env is not None, f"rule {rule} has no conda: directive"
    assert env.parent == ENVS and env.suffix == ".yaml" and env.exists(), env


# ---------------------------------------------------------------------------------------------------------------
# env files and pins
# ---------------------------------------------------------------------------------------------------------------
def parse_pins(lines, where) -> dict:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        assert match, f"{where}: {line!r} is not pinned as name==version"
        pins[canonical(match.group(1))] = match.group(2)
    return pins


@lru_cache(maxsize=None)
def requirement_pins() -> dict:
    return parse_pins((REPO / "requirements.txt").read_text().splitlines(), "requirements.txt")


def makefile_pin(package: str) -> str:
    match = re.search(rf"{re.escape(package)}==([\w.]+)", (REPO / "Makefile").read_text())
    assert match, f"the Makefile installs no pinned {package}"
    return match.group(1)


@lru_cache(maxsize=None)
def env(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    assert isinstance(spec, dict) and set(spec) <= {"name", "channels", "dependencies"}, path
    conda, pip = [], []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, (path, dep)
            pip += dep["pip"]
        else:
            conda.append(dep)
    post_deploy = path.with_name(path.stem + ".post-deploy.sh")
    pins = parse_pins(pip, path.name)
    if post_deploy.exists():  # what the post-deploy script installs with pip counts as in the env
        pins.update(parse_pins(re.findall(r"pip install --no-deps ([\w.-]+==[\w.]+)", post_deploy.read_text()),
                               post_deploy.name))
    return {"spec": spec, "conda": conda, "pins": pins, "post_deploy": post_deploy}


ENV_FILES = sorted(ENVS.glob("*.yaml"))


def test_env_files_exist_and_are_all_used():
    assert ENV_FILES
    assert {rule["conda"] for rule in job_rules().values()} == set(ENV_FILES)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_pinned_and_agrees_with_requirements(path):
    spec = env(path)
    assert spec["spec"]["channels"] == ["conda-forge", "nodefaults"], "one channel: reproducible solves"
    python = [dep for dep in spec["conda"] if dep.startswith("python")]
    project_python = re.search(r"^PYTHON \?= python(3\.\d+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert python == [f"python={project_python}"], f"{path.name}: python must be pinned like the Makefile's"
    assert set(spec["conda"]) == {f"python={project_python}", "pip"}, "everything else comes from pip, pinned"
    required = requirement_pins()
    for package, version in spec["pins"].items():
        if package == "fairchem-core":  # installed with --no-deps by the Makefile, not from requirements.txt
            assert version == makefile_pin("fairchem-core"), (path.name, package, version)
            continue
        assert package in required, f"{path.name} pins {package}, which requirements.txt does not"
        assert version == required[package], (f"{path.name} pins {package}=={version}, requirements.txt "
                                              f"{required[package]}")


# ---------------------------------------------------------------------------------------------------------------
# what each rule imports
# ---------------------------------------------------------------------------------------------------------------
def _module_file(module: str) -> Path | None:
    """The file of an extrapbench module (package __init__ or plain module), None if there is none."""
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@lru_cache(maxsize=None)
def registry_packages() -> dict:
    """Registry object name -> the package whose modules a lookup in it imports (extrapbench.registry)."""
    tree = ast.parse((REPO / PACKAGE / "registry.py").read_text())
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "Registry"):
            found[node.targets[0].id] = node.value.args[1].value
    assert found, "no Registry(...) objects found in extrapbench/registry.py"
    return found


def _optional(node, parents) -> bool:
    """An import inside `try: ... except ImportError/ModuleNotFoundError` is optional."""
    for parent in parents:
        if isinstance(parent, ast.Try) and any(node in ast.walk(stmt) for stmt in parent.body):
            caught = {getattr(h.type, "id", None) for h in parent.handlers}
            if caught & {"ImportError", "ModuleNotFoundError"}:
                return True
    return False


def imports_of(path: Path) -> dict[str, bool]:
    """Every module a file imports, at any depth, as dotted names -> lazy (True when only imported inside a
    function, i.e. needed only if that function runs)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents, out = {}, {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent

    def chain(node):
        while node in parents:
            node = parents[node]
            yield node

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside extrapbench
                package = path.parent.relative_to(REPO).parts
                base = ".".join(package[:len(package) - node.level + 1] + ((node.module,) if node.module else ()))
            else:
                base = node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            if base == f"{PACKAGE}.registry":
                names += [f"{registry_packages()[alias.name]}.*" for alias in node.names
                          if alias.name in registry_packages()]
        else:
            continue
        ancestors = list(chain(node))
        if _optional(node, ancestors):
            continue
        lazy = any(isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for a in ancestors)
        for name in names:
            out[name] = out.get(name, True) and lazy
    return out


def reachable_imports(script: Path) -> dict[str, bool]:
    """Third-party modules (dotted names as imported, e.g. ``fairchem.core.models.painn.painn``) that a rule
    script imports through scripts/ and extrapbench -> lazy (True when every path to it passes through an import
    inside a function)."""
    return _scan(script)[0]


def reachable_local_modules(script: Path) -> dict[str, bool]:
    """The extrapbench modules (and scripts/ helpers) a rule script imports -> lazy."""
    out = {}
    for path, lazy in _scan(script)[1].items():
        if path == script:
            continue
        if path.parent == script.parent:
            out[path.stem] = lazy
        else:
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = lazy
    return out


@lru_cache(maxsize=None)
def _scan(script: Path) -> tuple[dict[str, bool], dict[Path, bool]]:
    visited: dict[Path, bool] = {}
    third_party: dict[str, bool] = {}
    todo = [(script, False)]
    local_dir = script.parent
    while todo:
        path, lazy = todo.pop()
        if path in visited and (visited[path] is False or lazy):
            continue  # already seen as strictly (or as lazily) reached
        visited[path] = lazy
        for module, lazy_import in imports_of(path).items():
            reach = lazy or lazy_import
            top = module.split(".")[0]
            if top == PACKAGE:
                if module.endswith(".*"):  # a registry lookup: any module of that package may be imported
                    package_dir = REPO.joinpath(*module[:-2].split("."))
                    todo += [(p, reach) for p in package_dir.glob("*.py")]
                    continue
                parts = module.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, a/b/c
                    file = _module_file(".".join(parts[:i]))
                    if file:
                        todo.append((file, reach))
            elif (local_dir / f"{top}.py").exists():  # a helper module beside the script
                todo.append((local_dir / f"{top}.py", reach))
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            else:
                third_party[module] = third_party.get(module, True) and reach
    return third_party, visited


@lru_cache(maxsize=None)
def _packages_distributions() -> dict:
    return metadata.packages_distributions()


def distribution_of(top: str, where: str) -> str:
    """The installed distribution (canonical name) that provides a top-level module. Where several provide one
    (pymatgen and pymatgen-core both ship `pymatgen`), the one named like the module is taken, else the first."""
    dists = [canonical(d) for d in _packages_distributions().get(top, [])]
    assert dists, f"{where}: imports {top!r}, which no installed distribution provides"
    return canonical(top) if canonical(top) in dists else dists[0]


def reachable_distributions(script: Path) -> dict[str, bool]:
    """Third-party distributions (canonical names) a rule script imports directly through scripts/ and
    extrapbench -> lazy (see reachable_imports)."""
    out: dict[str, bool] = {}
    for module, lazy in reachable_imports(script).items():
        dist = distribution_of(module.split(".")[0], str(script))
        out[dist] = out.get(dist, True) and lazy
    return out


def test_import_scan_follows_registries_and_lazy_imports():
    """The scan itself: train reaches fairchem (imported inside PaiNN's constructor) through BACKBONES."""
    train = reachable_distributions(job_rules()["train"]["script"])
    assert {"torch", "torch-geometric", "fairchem-core", "numpy", "pandas"} <= set(train)
    assert train["fairchem-core"] is True and train["torch"] is False  # lazy / module-level
    plot = reachable_distributions(job_rules()["plot_parity"]["script"])
    assert "matplotlib" in plot and "torch" not in plot


# the real run-time dependencies of fairchem-core (installed --no-deps): requirements.txt lists them right after a
# comment saying so (up to the next comment); an env that installs fairchem-core needs them too
def fairchem_runtime_deps() -> set[str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "fairchem-core 1.10.0 is installed with --no-deps" in line)
    block = []
    for line in lines[start + 1:]:
        if line.startswith("#") and block:
            break
        if "==" in line:
            block.append(line)
    assert block
    return set(parse_pins(block, "requirements.txt"))


# Imports inside a function that the rules of an env never call: (env file, distribution) -> why. Only lazy
# imports can be excused here; a module-level import is always needed.
LAZY_NOT_NEEDED = {
    ("report.yaml", "matminer"): "extrapbench.data imports matminer inside load_matminer_dataset and "
                                 "dataset_file_name only; report rules use its write_atomic",
    ("report.yaml", "pymatgen"): "extrapbench.data reaches extrapbench.ane_data (pymatgen) only inside "
                                 "load_dataset_table, which only the download rule calls",
    ("report.yaml", "tqdm"): "extrapbench.ane_data's download progress bar, reached only from load_dataset_table",
}


@pytest.mark.parametrize("rule", sorted(job_rules()))
def test_env_provides_what_the_rule_imports(rule):
    spec = job_rules()[rule]
    env_name = spec["conda"].name
    pins = env(spec["conda"])["pins"]
    needed = reachable_distributions(spec["script"])
    if "fairchem-core" in needed:
        needed.update({dist: needed["fairchem-core"] for dist in fairchem_runtime_deps()})
    if "results/datasets/" in spec["input"]:  # the dataset tables hold pymatgen Structures (as dicts, read by pymatgen)
        needed["pymatgen"] = False
    missing = sorted(dist for dist, lazy in needed.items()
                     if dist not in pins and not (lazy and (env_name, dist) in LAZY_NOT_NEEDED))
    assert not missing, (f"rule {rule}: {env_name} lacks {missing}, which {spec['script'].name} imports "
                         f"(through extrapbench; lazily: {[d for d in missing if needed[d]]})")


# ---------------------------------------------------------------------------------------------------------------
# following the imports into the third-party packages (fairchem's chain above all)
# ---------------------------------------------------------------------------------------------------------------
# fairchem-core 1.10 is installed with --no-deps, so nothing but this check (and the slow build below) makes sure
# that what its modules import is in the env: pydantic, which fairchem/core/models/model_registry.py imports at
# module level, was missing from torch.yaml and present in the project's venv only through snakemake. Every other
# distribution is installed with its declared dependencies, which pip resolves; following its imports too catches
# an undeclared one. The static follow reads each reached module's source (never imports it) and follows its
# module-level imports that are not optional (inside try/except ImportError, under `if TYPE_CHECKING:`); imports
# inside functions of third-party code are not followed (the build test runs the code that needs them).
#
# Not walked into (still checked to be in the env when reached): packages whose import graphs are large and full
# of optional or platform branches, all installed from wheels with their declared dependencies; the build test
# imports them for real.
NOT_WALKED = {"torch", "numpy", "scipy", "sympy", "mpmath", "pandas", "matplotlib"}
# installed without their dependencies (Makefile, post-deploy scripts): their declared requirements are not in the
# env, so the env's closure does not include them
INSTALLED_WITHOUT_DEPS = {"fairchem-core", PACKAGE}


@lru_cache(maxsize=None)
def locate(module: str) -> tuple[str | None, tuple[Path, ...]] | None:
    """Where an installed module's source is, without importing it (importing fairchem costs seconds and would
    run its code): (its .py file, or None for an extension module or a namespace package; its package
    directories, empty for a plain module), or None when nothing provides it."""
    parent, _, name = module.rpartition(".")
    if not parent:
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is None:
            return None
        origin = spec.origin if spec.has_location and str(spec.origin).endswith(".py") else None
        return origin, tuple(Path(p) for p in spec.submodule_search_locations or ())
    found = locate(parent)
    if found is None or not found[1]:
        return None
    portions = []
    for directory in found[1]:
        if (directory / name / "__init__.py").is_file():
            return str(directory / name / "__init__.py"), (directory / name,)
        if (directory / f"{name}.py").is_file():
            return str(directory / f"{name}.py"), ()
        if any(directory.glob(f"{name}.*.so")) or (directory / f"{name}.so").is_file():
            return None, ()
        if (directory / name).is_dir():
            portions.append(directory / name)
    return (None, tuple(portions)) if portions else None


def _optional_or_lazy(node, ancestors) -> bool:
    """True for an import a module runs only if something else holds: inside a function, inside `try:` with an
    ImportError (or broader) handler, or under `if TYPE_CHECKING:`."""
    for parent in ancestors:
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
        if isinstance(parent, ast.Try) and any(node in ast.walk(stmt) for stmt in parent.body):
            caught = set()
            for handler in parent.handlers:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught |= {None if t is None else getattr(t, "id", getattr(t, "attr", None)) for t in types}
            if caught & {None, "ImportError", "ModuleNotFoundError", "Exception", "BaseException"}:
                return True
        if (isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test)
                and any(node in ast.walk(stmt) for stmt in parent.body)):
            return True
    return False


@lru_cache(maxsize=None)
def module_level_imports(module: str) -> tuple[str, ...]:
    """The modules an installed module imports when it is imported (dotted names; a `from a import b` gives both
    a and a.b, of which a.b may be a name rather than a module)."""
    found = locate(module)
    if found is None or found[0] is None:
        return ()
    file, package_dirs = found
    tree = ast.parse(Path(file).read_bytes(), filename=file)
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    package = module if package_dirs else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        else:
            continue
        ancestors, current = [], node
        while current in parents:
            current = parents[current]
            ancestors.append(current)
        if not _optional_or_lazy(node, ancestors):
            out += names
    return tuple(out)


def follow_imports(entries) -> dict[str, list[str]]:
    """Installed distributions (canonical names) that importing `entries` (third-party module names) reaches,
    following module-level imports through every distribution but NOT_WALKED -> one import chain that reaches
    it (for the error message). A module no installed distribution provides is not followed: this venv imports
    these chains (make test builds PaiNN and EquiformerV2), so it is an optional or platform import."""
    reached: dict[str, list[str]] = {}
    chain_to: dict[str, list[str]] = {}
    todo = [(module, [module]) for module in sorted(entries)]
    while todo:
        module, chain = todo.pop(0)
        if module in chain_to:
            continue
        chain_to[module] = chain
        parts = module.split(".")
        top = parts[0]
        if top in sys.stdlib_module_names or top == "__future__" or top == PACKAGE or locate(top) is None:
            continue
        dists = _packages_distributions().get(top)
        if not dists:
            continue  # a module outside any distribution (e.g. a vendored one on sys.path): nothing to pin
        reached.setdefault(distribution_of(top, module), chain)
        if top in NOT_WALKED:
            continue
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, a/b/c
            prefix = ".".join(parts[:i])
            if locate(prefix) is None:
                break  # `from a import name`: a.name is not a module
            todo += [(name, chain + [name]) for name in module_level_imports(prefix) if name not in chain_to]
    return reached


@lru_cache(maxsize=None)
def env_closure(path: Path) -> frozenset[str]:
    """Every distribution an env holds: its pins, the extrapbench its post-deploy script installs, and what they
    require (their installed metadata here, the same versions; markers for this Python and platform, no extras),
    except for the packages installed without dependencies."""
    from packaging.requirements import Requirement

    todo = list(env(path)["pins"]) + [PACKAGE, "pip"]
    closure: set[str] = set()
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        if name in INSTALLED_WITHOUT_DEPS:
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{path.name}: {name} is not installed here (make setup), so what it requires is "
                                 "unknown") from None
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return frozenset(closure)


def rule_entry_modules(rule: str) -> list[str]:
    """The third-party modules a rule's script imports through extrapbench, less the lazy imports its env is
    excused from (LAZY_NOT_NEEDED)."""
    spec = job_rules()[rule]
    env_name = spec["conda"].name
    return sorted(module for module, lazy in reachable_imports(spec["script"]).items()
                  if not (lazy and (env_name, distribution_of(module.split(".")[0], rule)) in LAZY_NOT_NEEDED))


def test_import_following_reaches_fairchems_dependencies():
    """The follow itself: from the modules PaiNN's and EquiformerV2's constructors import, it reaches pydantic
    (fairchem's model_registry), huggingface_hub and ase (fairchem's modules), e3nn (EquiformerV2's), and
    torch_geometric's own imports (psutil, xxhash)."""
    reached = follow_imports(["fairchem.core.models.painn.painn", "fairchem.core.models.equiformer_v2.equiformer_v2"])
    assert {"fairchem-core", "torch", "torch-geometric", "pydantic", "e3nn", "huggingface-hub", "psutil", "xxhash",
            "ase"} <= set(reached), sorted(reached)
    assert "fairchem.core.models.model_registry" in reached["pydantic"]
    assert "snakemake" not in reached


@pytest.mark.parametrize("rule", sorted(job_rules()))
def test_env_provides_what_the_rule_imports_through_third_party_code(rule):
    spec = job_rules()[rule]
    closure = env_closure(spec["conda"])
    reached = follow_imports(rule_entry_modules(rule))
    missing = {dist: chain for dist, chain in reached.items() if dist not in closure}
    assert not missing, "\n".join(
        [f"rule {rule}: {spec['conda'].name} lacks (neither pinned nor required by a pin):"]
        + [f"  {dist}: {' -> '.join(chain)}" for dist, chain in sorted(missing.items())])


# ---------------------------------------------------------------------------------------------------------------
# post-deploy scripts
# ---------------------------------------------------------------------------------------------------------------
POST_DEPLOY = sorted(ENVS.glob("*.post-deploy.sh"))


def test_every_env_has_a_post_deploy_script():
    assert [p.name.replace(".post-deploy.sh", ".yaml") for p in POST_DEPLOY] == [p.name for p in ENV_FILES]


def run_post_deploy(script: Path, cwd: Path, tmp_path: Path, **env_vars):
    """Run a post-deploy script with a fake pip that records its arguments; returns (result, pip calls)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    log = tmp_path / "pip.log"
    log.write_text("")
    pip = fake_bin / "pip"
    pip.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    pip.chmod(pip.stat().st_mode | stat.S_IEXEC)
    environment = {k: v for k, v in os.environ.items() if k != "EXTRAPBENCH_REPO"}
    environment.update(PATH=f"{fake_bin}:{environment['PATH']}", **env_vars)
    result = subprocess.run(["bash", str(script)], cwd=cwd, env=environment, capture_output=True, text=True,
                            timeout=60)
    return result, log.read_text().splitlines()


def snakemake_copy(script: Path, workdir: Path) -> Path:
    """Where Snakemake puts the script before running it: <conda-prefix>/<env hash>.post-deploy.sh
    (snakemake/deployment/conda.py: copy_permission_safe(deploy_file, env_path + '.post-deploy.sh'))."""
    target = workdir / ".snakemake" / "conda" / "0123456789abcdef0123456789abcdef_.post-deploy.sh"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(script, target)
    return target


@pytest.mark.parametrize("script", POST_DEPLOY, ids=lambda p: p.name)
def test_post_deploy_installs_the_repository_as_snakemake_runs_it(script, tmp_path):
    expected = [f"install --no-deps -e {REPO}"]
    if script.name == "torch.post-deploy.sh":
        expected.append(f"install --no-deps fairchem-core=={makefile_pin('fairchem-core')}")
    # snakemake run from the repository: the copy lies in REPO/.snakemake/conda/, cwd is the repository
    copy = snakemake_copy(script, tmp_path / "work")
    result, calls = run_post_deploy(copy, REPO, tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == expected
    # snakemake --directory elsewhere: only EXTRAPBENCH_REPO can say where the repository is
    result, calls = run_post_deploy(copy, tmp_path / "work", tmp_path, EXTRAPBENCH_REPO=str(REPO))
    assert result.returncode == 0, result.stderr
    assert calls == expected
    result, calls = run_post_deploy(copy, tmp_path / "work", tmp_path)
    assert result.returncode != 0 and not calls
    assert "EXTRAPBENCH_REPO" in result.stderr
    # run in place (by hand), from anywhere
    result, calls = run_post_deploy(script, tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == expected


# ---------------------------------------------------------------------------------------------------------------
# the envs built for real (slow, opt-in: make test-envs, or EXTRAPBENCH_TEST_ENVS=1)
# ---------------------------------------------------------------------------------------------------------------
# Without conda: a venv per env file (no --system-site-packages, no user site) gets the env's pip list from the
# registry, then the env's post-deploy script runs in it as Snakemake runs it (its `pip` first on PATH, from the
# repository), then a fresh interpreter of that venv imports every module the env's rules import (extrapbench's
# and the third-party ones, fairchem's PaiNN and EquiformerV2 modules included) and runs a little of what they
# do: tiny PaiNN / EquiformerV2 / SchNet models built, forward and backward on two structures (torch), Magpie
# features and a split (data), a figure (report). Venvs are cached under $EXTRAPBENCH_ENV_CACHE (default
# ~/.cache/extrapbench/test-envs), one per env file keyed by the hash of the env file, its post-deploy script
# and the Python version: a changed env file builds a new one. Snakemake's own preamble appends the submitting
# installation's sys.path to an env's (as a fallback for unpickling its `snakemake` object), which would hide a
# missing package on one machine; these venvs have nothing of the sort.
BUILD_ENVS = os.environ.get("EXTRAPBENCH_TEST_ENVS") == "1"
ENV_CACHE = Path(os.environ.get("EXTRAPBENCH_ENV_CACHE") or Path.home() / ".cache" / "extrapbench" / "test-envs")


def clean_environment(venv: Path | None = None) -> dict:
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "EXTRAPBENCH_REPO", "CONDA_PREFIX"}}
    environment["PYTHONNOUSERSITE"] = "1"
    if venv is not None:
        environment.update(PATH=f"{venv / 'bin'}:{environment['PATH']}", VIRTUAL_ENV=str(venv))
    return environment


def env_venv(path: Path) -> Path:
    """The venv of one env file, built once (see above); its build log and `pip freeze` lie beside it."""
    spec = env(path)
    digest = hashlib.sha256(path.read_bytes() + spec["post_deploy"].read_bytes()
                            + f"{sys.version_info[0]}.{sys.version_info[1]}".encode()).hexdigest()[:16]
    venv = ENV_CACHE / f"{path.stem}-{digest}"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    pip_lines = [dep for entry in spec["spec"]["dependencies"] if isinstance(entry, dict)
                 for dep in entry["pip"]]
    log = []
    for command, cwd, venv_env in (([sys.executable, "-m", "venv", str(venv)], REPO, None),
                                   ([str(venv / "bin" / "python"), "-m", "pip", "install", *pip_lines], REPO, venv),
                                   (["bash", str(spec["post_deploy"])], REPO, venv)):
        result = subprocess.run(command, cwd=cwd, env=clean_environment(venv_env), capture_output=True, text=True,
                                timeout=3600)
        log.append(f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}")
        (venv.parent / f"{venv.name}.log").write_text("\n".join(log))
        assert result.returncode == 0, f"{path.name}: {' '.join(command)} failed:\n{result.stderr[-3000:]}"
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], env=clean_environment(venv),
                            capture_output=True, text=True, check=True)
    (venv / "freeze.txt").write_text(freeze.stdout)
    (venv / ".complete").write_text("")
    return venv


# what each env's interpreter runs after the imports: a little of what its rules do
EXERCISE = {
    "torch.yaml": r'''
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch
from extrapbench.data.graphs import build_graphs
from extrapbench.registry import BACKBONES
structures = [Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
              Structure(Lattice.cubic(3.6), ["Cu", "Cu", "O", "O"], [[0, 0, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.25],
                                                                  [0.75, 0.75, 0.75]])]
tiny = {"painn": dict(hidden_channels=16, num_layers=1, num_rbf=8, cutoff=5.0, max_neighbors=12),
        "equiformer_v2": dict(cutoff=5.0, max_neighbors=12, num_layers=1, sphere_channels=8, attn_hidden_channels=8,
                              num_heads=2, attn_alpha_channels=4, attn_value_channels=4, ffn_hidden_channels=8,
                              edge_channels=8, lmax_list=[1], mmax_list=[1], alpha_drop=0.0, drop_path_rate=0.0),
        "schnet": dict(hidden_channels=16, num_filters=16, num_interactions=1, num_gaussians=8, cutoff=5.0,
                       max_neighbors=12)}
for name, settings in tiny.items():
    torch.manual_seed(0)
    model = BACKBONES.get(name)(**settings)
    batch = Batch.from_data_list(build_graphs(structures, model.cutoff, model.max_neighbors, progress=False))
    out = model(batch)
    assert out.shape == (2, model.out_dim) and torch.isfinite(out).all(), (name, out.shape)
    out.square().mean().backward()
    report[name] = f"forward + backward, {sum(p.numel() for p in model.parameters())} parameters"
''',
    "data.yaml": r'''
import pandas as pd
from extrapbench.data.features import magpie_features
from extrapbench.registry import SPLITS
features = magpie_features(pd.Series(["NaCl", "Fe2O3"], index=["a", "b"]))
assert features.shape[0] == 2 and features.notna().all().all(), features
table = pd.DataFrame({"target": [float(i) for i in range(40)],
                      "composition": ["NaCl", "KCl", "LiFePO4", "Fe2O3"] * 10}, index=[f"m{i:02d}" for i in range(40)])
for kind, params in (("range", {"side": "top"}), ("random", {}), ("random", {"fold": 0}),
                     ("element_count", {}), ("held_out_elements", {"elements": ["Fe"]})):
    parts = SPLITS.get(kind)(table, **params)
    assert all(parts[p] for p in ("train", "val", "test")), (kind, parts)
report["magpie"] = f"{features.shape[1]} features"
report["splits"] = "range, random (fractions and fold 0), element_count, held_out_elements"
''',
    "report.yaml": r'''
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import os, tempfile
figure, axis = plt.subplots()
axis.plot([0, 1], [1, 0])
target = os.path.join(tempfile.mkdtemp(), "check.pdf")
figure.savefig(target)
figure.savefig(target.replace(".pdf", ".png"))
report["figure"] = "png + pdf written"
''',
}

CHECK = r'''
import importlib, json, sys, traceback
sys.path.insert(0, {scripts!r})
modules = {modules!r}
errors, report = {{}}, {{}}
if "extrapbench.workarounds.scatter_shims" in modules:  # as the backbones do, before fairchem: torch_scatter / torch_sparse shims
    importlib.import_module("extrapbench.workarounds.scatter_shims").install()
for name in modules:
    try:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # `from a import b` with b a name in a, not a module
            parent, _, attribute = name.rpartition(".")
            if not parent or exc.name != name:
                raise
            if not hasattr(importlib.import_module(parent), attribute):
                raise ImportError(f"cannot import name {{attribute!r}} from {{parent!r}}") from None
    except Exception as exc:
        errors[name] = [type(exc).__name__, getattr(exc, "name", None), str(exc)]
try:
{exercise}
except Exception:
    errors["<exercise>"] = ["Exception", None, traceback.format_exc()]
print("CHECK-RESULT " + json.dumps({{"errors": errors, "report": report,
                                    "extrapbench": importlib.import_module("extrapbench").__file__}}))
'''


@pytest.mark.skipif(not BUILD_ENVS, reason="builds a venv per env file (minutes the first time): make test-envs, "
                                           "or EXTRAPBENCH_TEST_ENVS=1")
@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_built_from_its_file_runs_what_its_rules_import(path, tmp_path):
    import json
    import textwrap
    import time

    start = time.monotonic()
    venv = env_venv(path)
    built = time.monotonic() - start
    env_rules = sorted(rule for rule, spec in job_rules().items() if spec["conda"] == path)
    local, lazy_local, third_party = set(), set(), set()
    for rule in env_rules:
        for module, lazy in reachable_local_modules(job_rules()[rule]["script"]).items():
            (lazy_local if lazy else local).add(module)
        third_party.update(rule_entry_modules(rule))
    lazy_local -= local
    modules = sorted(local | lazy_local) + sorted(third_party)
    script = CHECK.format(scripts=str(REPO / "scripts"), modules=modules,
                          exercise=textwrap.indent(EXERCISE[path.name].strip(), "    "))
    result = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=tmp_path,
                            env=clean_environment(venv), capture_output=True, text=True, timeout=1200)
    checked = time.monotonic() - start - built
    line = next((l for l in result.stdout.splitlines() if l.startswith("CHECK-RESULT ")), None)
    assert line, f"{path.name}: the check did not finish:\n{result.stderr[-4000:]}"
    outcome = json.loads(line[len("CHECK-RESULT "):])
    assert Path(outcome["extrapbench"]).resolve().is_relative_to(REPO), outcome["extrapbench"]  # the post-deploy's
    excused = {dist for env_name, dist in LAZY_NOT_NEEDED if env_name == path.name}
    failures = {}
    for name, (kind, missing, message) in outcome["errors"].items():
        # a lazily reached extrapbench module may fail on a package the env is excused from (LAZY_NOT_NEEDED)
        top = (missing or "").split(".")[0]
        if (name in lazy_local and kind == "ModuleNotFoundError" and top
                and canonical(_packages_distributions().get(top, [top])[0]) in excused):
            continue
        failures[name] = f"{kind}: {message}"
    print(f"{path.name}: venv {'built' if built > 5 else 'cached'} in {built:.0f} s, check {checked:.0f} s; "
          f"rules {', '.join(env_rules)}; imported {len(modules)} modules: {', '.join(modules)}; ran: "
          f"{outcome['report']}")
    assert not failures, f"{path.name} ({venv}):\n" + "\n".join(f"  {k}: {v}" for k, v in failures.items())
