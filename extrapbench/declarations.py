"""What a registered plug-in declares, read from its source without importing it (so without torch).

A backbone, method or reference predictor declares its hyper-parameters as plain class attributes beside its code:
``defaults`` (a backbone: its constructor's keyword defaults), ``hparam_specs`` (extrapbench.hparams), and, where it
applies, ``input_kind`` (a backbone's input), ``needs_features`` / ``needs_side`` (a reference predictor's). The
config check needs only these facts, but importing the modules that state them imports torch (1.3 s, 220 MB in
Snakemake's own process at every parse). So the declarations are read from the package's source files instead:
each class decorated with ``@<REGISTRY>.register("name")`` is found in the AST, and its declaring attributes are
evaluated with nothing but the spec classes of extrapbench.hparams, the module's own literal constants and the
declarations of the classes it derives from. The classes themselves stay the one definition: a test checks that
every built-in's declaration read here equals what the imported class says.

A plug-in from outside the package (a module the config names) is imported to be declared: it may import what it
likes.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from extrapbench import hparams

#: what a backbone may consume: Magpie features, periodic graphs, or its own `featurize(table)`'s features
INPUT_KINDS = ("composition", "graph", "features")
#: the attributes a declaration reads; everything else in a class body is code
DECLARED = ("defaults", "hparam_specs", "input_kind", "needs_features", "needs_side")
#: what the base classes (Method, Backbone, ReferencePredictor) declare for a plug-in that says nothing
BASE_VALUES = {"defaults": {}, "hparam_specs": {}, "input_kind": "composition", "needs_features": False,
               "needs_side": False}
SPEC_NAMES = {name: getattr(hparams, name) for name in dir(hparams)
              if isinstance(getattr(hparams, name), type) and issubclass(getattr(hparams, name), hparams.Spec)}


@dataclass(frozen=True)
class Declaration:
    """A registered plug-in's declared facts. ``open_keywords``: a backbone whose constructor takes ``**kwargs``
    (no unknown-key check possible)."""

    name: str
    module: str
    defaults: Dict[str, Any] = field(default_factory=dict)
    hparam_specs: Dict[str, Any] = field(default_factory=dict)
    input_kind: str = "composition"
    needs_features: bool = False
    needs_side: bool = False
    open_keywords: bool = False

    @classmethod
    def of_class(cls, name: str, plugin: type) -> "Declaration":
        """The declaration of an imported class (a plug-in from outside the package)."""
        import inspect

        defaults, open_keywords = getattr(plugin, "defaults", None), False
        if defaults is None:
            signature = inspect.signature(plugin.__init__)
            defaults = {key: (None if p.default is inspect.Parameter.empty else p.default)
                        for key, p in signature.parameters.items()
                        if key not in ("self", "in_dim") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
            open_keywords = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        return cls(name, plugin.__module__, dict(defaults), dict(getattr(plugin, "hparam_specs", {}) or {}),
                   getattr(plugin, "input_kind", "composition"), bool(getattr(plugin, "needs_features", False)),
                   bool(getattr(plugin, "needs_side", False)), open_keywords)


class DeclarationError(ValueError):
    """A plug-in's declaration could not be read from its source: say which file, class and attribute."""


@dataclass
class _ClassSource:
    module: str
    path: Path
    node: ast.ClassDef
    constants: Dict[str, Any]
    registered_as: Optional[str]


def _registered_name(node: ast.ClassDef, registry_variable: str) -> Optional[str]:
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "register" and isinstance(decorator.func.value, ast.Name)
                and decorator.func.value.id == registry_variable and decorator.args
                and isinstance(decorator.args[0], ast.Constant)):
            return str(decorator.args[0].value)
    return None


PACKAGE_ROOT = Path(hparams.__file__).resolve().parent


def _module_path(module: str) -> Optional[Path]:
    if not module.startswith("extrapbench."):
        return None
    base = PACKAGE_ROOT.joinpath(*module.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=None)
def _constants_of(path: Path) -> Dict[str, Any]:
    return _literal_constants(ast.parse(path.read_text(), str(path)))


def _literal_constants(tree: ast.Module) -> Dict[str, Any]:
    """Module-level `NAME = <literal>` (tuples, dicts, `dict(a=1)`), and such constants imported from another
    extrapbench module: the only module values a declaration may use."""
    constants: Dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and _module_path(node.module) is not None:
            source = _constants_of(_module_path(node.module))
            constants.update({(alias.asname or alias.name): source[alias.name]
                              for alias in node.names if alias.name in source})
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = _evaluate(node.value, constants)
            except Exception:  # not a literal (code, a call): not declarable, never needed by a declaration
                pass
    return constants


def _evaluate(expression: ast.expr, namespace: Dict[str, Any]) -> Any:
    code = compile(ast.Expression(expression), "<declaration>", "eval")
    return eval(code, {"__builtins__": {"dict": dict, "tuple": tuple, "list": list}}, namespace)  # noqa: S307


class _Declared:
    """A base class as a declaration expression sees it: `ERM.hparam_specs`, `{**ERM.defaults, ...}`."""

    def __init__(self, values: Dict[str, Any]):
        self.__dict__.update(values)


