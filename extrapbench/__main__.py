"""`python -m extrapbench`: the `extrapbench` command (extrapbench.cli)."""
from extrapbench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
