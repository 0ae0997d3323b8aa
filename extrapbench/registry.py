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
import pkgutil
from typing import Callable, Dict, Type


class Registry:
    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
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

    def names(self) -> list[str]:
        self._import_all()
        return sorted(self._entries)


BACKBONES = Registry("backbone", "extrapbench.backbones")
METHODS = Registry("method", "extrapbench.methods")
SPLITS = Registry("split kind", "extrapbench.splits")
#: reference predictors (extrapbench.references): no training loop, written as runs beside the methods' runs
REFERENCES = Registry("reference predictor", "extrapbench.references")
