"""MEX's prediction: the candidate search for argmax_y cos(x, l(y)) (or the score network's S(x, l(y))), as a
mixin of the MEX method (extrapbench/methods/mex/method.py, which holds the model, the losses and the settings).

Per chunk of materials the search (``search.monte_carlo_argmax``) scores candidates either from the cosine
table (``search_scoring: table``, ``cosine_table``; cosine inference with a smooth label activation), with the
final pick among the table's best made by the exact score, or directly (``inference_scores``: every candidate
encoded, in cache-sized blocks on a CPU).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from extrapbench.methods.mex.cosine_table import COSINE_EPS, SMOOTH_ACTIVATIONS, CosineTables
from extrapbench.methods.mex.search import monte_carlo_argmax

SEARCH_SCORING = ("table", "direct")
#: materials searched at once by default: on a CPU a chunk's [32, 2,000] tensors stay in cache and still split over
#: two threads (1.1-1.3x faster per material than 16 or 64 at once, measured interleaved, 1 and 2 threads); a GPU
#: wants the whole batch
CPU_SEARCH_CHUNK, DEVICE_SEARCH_CHUNK = 32, 64
#: floats of label encodings scored at once on a CPU (1 MB: fits a core's L2 cache; benchmarks/workflow_cost.py mex)
SCORE_BLOCK_ELEMENTS = 1 << 18


def cosine_to_each(x: torch.Tensor, labels: torch.Tensor, eps: float = COSINE_EPS, few_rows: bool = False
                   ) -> torch.Tensor:
    """cos(x_b, labels_b,k): x [B, d], labels [B, K, d] -> [B, K]. The unit x is dotted with each label row by
    a batched matrix product: several times faster than F.cosine_similarity with broadcasting, which
    materialises x expanded to [B, K, d]. `few_rows` (the search's cache-sized CPU blocks of 2-16 rows): vecdot
    instead, 2-3x faster than bmm at that shape on a CPU, 3x slower at B = 64 (measured, torch 2.13)."""
    unit_x = F.normalize(x, dim=-1, eps=eps)
    if few_rows:
        dots = torch.linalg.vecdot(labels, unit_x.unsqueeze(-2))
    else:
        dots = torch.bmm(labels, unit_x.unsqueeze(-1)).squeeze(-1)
    return dots / torch.linalg.vector_norm(labels, dim=-1).clamp_min(eps)


class MEXInference:
    """predict() and its scoring, for a class that provides hparams, encode_material, encode_labels, score,
    label_encoder and candidate_low / candidate_high (extrapbench.methods.mex.MEX)."""

    def inference_scores(self, x: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """What the search maximises: x [B, d], candidates [B, C] -> [B, C].

        On a CPU the rows are scored a block at a time, each block's [rows, C, d] label encodings about
        SCORE_BLOCK_ELEMENTS floats: they stay in cache between the encoder, the activation and the dot
        products, which makes scoring 2,000 candidates several times faster than one [64, 2000, d] pass.
        On a GPU one pass is fastest. Either way each row's scores are exactly what one pass gives."""
        if x.device.type != "cpu":
            return self._score_block(x, candidates)
        rows = max(1, SCORE_BLOCK_ELEMENTS // (candidates.shape[1] * x.shape[1]))
        if rows >= len(candidates):
            return self._score_block(x, candidates)
        return torch.cat([self._score_block(x[start:start + rows], candidates[start:start + rows], few_rows=True)
                          for start in range(0, len(candidates), rows)])

    def _score_block(self, x: torch.Tensor, candidates: torch.Tensor, few_rows: bool = False) -> torch.Tensor:
        z_labels = self.encode_labels(candidates)
        if self.hparams["inference"] == "cosine":
            return cosine_to_each(x, z_labels, few_rows=few_rows)
        return self.score(x, z_labels)

    @torch.no_grad()
    def predict(self, batch):
        h = self.hparams
        x = self.encode_material(batch)
        # the search's generator and every tensor it makes live where the parameters (and x) live
        generator = torch.Generator(device=x.device).manual_seed(h["search_seed"])
        tables = self._cosine_tables()
        table = tables.for_materials(x) if tables is not None else None  # every material's, one matrix product
        out = []
        chunk_size = h["search_chunk_size"] or (CPU_SEARCH_CHUNK if x.device.type == "cpu" else DEVICE_SEARCH_CHUNK)
        for start in range(0, len(x), chunk_size):
            chunk = x[start:start + chunk_size]
            exact = lambda candidates, x_chunk=chunk: self.inference_scores(x_chunk, candidates)  # noqa: E731
            out.append(monte_carlo_argmax(
                exact if table is None else table.rows(start, start + len(chunk)), len(chunk), self.candidate_low,
                self.candidate_high, h["num_candidates"], h["search_iterations"], h["search_noise"],
                h["search_shrink"], generator=generator, device=x.device, answer=h["search_answer"],
                rescore=None if table is None else exact))
        return torch.cat(out)

    def _cosine_tables(self) -> CosineTables | None:
        """The search's score table (extrapbench/methods/mex/cosine_table.py) where it applies: cosine
        inference, ``search_scoring: table`` and a label activation with a continuous derivative."""
        h = self.hparams
        if h["inference"] != "cosine" or h["search_scoring"] != "table" or h["label_activation"] not in \
                SMOOTH_ACTIVATIONS:
            return None
        linear = self.label_encoder[0]
        # kept while the label encoder is unchanged (a validation pass calls predict once per batch): an in-place
        # update (optimiser step, EMA swap, load_state_dict) bumps a tensor's _version, a new tensor its data_ptr
        key = tuple((p.data_ptr(), p._version) for p in (linear.weight, linear.bias))
        cached = getattr(self, "_cosine_tables_cache", None)
        if cached is None or cached[0] != key:
            cached = key, CosineTables(linear.weight[:, 0], linear.bias, h["label_activation"], self.candidate_low,
                                       self.candidate_high)
            self._cosine_tables_cache = cached
        return cached[1]