class SourceDeclarations:
    """Every `@<registry_variable>.register(...)` class under a package folder, declared without importing it."""

    def __init__(self, package_dir: Path, package: str, registry_variable: str):
        self.package_dir, self.package, self.registry_variable = Path(package_dir), package, registry_variable

    @functools.cached_property
    def classes(self) -> Dict[str, _ClassSource]:
        found: Dict[str, _ClassSource] = {}
        for path in sorted(self.package_dir.rglob("*.py")):
            relative = path.relative_to(self.package_dir).with_suffix("").parts
            module = ".".join((self.package, *[part for part in relative if part != "__init__"]))
            tree = ast.parse(path.read_text(), str(path))
            constants = _literal_constants(tree)
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    found.setdefault(node.name, _ClassSource(module, path, node, constants,
                                                             _registered_name(node, self.registry_variable)))
        return found

    @functools.cached_property
    def declarations(self) -> Dict[str, Declaration]:
        return {source.registered_as: self._declare(class_name)
                for class_name, source in self.classes.items() if source.registered_as}

    @functools.lru_cache(maxsize=None)
    def _values(self, class_name: str) -> Dict[str, Any]:
        """The declared attributes of a class: its own, else its bases' (left to right, as Python's MRO would find
        them for these single-purpose mixins), else the base classes' defaults."""
        source = self.classes.get(class_name)
        if source is None:
            return {}
        values: Dict[str, Any] = {}
        for base in reversed(source.node.bases):
            if isinstance(base, ast.Name):
                values.update(self._values(base.id))
        namespace = {**SPEC_NAMES, **source.constants,
                     **{base.id: _Declared({**BASE_VALUES, **self._values(base.id)})
                        for base in source.node.bases if isinstance(base, ast.Name)}}
        namespace.update({name: _Declared({**BASE_VALUES, **self._values(name)}) for name in self._mentioned(source)
                          if name in self.classes and name not in namespace})
        for statement in source.node.body:
            target = statement.target if isinstance(statement, ast.AnnAssign) else (
                statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else None)
            if isinstance(target, ast.Name) and target.id in DECLARED and statement.value is not None:
                try:
                    values[target.id] = _evaluate(statement.value, namespace)
                except Exception as exc:
                    raise DeclarationError(f"{source.path}:{statement.lineno}: {class_name}.{target.id} must be "
                                           f"a literal (spec classes of extrapbench.hparams, module constants, a "
                                           f"base class's declaration): {type(exc).__name__}: {exc}") from None
            if isinstance(statement, ast.FunctionDef) and statement.name == "__init__" and "defaults" not in values:
                values["_signature"] = self._signature(source, statement)
        return values

    @staticmethod
    def _mentioned(source: _ClassSource) -> set:
        """Names used in the class's declaring statements (`{**ERM.defaults, ...}`), not in its code."""
        statements = [s for s in source.node.body if isinstance(s, (ast.Assign, ast.AnnAssign))
                      and any(isinstance(target, ast.Name) and target.id in DECLARED
                              for target in (s.targets if isinstance(s, ast.Assign) else [s.target]))]
        return {node.id for s in statements for node in ast.walk(s) if isinstance(node, ast.Name)} - {source.node.name}

    def _signature(self, source: _ClassSource, function: ast.FunctionDef) -> tuple:
        """(keyword defaults, open_keywords) of a backbone's constructor: every keyword but `in_dim`."""
        arguments = function.args
        names = [a.arg for a in arguments.args + arguments.kwonlyargs]
        positional_defaults = [None] * (len(arguments.args) - len(arguments.defaults)) + list(arguments.defaults)
        defaults = positional_defaults + list(arguments.kw_defaults)
        namespace = {**SPEC_NAMES, **source.constants}
        keywords = {name: (None if default is None else _evaluate(default, namespace))
                    for name, default in zip(names, defaults) if name not in ("self", "in_dim")}
        return keywords, arguments.kwarg is not None

    def _declare(self, class_name: str) -> Declaration:
        source = self.classes[class_name]
        values = {**BASE_VALUES, **self._values(class_name)}
        signature = values.pop("_signature", None)
        open_keywords = False
        if "defaults" not in self._explicit(class_name) and signature is not None:
            values["defaults"], open_keywords = signature
        return Declaration(source.registered_as, source.module, dict(values["defaults"]), dict(values["hparam_specs"]),
                           values["input_kind"], bool(values["needs_features"]), bool(values["needs_side"]),
                           open_keywords)

    def _explicit(self, class_name: str) -> set:
        """The declared attributes a class or one of its bases in this package sets itself."""
        source = self.classes.get(class_name)
        if source is None:
            return set()
        own = {statement.targets[0].id for statement in source.node.body
               if isinstance(statement, ast.Assign) and len(statement.targets) == 1
               and isinstance(statement.targets[0], ast.Name)}
        return own.union(*[self._explicit(base.id) for base in source.node.bases if isinstance(base, ast.Name)])
