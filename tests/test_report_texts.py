"""The HTML report's texts (workflow/report/*.rst, Snakemake's --report captions) say what the run did: rendered as
Snakemake renders them (Jinja with trim_blocks / lstrip_blocks, `snakemake.config` the resolved config), they name
the run's seeds and datasets, not the full grid's, and are valid reStructuredText."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from conftest import REPO

REPORT = REPO / "workflow" / "report"


def resolved(path):
    from extrapbench.config.entries import with_schema_defaults

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return with_schema_defaults(yaml.safe_load(path.read_text()), schema)


def render(name: str, config: dict) -> str:
    from jinja2 import Environment

    snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(task="phonons_top", backbone="magpie_mlp",
                                                                         method="mex"),
                                params=SimpleNamespace(seed=0))
    environment = Environment(trim_blocks=True, lstrip_blocks=True)   # snakemake.report's
    return environment.from_string((REPORT / name).read_text()).render(snakemake=snakemake)


def rst_problems(text: str) -> list[str]:
    import io

    from docutils.core import publish_parts

    warnings = io.StringIO()
    publish_parts(text, writer_name="html", settings_overrides={"warning_stream": warnings, "report_level": 2})
    return [line for line in warnings.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(p.name for p in REPORT.glob("*.rst")))
def test_a_two_seed_run_is_never_described_as_three_seeds(name):
    config = resolved(REPO / "config" / "demo.yaml")
    assert len(config["seeds"]) == 2
    text = render(name, config)
    for wrong in ("With 3 seeds", "With three seeds", "on 3 seeds", "2 degrees of freedom", "3 seeds cannot"):
        assert wrong not in text, f"{name} says {wrong!r} for a two-seed run:\n{text}"
    assert not rst_problems(text), (name, rst_problems(text))


def test_the_two_seed_texts_say_the_verdicts_are_indicative():
    config = resolved(REPO / "config" / "demo.yaml")
    beats = render("beats_erm_edge.rst", config)
    assert "This run has 2 seeds" in beats and '"beats?"' in beats
    assert "2 seed(s) can show" in " ".join(render("workflow.rst", config).split())
    three = resolved(REPO / "config" / "cpu_gnn_schnet.yaml")
    assert "This run has 3 seeds, so the test has 2 degree(s)" in " ".join(render("beats_erm_edge.rst",
                                                                                   three).split())
    assert '"beats?"' not in render("beats_erm_edge.rst", three)


def test_the_global_text_lists_the_runs_datasets_only():
    demo = " ".join(render("workflow.rst", resolved(REPO / "config" / "demo.yaml")).split())
    assert "1 dataset(s), ``matbench_phonons``" in demo
    for other in ("castelli_perovskites", "matbench_log_gvrh", "matbench_dielectric"):
        assert other not in demo
    full = " ".join(render("workflow.rst", resolved(REPO / "config" / "config.yaml")).split())
    for dataset in ("castelli_perovskites", "matbench_log_gvrh", "matbench_dielectric", "matbench_phonons",
                    "hoip", "mps"):
        assert dataset in full


def test_the_global_texts_task_list_matches_the_builtin_tasks():
    """workflow.rst names a built-in task's dataset from its own list: that list is the registry's."""
    from extrapbench.tasks import BUILTIN_TASKS

    base = resolved(REPO / "config" / "demo.yaml")
    datasets = {task.dataset for task in BUILTIN_TASKS.values()}
    for task_id, task in BUILTIN_TASKS.items():
        text = render("workflow.rst", {**base, "tasks": [task_id], "other_split_tasks": []})
        named = {d for d in datasets if f"``{d}``" in text}
        assert named == {task.dataset}, (task_id, named)
    own = {**base, "tasks": ["mine"], "task_definitions": {"mine": {"dataset": "my_set", "target": "y",
                                                                      "transform": "log"}}}
    assert "``my_set``" in render("workflow.rst", own) and "my_set: y, natural log" in render("workflow.rst", own)
