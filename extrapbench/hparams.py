"""Declared hyper-parameters: each method's and backbone's values, with type and allowed range, checked before any
job runs.

A method module keeps its plain ``defaults`` dict (what configs and tests read) and declares beside it what each
key may be::

    defaults = {"lambda_abs": 0.25, "score": "mlp", "num_candidates": 2000}
    hparam_specs = {"lambda_abs": Number(min=0), "score": Choice("mlp", "mlp+cos", "cos"),
                    "num_candidates": Integer(min=1)}

A backbone's defaults are its constructor's keyword defaults; ``hparam_specs`` beside it works the same way. A key
without a spec is checked against the type of its default (an int default takes integers, a bool default booleans,
...), so a string where a number belongs is always caught; ``tests/test_hparams.py`` checks that every method
declares every key and that every default passes its own spec.

`check(spec, value)` returns None when the value is allowed, else what was expected ("an integer >= 1"), so the
config validation (extrapbench.config) can write one line per problem: key, value, what was expected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


@dataclass(frozen=True)
class Spec:
    nullable: bool = False     # None allowed (e.g. "None = Silverman's rule")

    def problem(self, value) -> Optional[str]:  # None = allowed, else what was expected
        raise NotImplementedError

    def check(self, value) -> Optional[str]:
        if value is None:
            return None if self.nullable else self.expected()
        return self.problem(value)

    def expected(self) -> str:
        raise NotImplementedError

    def _or_null(self, text: str) -> str:
        return f"{text} or null" if self.nullable else text


def _range_text(kind: str, min, max, min_exclusive, max_exclusive) -> str:
    parts = []
    if min is not None:
        parts.append(f"{'>' if min_exclusive else '>='} {min:g}")
    if max is not None:
        parts.append(f"{'<' if max_exclusive else '<='} {max:g}")
    return f"{kind} {' and '.join(parts)}" if parts else kind


def _in_range(value, min, max, min_exclusive, max_exclusive) -> bool:
    if min is not None and (value <= min if min_exclusive else value < min):
        return False
    if max is not None and (value >= max if max_exclusive else value > max):
        return False
    return True


@dataclass(frozen=True)
class Number(Spec):
    min: Optional[float] = None
    max: Optional[float] = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    def expected(self) -> str:
        return self._or_null(_range_text("a finite number", self.min, self.max, self.min_exclusive,
                                         self.max_exclusive))

    def problem(self, value):
        if not _is_number(value) or not _in_range(value, self.min, self.max, self.min_exclusive,
                                                  self.max_exclusive):
            return self.expected()
        return None


@dataclass(frozen=True)
class Integer(Spec):
    min: Optional[int] = None
    max: Optional[int] = None
    odd: bool = False

    def expected(self) -> str:
        text = _range_text("an odd integer" if self.odd else "an integer", self.min, self.max, False, False)
        return self._or_null(text)

    def problem(self, value):
        if not _is_int(value) or not _in_range(value, self.min, self.max, False, False) or (
                self.odd and value % 2 == 0):
            return self.expected()
        return None


@dataclass(frozen=True)
class Boolean(Spec):
    def expected(self) -> str:
        return self._or_null("true or false")

    def problem(self, value):
        return None if isinstance(value, bool) else self.expected()


class Choice(Spec):
    def __init__(self, *choices: str, nullable: bool = False):
        object.__setattr__(self, "nullable", nullable)
        object.__setattr__(self, "choices", tuple(choices))

    def expected(self) -> str:
        return self._or_null("one of " + ", ".join(repr(c) for c in self.choices))

    def problem(self, value):
        return None if isinstance(value, str) and value in self.choices else self.expected()

    def __repr__(self):
        return f"Choice{self.choices}"


@dataclass(frozen=True)
class Text(Spec):
    def expected(self) -> str:
        return self._or_null("a string")

    def problem(self, value):
        return None if isinstance(value, str) else self.expected()


@dataclass(frozen=True)
class NumberList(Spec):
    """A list of numbers, each within [min, max] (Number's rules), of length min_length..max_length;
    `increasing`: strictly increasing (a [low, high] range)."""
    item: Number = Number()
    min_length: int = 1
    max_length: Optional[int] = None
    increasing: bool = False
    integers: bool = False

    def expected(self) -> str:
        length = (f"exactly {self.min_length}" if self.max_length == self.min_length
                  else f"at least {self.min_length}")
        each = self.item.expected().replace("a finite number", "integer" if self.integers else "finite number")
        text = f"a list of {length} values, each {each}" + (", strictly increasing" if self.increasing else "")
        return self._or_null(text)

    def problem(self, value):
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length or (
                self.max_length is not None and len(value) > self.max_length):
            return self.expected()
        if any(self.item.problem(v) is not None or (self.integers and not _is_int(v)) for v in value):
            return self.expected()
        if self.increasing and any(b <= a for a, b in zip(value, value[1:])):
            return self.expected()
        return None


def spec_from_default(default) -> Optional[Spec]:
    """The type check a key gets when no spec is declared: that of its default (None: no check possible)."""
    if isinstance(default, bool):
        return Boolean()
    if _is_int(default):
        return Integer()
    if isinstance(default, float):
        return Number()
    if isinstance(default, str):
        return Text()
    if isinstance(default, (list, tuple)) and default and all(_is_number(v) for v in default):
        return NumberList(integers=all(_is_int(v) for v in default))
    return None


def specs_of(cls) -> Tuple[Dict[str, Any], Dict[str, Optional[Spec]]]:
    """(defaults, {key: spec}) of a registered method or backbone class; a backbone's defaults come from its
    constructor's signature (every keyword but `in_dim`)."""
    import inspect

    declared = dict(getattr(cls, "hparam_specs", {}) or {})
    if hasattr(cls, "defaults"):
        defaults = dict(cls.defaults)
    else:
        signature = inspect.signature(cls.__init__)
        defaults = {name: (None if p.default is inspect.Parameter.empty else p.default)
                    for name, p in signature.parameters.items()
                    if name not in ("self", "in_dim") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return defaults, {key: declared.get(key) or spec_from_default(default) for key, default in defaults.items()}


def check_value(cls, key: str, value) -> Optional[str]:
    """None if `value` is allowed for hyper-parameter `key` of `cls`, else what was expected."""
    _, specs = specs_of(cls)
    spec = specs.get(key)
    return spec.check(value) if spec is not None else None


def describe_value(value) -> str:
    return repr(value) if isinstance(value, str) else str(value).replace("True", "true").replace(
        "False", "false").replace("None", "null")


def check_all(cls, params: Dict[str, Any], where: str) -> list[str]:
    """One message per bad value of `params` (known keys only: unknown keys are reported elsewhere)."""
    _, specs = specs_of(cls)
    messages = []
    for key, value in params.items():
        spec = specs.get(key)
        expected = spec.check(value) if spec is not None else None
        if expected is not None:
            messages.append(f"at '{where}.{key}': {describe_value(value)} is not allowed; expected {expected}")
    return messages
