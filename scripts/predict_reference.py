"""Rule predict_reference: one reference predictor on one task -> predictions.csv and provenance.json per seed
(extrapbench.reference_runs), in the backbone-independent results/references/{task}/{reference}/seed{seed}/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

sm = snakemake  # noqa: F821
redirect_to_log(sm)

from extrapbench.training.reference_run import predict_references  # noqa: E402

runs = [{"backbone": None, "reference": sm.wildcards.method, "seed": int(seed), "predictions": predictions,
         "provenance": provenance}
        for seed, predictions, provenance in zip(sm.params.seeds, sm.output.predictions, sm.output.provenance,
                                                 strict=True)]
predict_references(split_json=sm.input.split_json, split_csv=sm.input.split_csv,
                   features_csv=sm.input.get("features"), references={sm.wildcards.method: sm.params.reference},
                   runs=runs)
