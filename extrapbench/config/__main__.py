"""`python -m extrapbench.config FILE...`: check config files the way the workflow does."""
from __future__ import annotations

from pathlib import Path

from extrapbench.config.entries import ConfigError, load_yaml_file
from extrapbench.config.validate import validate_config


def main(argv=None) -> int:
    """`python -m extrapbench.config FILE...`: check config files the way the workflow does, naming the file and
    line of a YAML syntax error (Snakemake's own --configfile parser says only "not valid JSON or YAML")."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    status = 0
    for name in argv:
        try:
            validate_config(load_yaml_file(name) or {}, schema, source=name)
            print(f"{name}: valid")
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
