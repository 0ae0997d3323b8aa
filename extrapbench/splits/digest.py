"""A split's identity (split_digest), without the split kinds' registry: what the split rule writes into
results/splits/{task}.json, a record names per task, and the tables compare a record's tasks by."""
from __future__ import annotations

import hashlib

import pandas as pd

from extrapbench.naming import PARTS

#: what split_digest hashes, versioned: a change of the rule gets a new name, so old and new digests never match
SPLIT_DIGEST_RULE = "extrapbench-split-digest/1"


def split_digest(frame: pd.DataFrame) -> str:
    """The split's identity: sha256 over, per part (train, val, test), each member id in sorted order with its
    transformed target written exactly (``float.hex``). `frame` is `split_frame`'s (id, target, split), which is
    also the workflow's results/splits/{task}.csv, so the digest of a workflow split, of ``extrapbench split`` and
    of a record agree whenever the members and their targets do."""
    digest = hashlib.sha256(SPLIT_DIGEST_RULE.encode() + b"\n")
    for part in PARTS:
        rows = frame.loc[frame["split"] == part, ["id", "target"]]
        for member, target in sorted(zip(rows["id"].astype(str), rows["target"].astype(float))):
            digest.update(f"{part}\t{member}\t{float(target).hex()}\n".encode())
    return digest.hexdigest()
