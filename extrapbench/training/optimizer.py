"""The optimiser of the training protocol: AdamW over a method's parameter groups, optionally without weight
decay on biases and normalisation layers (``train.no_weight_decay_bias_norm``).

The rule, as the MEX authors' release applies it: their fairchem trainer (``BaseTrainer.load_optimizer``,
fairchem-core 1.10 alike) puts every trainable parameter whose name ends with one of the model's
``no_weight_decay()`` names into a group with weight decay 0, and only when weight decay is > 0. Their model's
``no_weight_decay()`` (EquiformerV2, ``equiformer_v2_oc20.py``; fairchem's ``EquiformerV2Backbone`` has the same
method) lists the biases of Linear / SO3_LinearV2 layers (their heads included: in the release the heads are
part of the model) and every parameter of LayerNorm, the equivariant layer/RMS norms and
GaussianRadialBasisLayer. Here the rule is stated for any method and backbone: a parameter is exempt if

* it is a layer's ``bias``, or
* it belongs to a normalisation layer (torch's LayerNorm / GroupNorm / BatchNorm / RMSNorm, or any module whose
  class name contains "Norm", which covers fairchem's equivariant norms), or
* a wrapped model's own ``no_weight_decay()`` names it (EquiformerV2: the radial-basis layer, if present).

fairchem's generic ``GraphModelMixin.no_weight_decay`` (every name containing "embedding", "frequencies" or
"bias"; what PaiNN would inherit) is not used: the release has no PaiNN, and exempting PaiNN's atom embeddings
is not "biases and norm layers". The split is applied inside each of the method's own groups, so groups a
method defines for itself (BalancedMSE's unscheduled sigma group) keep their learning rate and flags.
"""
from __future__ import annotations

from typing import Iterable, List

import torch
from torch import nn

TORCH_NORMS = tuple(t for t in (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase,
                                getattr(nn, "RMSNorm", None)) if t is not None)


def is_norm_layer(module: nn.Module) -> bool:
    return isinstance(module, TORCH_NORMS) or "Norm" in type(module).__name__


def _own_no_weight_decay(module: nn.Module) -> Iterable[str]:
    """The names a model's own ``no_weight_decay()`` lists, except fairchem's generic mixin rule."""
    method = getattr(type(module), "no_weight_decay", None)
    if method is None or getattr(method, "__qualname__", "").startswith("GraphModelMixin."):
        return ()
    return module.no_weight_decay()


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Qualified names of `model`'s parameters that the rule above exempts from weight decay."""
    names: set[str] = set()
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        norm = is_norm_layer(module)
        for name, _ in module.named_parameters(recurse=False):
            if norm or name == "bias":
                names.add(prefix + name)
        names.update(prefix + name for name in _own_no_weight_decay(module))
    return names


def split_weight_decay(groups: List[dict], model: nn.Module) -> List[dict]:
    """Each group with weight decay > 0 becomes two: its exempt parameters (weight decay 0) and the rest; every
    other key of the group (lr, "scheduled") is kept. Groups without weight decay are left as they are."""
    exempt_names = no_weight_decay_names(model)
    exempt = {id(p) for name, p in model.named_parameters() if name in exempt_names}
    out = []
    for group in groups:
        if not group.get("weight_decay", 0.0):
            out.append(group)
            continue
        params = list(group["params"])
        decayed = [p for p in params if id(p) not in exempt]
        free = [p for p in params if id(p) in exempt]
        if decayed:
            out.append({**group, "params": decayed})
        if free:
            out.append({**group, "params": free, "weight_decay": 0.0})
    return out


def build_optimizer(method: nn.Module, learning_rate: float, weight_decay: float,
                    no_weight_decay_bias_norm: bool = False) -> torch.optim.AdamW:
    groups = method.param_groups(learning_rate, weight_decay)
    if no_weight_decay_bias_norm:
        groups = split_weight_decay(groups, method)
    return torch.optim.AdamW(groups)
