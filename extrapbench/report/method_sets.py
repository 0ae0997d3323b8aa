"""Which config entries each table compares: the paper's eight methods, every method, and the ablations.

* **Paper set** (Tables 2, 3, 6: ``mae``, ``gm``, ``spearman``; the rank analysis and the CD diagram): paper A's
  eight methods in its order — ERM, LDS, RankSim, BalancedMSE, ConR, C-Mixup, FOMA, MEX — as far as the config
  runs them. The authors' release names its LDS ``denseweight`` (config/authors.yaml): without an ``lds`` entry,
  ``denseweight`` fills the LDS slot, and the tables say so.
* **All methods** (``*_all_methods``): the paper set, then every other method entry (FDS, BalancedMSE-GAI, ANE,
  DenseWeight when ``lds`` is there too, a user's new method).
* **Ablations**, never ranked: an entry that is a variant of another (its config entry has a ``method:`` key,
  e.g. ``mex_cos: {method: mex, score: cos}``), an entry listed under the config key ``ablations``, and any MEX
  entry searching the whole-dataset candidate range (``candidate_range: dataset``: it sees the test labels'
  range, so it is never ranked against leak-free methods). Each is compared with its **reference**: the
  ``ablations`` mapping's value (``ablations: {my_entry: lds}``), else the entry its ``method:`` names when that
  is a config entry of its own, else ERM.

Without the config's method entries (scripts called by hand), every present method counts as a method, none
as an ablation, unless named in ``ablations``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from extrapbench.config.entries import ABLATION_REFERENCE, method_entry, normalise_ablations

#: Paper A's eight methods in its tables' order (registry names).
PAPER_METHODS = ("erm", "lds", "ranksim", "balanced_mse", "conr", "c_mixup", "foma", "mex")
#: The release's name for the method the paper's LDS row reports.
LDS_STAND_IN = "denseweight"

#: One line each, for the tables' notes.
PAPER_SET_NOTE = ("Rows: paper A's eight methods in its order (ERM, LDS, RankSim, BalancedMSE, ConR, C-Mixup, "
                  "FOMA, MEX) as far as the config runs them; every other method is in the *_all_methods "
                  "tables, every ablation entry in ablations.md.")
ALL_SET_NOTE = ("Rows: every method entry of the config (paper A's eight first, then the others); ablation "
                "entries (variants of another entry) are in ablations.md, never ranked here.")
DENSEWEIGHT_NOTE = ("LDS row: the release's DenseWeight (`denseweight`), which the MEX authors' code runs as "
                    "\"LDS\"; the config has no `lds` entry.")


def _is_leaky(entry: Any) -> bool:
    return isinstance(entry, Mapping) and entry.get("candidate_range") == "dataset"


@dataclass
class MethodSets:
    """``paper``: entries in the paper's slots, in its order; ``others``: the other method entries (config
    order); ``ablations``: entry -> reference entry (None when nothing to compare with); ``leaky``: ablation
    entries searching the whole-dataset range; ``lds_stand_in``: the entry filling LDS's slot when not ``lds``."""

    paper: list[str]
    others: list[str]
    ablations: dict[str, str | None] = field(default_factory=dict)
    leaky: list[str] = field(default_factory=list)
    lds_stand_in: str | None = None
    #: reference predictors present (extrapbench.references): shown under each backbone, never in a ranked set
    references: list[str] = field(default_factory=list)

    @property
    def all_methods(self) -> list[str]:
        return self.paper + self.others

    def select(self, which: str) -> list[str]:
        """"paper" or "all" (the ranked sets)."""
        if which == "paper":
            return list(self.paper)
        if which == "all":
            return self.all_methods
        raise ValueError(f"method set must be 'paper' or 'all', got {which!r}")

    def notes(self, which: str) -> list[str]:
        notes = [PAPER_SET_NOTE if which == "paper" else ALL_SET_NOTE]
        if self.lds_stand_in:
            notes.append(DENSEWEIGHT_NOTE)
        if self.leaky:
            notes.append("Not ranked: " + ", ".join(self.leaky) + " (the whole-dataset candidate range includes "
                         "the test labels' range; see ablations.md and mex_candidate_range.md).")
        return notes

    def labels(self) -> dict[str, str]:
        """Row labels that differ from the display name: the LDS stand-in."""
        return {self.lds_stand_in: "LDS (DenseWeight)"} if self.lds_stand_in else {}


def method_sets(present: Iterable[str], entries: Mapping[str, Any] | None = None,
                ablations: Any = None, method_order: Sequence[str] | None = None,
                references: Iterable[str] = ()) -> MethodSets:
    """Sort the method entries ``present`` in the results into the paper set, the other methods and the
    ablations. ``entries``: the config's ``methods:`` mapping (name -> entry; None: no entry is a variant);
    ``ablations``: the config key ``ablations`` (list or mapping); ``method_order``: order of the others
    (default: the config's, else as present); ``references``: the reference predictors' names (config
    ``references``), kept out of every ranked set and of the ablations."""
    present = list(dict.fromkeys(present))
    reference_names = [r for r in references if r in present]  # reference predictors: in no ranked set
    present = [p for p in present if p not in reference_names]
    entries = dict(entries or {})
    marked = normalise_ablations(ablations)
    ablation: dict[str, str | None] = {}
    leaky = []
    for name in present:
        entry = entries.get(name)
        is_variant = isinstance(entry, Mapping) and bool(entry.get("method"))
        if _is_leaky(entry):
            leaky.append(name)
        if name in marked or is_variant or _is_leaky(entry):
            ablation[name] = marked.get(name)
    methods = [m for m in present if m not in ablation]
    for name in ablation:
        reference = ablation[name]
        if reference is None:
            registered = method_entry(name, entries.get(name))[0]
            if registered != name and registered in methods:
                reference = registered
            elif ABLATION_REFERENCE in present and name != ABLATION_REFERENCE:
                reference = ABLATION_REFERENCE
        ablation[name] = reference if reference in present and reference != name else None

    paper, stand_in = [], None
    for slot in PAPER_METHODS:
        if slot in methods:
            paper.append(slot)
        elif slot == "lds" and LDS_STAND_IN in methods:
            paper.append(LDS_STAND_IN)
            stand_in = LDS_STAND_IN
    order = list(method_order or entries or present)
    rest = [m for m in methods if m not in paper]
    others = [m for m in order if m in rest] + [m for m in rest if m not in order]
    return MethodSets(paper=paper, others=others, ablations=ablation, leaky=leaky, lds_stand_in=stand_in,
                      references=reference_names)
