#!/usr/bin/env bash
# Applies scripts/slurm/snakemake-executor-plugin-slurm-2.8.0.patch to the SLURM executor plugin installed for
# PYTHON (the patch file says what it fixes: cancelled and preempted jobs that hang the workflow, the account
# guess, the retry refused after the only node failed). `make setup` runs it; running it again is harmless, and
# it replaces an earlier version of the patch (a venv set up before the patch gained a fix) by this one.
#
#   scripts/slurm/patch_plugin.sh PYTHON           apply the patch unless it is applied already
#   scripts/slurm/patch_plugin.sh --check PYTHON   exit 0 if it is applied, 1 (with the reason) if not
#
# It refuses any plugin version but 2.8.0: the patch was written and tested against that version's source. After
# a version bump in requirements.txt, check whether the new version has these fixes (then delete the patch, this
# script and its line in the Makefile) or port the patch to it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION=2.8.0
PATCH="$HERE/snakemake-executor-plugin-slurm-$VERSION.patch"

die() { echo "patch_plugin.sh: $*" >&2; exit 1; }

check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--check] PYTHON   (PYTHON: the interpreter of the venv that runs snakemake)" >&2; exit 2; }
python=$1
[ -x "$python" ] || die "$python: no such interpreter"
command -v patch >/dev/null || die "the 'patch' program is missing (Debian: apt-get install patch)"

# the installed version and the directory that holds the package (site-packages)
read -r installed site < <("$python" - <<'EOF'
import importlib.metadata, pathlib
try:
    import snakemake_executor_plugin_slurm as plugin
except ImportError:
    print("none none")
else:
    print(importlib.metadata.version("snakemake-executor-plugin-slurm"), pathlib.Path(plugin.__file__).parent.parent)
EOF
)
[ "$installed" != none ] || die "snakemake-executor-plugin-slurm is not installed for $python"
[ "$installed" = "$VERSION" ] || die "snakemake-executor-plugin-slurm $installed is installed, but $(basename "$PATCH") \
is for $VERSION only: check whether $installed fixes what the patch describes, then port or drop the patch"

if patch -d "$site" -p1 --reverse --dry-run --force --silent <"$PATCH" >/dev/null 2>&1; then
    [ $check = 1 ] || echo "patch_plugin.sh: $(basename "$PATCH") is already applied in $site"
    exit 0
fi
[ $check = 0 ] || die "$(basename "$PATCH") is not applied to the plugin in $site: run make setup (or $0 $python)"
# an earlier version of this patch applied (a venv set up before the patch gained a fix): on a copy of the package,
# undo whatever of the patch's hunks are there, and if the whole patch then applies, apply it and copy it back
if ! patch -d "$site" -p1 --forward --dry-run --silent <"$PATCH" >/dev/null 2>&1; then
    copy="$(mktemp -d)"
    trap 'rm -rf "$copy"' EXIT
    cp -a "$site/snakemake_executor_plugin_slurm" "$copy/"
    patch -d "$copy" -p1 --reverse --force --silent --reject-file=- --no-backup-if-mismatch <"$PATCH" \
        >/dev/null 2>&1 || true
    if patch -d "$copy" -p1 --forward --silent --no-backup-if-mismatch <"$PATCH" >/dev/null 2>&1; then
        for file in "$copy"/snakemake_executor_plugin_slurm/*.py; do
            cmp -s "$file" "$site/snakemake_executor_plugin_slurm/$(basename "$file")" \
                || cp "$file" "$site/snakemake_executor_plugin_slurm/"
        done
        echo "patch_plugin.sh: replaced an earlier version of $(basename "$PATCH") in" \
            "$site/snakemake_executor_plugin_slurm"
        exit 0
    fi
fi
patch -d "$site" -p1 --forward --dry-run --silent <"$PATCH" >/dev/null \
    || die "$(basename "$PATCH") does not apply to the plugin in $site (files changed by hand?): reinstall it with
  $python -m pip install --force-reinstall --no-deps snakemake-executor-plugin-slurm==$VERSION"
patch -d "$site" -p1 --forward --silent <"$PATCH"
echo "patch_plugin.sh: applied $(basename "$PATCH") to $site/snakemake_executor_plugin_slurm"
