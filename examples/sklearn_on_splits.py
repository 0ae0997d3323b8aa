"""A scikit-learn model trained on the benchmark's splits through the Python API, scored beside the reference
predictors, and written as a record that `extrapbench compare` reads.

    .venv/bin/python examples/sklearn_on_splits.py [--config config/demo.yaml] [--task phonons_top]
                                                   [--out results/examples/sklearn_rf.json.gz]

A random forest on Magpie composition features (matminer's, as the benchmark's own `ref: RF (Magpie)` uses), fitted
on train for each of two seeds, in transformed units (the natural log of the phonon peak, what the workflow's
tables report). About a minute on 2 cores on phonons_top of config/demo.yaml, most of it the reference predictors'
random forest (500 trees, per seed); `--references edge_train,edge_known,train_mean,ridge` makes it faster.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from extrapbench.api import Benchmark
from extrapbench.data.features import magpie_features


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/demo.yaml")
    parser.add_argument("--task", default="phonons_top")
    parser.add_argument("--out", default="results/examples/sklearn_rf.json.gz")
    parser.add_argument("--references", default=None, help="comma-separated (default: the config's)")
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    references = None if args.references is None else args.references.split(",")
    bench = Benchmark.from_config(args.config, name="sklearn_rf", units="transformed", tasks=[args.task],
                                  references=references, device="cpu")
    task = bench.tasks[args.task]
    train, val, test = task.train(), task.val(), task.test_inputs()   # id, composition, structure (, target)
    features = {name: magpie_features(part.set_index("id")["composition"]) for name, part in
                (("train", train), ("val", val), ("test", test))}
    for seed in (0, 1):
        model = RandomForestRegressor(n_estimators=args.trees, random_state=seed, n_jobs=1)
        model.fit(features["train"].to_numpy(), train["target"].to_numpy())
        # test ids are required; val predictions are optional (they add val to the detection recall)
        predictions = pd.concat([pd.Series(model.predict(features[part].to_numpy()), index=features[part].index)
                                 for part in ("val", "test")])
        metrics = task.record(seed, predictions, params={"n_estimators": args.trees, "features": "magpie"})
        print(f"seed {seed}: test MAE {metrics['mae']:.4f} ({bench.units} units)")

    scores = bench.scores()
    columns = ["entry", "n_seeds", "mae_mean", "mae_std", "spearman_mean", "detect_recall_mean", "skill_mean",
               "vs_edge_train", "vs_edge_known", "vs_ridge"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(scores[[c for c in columns if c in scores.columns]].to_string(index=False))
    path = bench.to_file(args.out)
    print(f"wrote {path} ({time.perf_counter() - started:.0f} s); compare it with another record: "
          f"extrapbench compare {path} OTHER.json.gz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
