"""The per-rule conda environments (envs/*.yaml, used with `snakemake --sdm conda`), checked without conda.

A static check: every rule names an env file that exists and parses; the env pins (with ==) every third-party
package that the rule's script imports, following its imports through scripts/ and the extrapbench package
(including the modules a registry lookup loads); every pin agrees with requirements.txt (the versions `make
test` runs); and the post-deploy scripts install the repository's extrapbench into the env, also when run the
way Snakemake runs them (a copy under .snakemake/conda/, from the working directory).
"""
from __future__ import annotations

import ast
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


def reachable_distributions(script: Path) -> dict[str, bool]:
    """Third-party distributions (canonical names) a rule script reaches through its imports -> lazy (True when
    every path to it passes through an import inside a function). Where several installed distributions provide
    one top-level module (pymatgen and pymatgen-core both ship `pymatgen`), the one named like the module is
    taken, else the first."""
    visited: dict[Path, bool] = {}
    third_party: dict[str, bool] = {}
    todo = [(script, False)]
    local_dir = script.parent
    module_to_dist = metadata.packages_distributions()
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
            elif (local_dir / f"{top}.py").exists():  # scripts/_logging.py
                todo.append((local_dir / f"{top}.py", reach))
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            else:
                dists = [canonical(d) for d in module_to_dist.get(top, [])]
                assert dists, f"{path}: imports {top!r}, which no installed distribution provides"
                dist = canonical(top) if canonical(top) in dists else dists[0]
                third_party[dist] = third_party.get(dist, True) and reach
    return third_party


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
    if "results/datasets/" in spec["input"]:  # the dataset tables are pickles holding pymatgen Structures
        needed["pymatgen"] = False
    missing = sorted(dist for dist, lazy in needed.items()
                     if dist not in pins and not (lazy and (env_name, dist) in LAZY_NOT_NEEDED))
    assert not missing, (f"rule {rule}: {env_name} lacks {missing}, which {spec['script'].name} imports "
                         f"(through extrapbench; lazily: {[d for d in missing if needed[d]]})")


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
