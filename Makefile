# Two commands on a fresh machine (Python 3.11): `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

# --- The variables that reach a shell command are checked before anything runs: a value holding a quote, `;`, `$`,
# a newline ... would otherwise run as a command of its own. Each is read raw ($(value ...)), so a `$(shell ...)`
# in it is refused rather than expanded. METHOD: a method name; CORES: a number or `all`; CONFIG (one or more
# files, separated by spaces), PROFILE and PYTHON: paths of letters, digits and _ - + . / , = @ : ~ %; SMK_ARGS:
# Snakemake options, split into words as a shell splits them: the same characters and spaces, [ ] { } * ?, and
# 'single quotes' in pairs (SMK_ARGS="--config 'seeds=[0, 1]'"). The other variables are single-quoted as well
# where they are used. Anything else: run .venv/bin/snakemake yourself (docs/running.md#make-variables).
empty :=
space := $(empty) $(empty)
LETTERS := a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z
DIGITS := 0 1 2 3 4 5 6 7 8 9
NAME_CHARS := $(LETTERS) $(DIGITS) _ - +
PATH_CHARS := $(NAME_CHARS) . / , = @ : ~ %
SMK_ARGS_CHARS := $(PATH_CHARS) [ ] { } * ? '
# $(call unsafe_chars,TEXT,CHARS): TEXT without CHARS and spaces (a tab or a newline stays: it is unsafe)
unsafe_chars = $(if $2,$(call unsafe_chars,$(subst $(firstword $2),,$1),$(wordlist 2,$(words $2),$2)),$(subst $(space),,$1))
# $(call check_var,NAME,CHARS,WHAT): stop, naming NAME, its value and the characters refused, unless NAME's raw
# value holds only CHARS and spaces
check_var = $(if $(call unsafe_chars,$(value $1),$2),$(error $1="$(value $1)" is refused: it holds [$(call unsafe_chars,$(value $1),$2)]; $(strip $3)))
METHOD_RULE := a method or reference name holds only letters digits _ - +
PATH_RULE := paths hold only letters digits and _ - + . / , = @ : ~ % (files separated by spaces)
SMK_ARGS_RULE := Snakemake options hold only letters digits spaces _ - + . / , = @ : ~ % [ ] { } * ? and 'single \
quotes' in pairs; for anything else run .venv/bin/snakemake yourself
$(call check_var,METHOD,$(NAME_CHARS),$(METHOD_RULE))
$(call check_var,CONFIG,$(PATH_CHARS),$(PATH_RULE))
$(call check_var,PROFILE,$(PATH_CHARS),$(PATH_RULE))
$(call check_var,PYTHON,$(PATH_CHARS),$(PATH_RULE))
$(if $(filter-out all,$(value CORES)),$(call check_var,CORES,$(DIGITS),CORES is a number of cores or all))
$(if $(filter-out 1,$(words $(value CORES))),$(error CORES="$(value CORES)": one number or all))
$(call check_var,SMK_ARGS,$(SMK_ARGS_CHARS),$(SMK_ARGS_RULE))
$(if $(subst '',,$(subst $(space),,$(call unsafe_chars,$(value SMK_ARGS),$(PATH_CHARS) [ ] { } * ?))),\
  $(error SMK_ARGS="$(value SMK_ARGS)" has an unpaired ' (single quote): $(SMK_ARGS_RULE)))
# CONFIG's files, each single-quoted for the shell (PROFILE is quoted where it is used)
quoted_configs = $(foreach file,$(CONFIG),'$(file)')

# Reruns follow content, not modification times (docs/running.md#reruns-follow-content-not-modification-times): no
# "code" trigger (it compares a script's mtime with its outputs'), while every rule's params carry the digest of
# the code it runs (workflow/rules/common.smk, add_code_params); and Snakemake compares an input newer than its
# outputs by its checksum, recorded for files up to CHECKSUM_MAX (Snakemake's default, 1 MB, would leave the
# features and graphs to their mtimes). A touched file, a `git pull` or results/ copied with .snakemake/ into a
# fresh clone reruns nothing; a changed content reruns what depends on it. profiles/*/config.yaml set the same.
CHECKSUM_MAX := 1TB
RERUN_BY_CONTENT := --rerun-triggers params input software-env --max-checksum-file-size $(CHECKSUM_MAX)
# Before each target that runs Snakemake: remove the lock a killed Snakemake left (kill -9, a closed terminal), but
# only when no Snakemake process runs in this directory (scripts/stale_lock.py); otherwise the rerun would stop at
# LockException
UNLOCK_STALE = $(BIN)/python scripts/stale_lock.py

.PHONY: demo demo-paper-b demo-gnn demo-gnn-schnet test test-envs setup dry-run clean-results

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml scripts/slurm/snakemake-executor-plugin-slurm-2.8.0.patch
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	# fairchem-core 1.10 pins torch~=2.4 and numpy<2, both stale: install it alone, its real dependencies
	# are in requirements.txt; torch_scatter / torch_sparse come from extrapbench._compat (pure torch)
	$(BIN)/pip install --quiet --no-deps fairchem-core==1.10.0
	$(BIN)/pip install --quiet --no-deps -e .
	# the SLURM executor plugin's fixes for cancelled / preempted jobs and the account guess (the patch says which)
	# (without the `patch` program only SLURM runs are affected: say so and go on, so `make demo` / `make test` still work)
	if command -v patch >/dev/null; then bash scripts/slurm/patch_plugin.sh $(BIN)/python; else \
	  echo "make setup: WARNING: no 'patch' program, the SLURM plugin fix is not applied (apt-get install patch; make setup)" >&2; \
	  exit 0; fi
	touch $(STAMP)

# The embedded default: both phonon tasks, Magpie MLP, ERM and MEX, two seeds, on the shipped data.
# --rerun-incomplete (here, in every target below and in profiles/*): after Ctrl-C or a killed Snakemake the next
# `make demo` reruns the interrupted jobs instead of stopping at IncompleteFilesException; their training resumes
# from its per-epoch checkpoints, and a train_seeds job's finished seeds are restored, not retrained.
demo: $(STAMP)
	$(UNLOCK_STALE)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(RERUN_BY_CONTENT) --configfile config/demo.yaml
	@echo "tables: results/tables/   figures: results/figures/"

# Paper B's held-out-element (HOIP) and element-count (MPS) tasks on the shipped files, Magpie MLP, every method.
demo-paper-b: $(STAMP)
	$(UNLOCK_STALE)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(RERUN_BY_CONTENT) --configfile config/demo_paper_b.yaml
	@echo "tables: results/tables/other_split_tasks/   figures: results/figures/fig4_parity_*"

# Paper A's eight methods on graphs, CPU only: PaiNN at the library's small preset, both phonon tasks, three seeds,
# the release's protocol at most 100 epochs (config/cpu_gnn.yaml). About 3.5 h on 2 cores (an estimate; README).
demo-gnn: $(STAMP)
	$(UNLOCK_STALE)
	$(BIN)/snakemake --cores all --rerun-incomplete $(RERUN_BY_CONTENT) --configfile config/cpu_gnn.yaml
	@echo "tables: results/tables/"

# The same comparison on SchNet (config/cpu_gnn_schnet.yaml): 77 min on 2 cores; its tables are committed
# under benchmarks/results/cpu_gnn/schnet/ with a reading in benchmarks/results/cpu_gnn/README.md.
demo-gnn-schnet: $(STAMP)
	$(UNLOCK_STALE)
	$(BIN)/snakemake --cores all --rerun-incomplete $(RERUN_BY_CONTENT) --configfile config/cpu_gnn_schnet.yaml
	@echo "tables: results/tables/"

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# The per-rule conda envs (envs/*.yaml) built for real without conda: a venv per env file from its pip list plus
# its post-deploy script, then every module its rules import, tiny PaiNN / EquiformerV2 included
# (tests/test_envs.py). Venvs are cached under ~/.cache/extrapbench/test-envs (EXTRAPBENCH_ENV_CACHE) by the env
# file's hash: minutes the first time, not part of `make test`.
test-envs: $(STAMP)
	EXTRAPBENCH_TEST_ENVS=1 $(BIN)/python -m pytest -q -s tests/test_envs.py -k built

# Plan the paper's full grid without running it.
dry-run: $(STAMP)
	$(BIN)/snakemake -n $(RERUN_BY_CONTENT) --configfile config/config.yaml

clean-results:
	rm -rf results/datasets results/features results/graphs results/splits results/runs results/tables \
	       results/figures results/logs

# --- Cluster runs, rerunning one method, regenerating tables and figures (README: "Running on a SLURM cluster",
# "Rerun one method", "Regenerate tables and figures"). Variables:
#   CONFIG=<config file(s)>   the workflow config; none = config/config.yaml (the paper's grid), as for snakemake
#   PROFILE=<profile>         e.g. profiles/slurm (jobs go through SLURM) or profiles/local; none = --cores $(CORES)
#   SMK_ARGS="..."            further snakemake options, e.g. "--sdm conda" on a cluster, or "-n" to only plan
CONFIG ?=
PROFILE ?=
SMK_ARGS ?=
# the workflow as configured (no executor options): for --summary
SNAKEMAKE_DAG = $(BIN)/snakemake $(if $(CONFIG),--configfile $(quoted_configs)) $(SMK_ARGS)
# a profile folder is passed as an absolute path: the profile's partitions.yaml then resolves under --directory too
SNAKEMAKE = $(BIN)/snakemake $(if $(PROFILE),--profile '$(if $(wildcard $(PROFILE)),$(abspath $(PROFILE)),$(PROFILE))',--cores $(CORES) --rerun-incomplete) \
	$(RERUN_BY_CONTENT) $(if $(CONFIG),--configfile $(quoted_configs)) $(SMK_ARGS)
# the rules that train (rerun-method forces them, figures never runs them), that evaluate a run's predictions, and
# that turn evaluated runs into tables and figures (tests/test_cluster_commands.py checks every rule is classified)
TRAIN_RULES := train train_seeds train_grid_point predict_reference
EVALUATE_RULES := evaluate_runs
REPORT_RULES := aggregate_tables table_splits table_variants table_candidate_range table_running_time \
	statistics_report table_provenance plot_label_distributions plot_parity plot_detection_recall \
	plot_critical_difference plot_lambda_sensitivity aggregate_other_split_tasks table_splits_other_split_tasks \
	table_provenance_other_split_tasks table_skill table_beats_erm_edge table_extrapolation_penalty plot_mae_vs_references \
	report_stamp record

.PHONY: rerun-method figures test-slurm reproduce-paper download slurm-profile

# Paper A exactly as its authors released it (config/authors.yaml: EquiformerV2 at the release's size, their
# per-method, per-task settings, EMA, clipping, AMP, ties in both parts, ddof-0 std). GPU work: run it on a cluster,
# e.g. make reproduce-paper PROFILE=profiles/slurm (README: "Reproduce paper A"); SMK_ARGS=-n only plans it.
reproduce-paper: CONFIG = config/authors.yaml
reproduce-paper: $(STAMP)
	$(UNLOCK_STALE)
	$(SNAKEMAKE)

# Retrain every run of one method (every task, backbone and seed, and its selection grid points if it has a grid),
# re-evaluate them, rebuild what depends on them. --forcerun names exactly that method's training jobs, read from
# the workflow's own DAG (snakemake --summary; scripts/slurm/method_runs.py); --rerun-triggers mtime keeps every
# other method's runs as they are, even if their config entries changed since.
rerun-method: $(STAMP)
	@test -n "$(METHOD)" || { echo "usage: make rerun-method METHOD=<method> [CONFIG=<config>] [PROFILE=<profile>]" >&2; exit 2; }
	$(UNLOCK_STALE)
	runs="$$($(SNAKEMAKE_DAG) --summary | $(BIN)/python scripts/slurm/method_runs.py '$(METHOD)' $(TRAIN_RULES))" && \
	$(SNAKEMAKE) --rerun-triggers mtime --forcerun $$runs

# Rebuild tables and figures from the runs on disk. Training can never run (--allowed-rules); an evaluate rule runs
# only for a run whose metrics.json is missing or older than its predictions (REEVALUATE=1: for every run).
# --forcerun would also create outputs of a report rule outside the DAG (e.g. the other-split-task tables of a config
# without such tasks), so it gets only the report rules the workflow's own DAG uses (snakemake --summary, column 3).
figures: $(STAMP)
	$(UNLOCK_STALE)
	dag_rules="$$($(SNAKEMAKE_DAG) --summary | awk -F'\t' 'NR > 1 {print $$3}' | sort -u)" && \
	forced="$$(for rule in $(REPORT_RULES); do printf '%s\n' "$$dag_rules" | grep -qx "$$rule" && echo $$rule || true; done)" && \
	$(SNAKEMAKE) --rerun-triggers mtime --allowed-rules $(REPORT_RULES) $(EVALUATE_RULES) \
		--forcerun $$forced $(if $(REEVALUATE),$(EVALUATE_RULES)) \
	|| { echo "make figures: failed (see above). It never trains: if run results are missing (MissingInputException" \
	          "naming results/...), run the workflow first, e.g. make demo or snakemake --configfile <config>." >&2; \
	     exit 1; }

# A real single-node SLURM cluster on this machine (root, Debian; scripts/slurm/cluster.sh installs slurm-wlm,
# munge, mariadb-server from Debian if missing, starts it unless it runs and stops it after if it started it):
# tests/test_slurm_cluster.py (marked `slurm`, opt-in by EXTRAPBENCH_TEST_SLURM=1) runs a small grid of the embedded
# default (config/demo.yaml) through profiles/slurm, scancels a running training job (Snakemake must fail it with
# the SLURM state; the rerun must resume it), fails the node of another (its retry must run and resume), runs one
# GPU-backbone training job, and checks them on sacct's records and the outputs; pytest prints its wall time. Not
# part of `make test` (see README).
test-slurm: $(STAMP)
	EXTRAPBENCH_TEST_SLURM=1 $(BIN)/python -m pytest -q -s -m slurm tests/test_slurm_cluster.py

# `snakemake --cores all --profile slurm`: a profile given by *name* is looked up in the working directory, then in
# Snakemake's user config folder ($XDG_CONFIG_HOME/snakemake, else ~/.config/snakemake), then /etc/xdg/snakemake.
# This links the repository's profiles/slurm there as `slurm` (a link: `git pull` updates it; its partitions.yaml
# resolves through the link). An existing `slurm` profile that is not such a link is left alone.
SNAKEMAKE_PROFILES ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake
slurm-profile:
	@mkdir -p "$(SNAKEMAKE_PROFILES)"
	@if [ -e "$(SNAKEMAKE_PROFILES)/slurm" ] && [ ! -L "$(SNAKEMAKE_PROFILES)/slurm" ]; then \
	  echo "make slurm-profile: $(SNAKEMAKE_PROFILES)/slurm exists and is not a link; move it away, or use --profile $(abspath profiles/slurm)" >&2; \
	  exit 1; fi
	ln -sfn "$(abspath profiles/slurm)" "$(SNAKEMAKE_PROFILES)/slurm"
	@echo "profile 'slurm' -> $(abspath profiles/slurm): snakemake --cores all --profile slurm now works from this repository's root"

# Every dataset of CONFIG into results/datasets (and data_home), here: on a cluster run it on the login node before
# the cluster run, so a failed download shows at once; the cluster run itself downloads nothing more (its
# download_dataset jobs run where Snakemake runs anyway: localrules in workflow/rules/download.smk).
download: $(STAMP)
	$(UNLOCK_STALE)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(RERUN_BY_CONTENT) $(if $(CONFIG),--configfile $(quoted_configs)) $(SMK_ARGS) --until download_dataset import_dataset
