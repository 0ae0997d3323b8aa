"""Name -> class registries (fairchem's pattern): adding a backbone or method is one file + one config line.

A module registers its class with a decorator::

    @BACKBONES.register("magpie_mlp")
    class MagpieMLP(Backbone): ...

and the workflow looks it up by the name given in the config. Modules under
``extrapbench.backbones`` and ``extrapbench.methods`` are imported on first lookup, so a new file in those
packages is found without editing any list.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Tuple, Type

from extrapbench.declarations import Declaration, SourceDeclarations


class Registry:
    """`alias_key`: the key by which a config entry of another name says which registered class it configures
    (`mex_cos: {method: mex, score: cos}`); :meth:`resolve` is the one place that rule is applied."""

    def __init__(self, kind: str, package: str, alias_key: str, variable: str):
        self.kind = kind
        self.package = package
        self.alias_key = alias_key
        #: the name of this registry in the plug-in modules (`@METHODS.register(...)`), how declarations are found
        self.variable = variable
        self._declarations: SourceDeclarations | None = None
        self._entries: Dict[str, Type] = {}
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

    def get(self, name: str) -> Type:
        if name not in self._entries:
            # by convention a module is named after what it registers: import just that one (fairchem's
            # import chain costs seconds), and only scan the whole package if that finds nothing
            try:
                importlib.import_module(f"{self.package}.{name.replace('+', '_').replace('-', '_')}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self.package}.{name.replace('+', '_').replace('-', '_')}":
                    raise
        if name not in self._entries:
            self._import_all()
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def resolve(self, name: str, entry: Mapping[str, Any] | None, drop: Iterable[str] = ()) -> Tuple[str, Dict[str, Any]]:
        """(registered name, hyper-parameters) of the config entry `name`: its own name, or the name its alias key
        gives (a variant). Keys in `drop` are settings of the entry that are not hyper-parameters (a method's
        `train` / `train_by_task`). Nothing is imported: the registered name is not looked up here."""
        params = {key: value for key, value in (entry or {}).items() if key not in drop} \
            if isinstance(entry, Mapping) else {}
        return str(params.pop(self.alias_key, None) or name), params

    def declaration(self, name: str) -> Declaration:
        """What `name` declares (defaults, hyper-parameter specs, input kind...), read from the package's source
        without importing it (extrapbench.declarations); a class registered some other way (a plug-in from outside
        the package) is imported and asked. Raises KeyError as :meth:`get` does."""
        declared = self._source_declarations().declarations
        if name in declared:
            return declared[name]
        if name in self._entries:
            return Declaration.of_class(name, self._entries[name])
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


BACKBONES = Registry("backbone", "extrapbench.backbones", alias_key="backbone", variable="BACKBONES")
METHODS = Registry("method", "extrapbench.methods", alias_key="method", variable="METHODS")
SPLITS = Registry("split kind", "extrapbench.splits", alias_key="kind", variable="SPLITS")
#: reference predictors (extrapbench.references): no training loop, written as runs beside the methods' runs
REFERENCES = Registry("reference predictor", "extrapbench.references", alias_key="reference", variable="REFERENCES")
