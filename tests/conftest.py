"""Shared test fixtures: paths to the shipped data and (when present) the workplace's offline copies."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DATA_HOME = REPO / "data" / "matminer"
# Offline copies of the larger datasets, beside the repository on the developers' machines (never read by the
# workflow itself: a user's clone downloads through matminer).
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_or_skip(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the offline copy of this dataset only exists beside the repository on "
                    f"the project's own machines; the shipped matbench_phonons tests still run")
    return path


@pytest.fixture(scope="session")
def phonons_table():
    from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset

    return standardize_dataset("matbench_phonons", load_matminer_dataset("matbench_phonons", SHIPPED_DATA_HOME))


class FakeNamedList(list):
    """Stands in for Snakemake's Namedlist: a flat list whose entries can also be read by name."""

    def __init__(self, **named):
        super().__init__()
        for name, value in named.items():
            self.extend(value if isinstance(value, list) else [value])
            setattr(self, name, value)


class FakeSnakemake:
    """The `snakemake` object a rule script sees, for calling scripts' main() directly in tests."""

    def __init__(self, input, output, log, params=None, wildcards=None):
        self.input, self.output, self.log = FakeNamedList(**input), FakeNamedList(**output), [str(log)]
        self.params = FakeNamedList(**(params or {}))
        self.wildcards = FakeNamedList(**(wildcards or {}))
