"""Name -> class registries (fairchem's pattern): adding a backbone or method is one file + one config line.

A module registers its class with a decorator::

    @BACKBONES.register("magpie_mlp")
    class MagpieMLP(Backbone): ...

and the workflow looks it up by the name given in the config. Modules under
``extrapbench.backbones`` and ``extrapbench.methods`` are imported on first lookup, so a new file in those
packages is found without editing any list.

A plug-in from outside the package is found two ways: a config entry's ``class: module:Class`` (any importable
module: installed, or its folder on PYTHONPATH), or a name an installed distribution registers in the registry's
entry-point group (``extrapbench.backbones``, ``extrapbench.methods``, ``extrapbench.references``: name ->
"module:Class"). A built-in name always wins over an entry point of the same name.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Tuple, Type

from extrapbench.declarations import Declaration, SourceDeclarations


#: the key of a config entry that names a class outside the package (`my_net: {class: mypkg.nets:MyNet}`)
CLASS_KEY = "class"


class PluginError(KeyError):
    """A plug-in a config names that cannot be imported or is no class: one line, naming it and the cause."""

    def __str__(self) -> str:
        return str(self.args[0])


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def import_plugin(target: str, what: str) -> Any:
    """The object "module:Qualified.Name" names; `what` says in a message where the reference came from."""
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise PluginError(f"{what}: expected 'module:Class' (e.g. mypkg.nets:MyNet), got {target!r}")
    try:
        found = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: whatever it raises on import is reported, on one line
        missing = isinstance(exc, ModuleNotFoundError) and exc.name and \
            (module_name + ".").startswith(exc.name + ".")
        hint = " (the module must be importable: installed, or its folder on PYTHONPATH)" if missing else ""
        raise PluginError(f"{what} cannot be imported: {_one_line(exc)}{hint}") from None
    for part in qualname.split("."):
        if not hasattr(found, part):
            raise PluginError(f"{what}: module {module_name!r} ({getattr(found, '__file__', '?')}) has no "
                              f"attribute {part!r}")
        found = getattr(found, part)
    return found


#: each kind's alias key: the key by which a config entry of another name says which registered class it configures
ALIAS_KEYS = {"backbone": "backbone", "method": "method", "split kind": "kind", "reference predictor": "reference"}


def resolve_entry(alias_key: str, name: str, entry: Mapping[str, Any] | None,
                  drop: Iterable[str] = ()) -> Tuple[str, Dict[str, Any]]:
    """The one alias rule: (registered name, hyper-parameters) of the config entry `name`: the "module:Class" its
    `class:` key names (a class outside the package), else the name its alias key gives (a variant, e.g.
    `mex_cos: {method: mex, score: cos}`), else its own name (a built-in or an entry point). Keys in `drop` are
    settings of the entry that are not hyper-parameters (a method's `train` / `train_by_task`). Nothing is
    imported and no registry is consulted, so code that only reads entries (the report) needs no plug-in."""
    params = {key: value for key, value in (entry or {}).items() if key not in drop} \
        if isinstance(entry, Mapping) else {}
    outside, alias = params.pop(CLASS_KEY, None), params.pop(alias_key, None)
    return str(outside or alias or name), params


class Registry:
    """`alias_key`: the key by which a config entry of another name says which registered class it configures
    (`mex_cos: {method: mex, score: cos}`); :meth:`resolve` is the one place that rule is applied, and the one
    place the entry's `class:` key (a class outside the package, "module:Class") is read."""

    def __init__(self, kind: str, package: str, variable: str, functions: bool = False,
                 base: str | None = None):
        self.kind = kind
        #: its plug-ins are functions (split kinds), not classes
        self.functions = functions
        #: "module:Class" of the base class every plug-in derives from (a plug-in from outside the package is
        #: checked against it by name, importing nothing)
        self.base = base
        self.package = package
        self.alias_key = ALIAS_KEYS[kind]
        #: the name of this registry in the plug-in modules (`@METHODS.register(...)`), how declarations are found
        self.variable = variable
        self._declarations: SourceDeclarations | None = None
        self._entries: Dict[str, Type] = {}
        #: classes from outside the package, by the name they were asked for ("module:Class" or an entry point)
        self._outside: Dict[str, Type] = {}
        self._imported = False

    def register(self, name: str) -> Callable[[Type], Type]:
        def decorator(cls: Type) -> Type:
            if name in self._entries and self._entries[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice: "
                                 f"{self._entries[name].__module__} and {cls.__module__}")
            cls.registry_name = name
            self._entries[name] = cls
            return cls
        return decorator

    def _import_all(self) -> None:
        if self._imported:
            return
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
        self._imported = True

    @property
    def entry_point_group(self) -> str:
        """The entry-point group an installed distribution registers plug-ins of this kind in."""
        return self.package

    def get(self, name: str) -> Type:
        if ":" in name or name in self._outside:
            return self.outside_class(name)
        if name not in self._entries:
            # by convention a module is named after what it registers: import just that one (fairchem's
            # import chain costs seconds), and only scan the whole package if that finds nothing
            try:
                importlib.import_module(f"{self.package}.{name.replace('+', '_').replace('-', '_')}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self.package}.{name.replace('+', '_').replace('-', '_')}":
                    raise
        if name not in self._entries and self.is_outside(name):  # an installed distribution's entry point
            return self.outside_class(name)
        if name not in self._entries:
            self._import_all()
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def resolve(self, name: str, entry: Mapping[str, Any] | None, drop: Iterable[str] = ()) -> Tuple[str, Dict[str, Any]]:
        """resolve_entry with this registry's alias key."""
        return resolve_entry(self.alias_key, name, entry, drop)

    def is_outside(self, name: str) -> bool:
        """Whether `name` (as :meth:`resolve` gives it) is a class from outside the package: "module:Class", or
        an entry point's name that no built-in has. Imports nothing but the entry-point metadata."""
        if name in self._outside or ":" in name:
            return True
        if name in self._entries or name in self._source_declarations().declarations:
            return False
        return self._entry_point(name) is not None

    def _entry_point(self, name: str):
        from importlib.metadata import entry_points

        return next((point for point in entry_points(group=self.entry_point_group) if point.name == name), None)

    def outside_class(self, name: str) -> Type:
        """The class from outside the package that `name` names, imported (once). Raises PluginError naming the
        reference and the import error, KeyError for a name that is neither "module:Class" nor an entry point."""
        if name not in self._outside:
            if ":" in name:
                target, what = name, f"class {name!r}"
            else:
                point = self._entry_point(name)
                if point is None:
                    raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.declared_names())}")
                target, what = point.value.split("[")[0].strip(), \
                    f"entry point {name!r} (group {self.entry_point_group}: {point.value})"
            found = import_plugin(target, what)
            if not (inspect.isclass(found) or (self.functions and callable(found))):
                raise PluginError(f"{what} is {type(found).__name__} {found!r}, not a class")
            if self.base and inspect.isclass(found) and \
                    self.base not in {f"{c.__module__}:{c.__qualname__}" for c in found.__mro__}:
                raise PluginError(f"{what} is not a {self.kind}: {found.__qualname__} must derive from {self.base}")
            if "registry_name" not in vars(found):  # how its messages name it; a decorated class keeps its own
                try:
                    found.registry_name = name
                except (AttributeError, TypeError):
                    pass
            self._outside[name] = found
        return self._outside[name]

    def declaration(self, name: str) -> Declaration:
        """What `name` declares (defaults, hyper-parameter specs, input kind...), read from the package's source
        without importing it (extrapbench.declarations); a class registered some other way (a plug-in from outside
        the package) is imported and asked. Raises KeyError as :meth:`get` does."""
        declared = self._source_declarations().declarations
        if name in declared:
            return declared[name]
        if name in self._entries:
            return Declaration.of_class(name, self._entries[name])
        if self.is_outside(name):
            return Declaration.of_class(name, self.outside_class(name))
        raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.declared_names())}")

    def declared_names(self) -> list[str]:
        """Every registered name, without importing a plug-in module."""
        return sorted(set(self._source_declarations().declarations) | set(self._entries))

    def _source_declarations(self) -> SourceDeclarations:
        if self._declarations is None:
            spec = importlib.util.find_spec(self.package)
            self._declarations = SourceDeclarations(Path(spec.origin).parent, self.package, self.variable)
        return self._declarations

    def names(self) -> list[str]:
        self._import_all()
        return sorted(self._entries)


BACKBONES = Registry("backbone", "extrapbench.backbones", variable="BACKBONES",
                     base="extrapbench.backbones.base:Backbone")
METHODS = Registry("method", "extrapbench.methods", variable="METHODS",
                   base="extrapbench.methods.base:Method")
SPLITS = Registry("split kind", "extrapbench.splits", variable="SPLITS", functions=True)
#: reference predictors (extrapbench.references): no training loop, written as runs beside the methods' runs
REFERENCES = Registry("reference predictor", "extrapbench.references", variable="REFERENCES",
                      base="extrapbench.references.base:ReferencePredictor")

#: the registries by kind, for lookups that only read declarations
REGISTRIES = {registry.kind: registry for registry in (BACKBONES, METHODS, SPLITS, REFERENCES)}


def declared_defaults(kind: str, name: str) -> dict:
    """The declared defaults of the registered `name` of `kind` ("backbone", "method", "reference predictor"),
    read from its source (extrapbench.declarations): no plug-in module of the package is imported, so code that
    only compares settings (the report) stays free of torch. A class from outside the package is imported."""
    return dict(REGISTRIES[kind].declaration(name).defaults)
