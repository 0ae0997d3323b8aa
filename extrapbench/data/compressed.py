"""Compressed input files measured before they are parsed: a decompression bomb (a small file that decompresses to
gigabytes) is refused unread, naming the caps, instead of taking all memory in a parser."""
from __future__ import annotations

import os
from pathlib import Path

from extrapbench.data.errors import DataValidationError

#: the most bytes a compressed dataset file (gzip, bz2, xz) may decompress to: far above any dataset the benchmark
#: reads (matbench_phonons: 0.5 MB -> 11 MB); a file beyond it is refused before it is parsed
MAX_DECOMPRESSED_BYTES = 8 * 2 ** 30
#: the most a compressed file may grow by decompressing, once it exceeds RATIO_CHECKED_FROM_BYTES: JSON and CIF text
#: grows 5-30 fold, a gzip bomb (a small file of repeated bytes) up to 1000 fold
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 256 * 2 ** 20
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "lzma"}


def check_decompressed_size(path: str | os.PathLike, what: str) -> None:
    """Refuse (DataValidationError) a compressed file that decompresses to more than MAX_DECOMPRESSED_BYTES, or to
    more than MAX_COMPRESSION_RATIO times its own size where that exceeds RATIO_CHECKED_FROM_BYTES: a decompression
    bomb would otherwise take all memory in the JSON parser. Streamed once, nothing kept; it stops at the limit, so
    a bomb costs at most that much reading. An uncompressed file passes."""
    import importlib

    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(6)
    kind = next((module for magic, module in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        return
    size = path.stat().st_size
    limit = min(MAX_DECOMPRESSED_BYTES, max(RATIO_CHECKED_FROM_BYTES, MAX_COMPRESSION_RATIO * size))
    total = 0
    try:
        with importlib.import_module(kind).open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    break
    except (OSError, EOFError, ValueError):
        return  # not a complete archive: the reader that follows reports it as truncated or corrupt
    if total > limit:
        raise DataValidationError(
            f"{what}: {path} ({size} bytes, {kind}) decompresses to more than {limit} bytes, {limit // size} times "
            f"its size; refused unread (a decompression bomb, or not the dataset's file). The caps "
            f"(extrapbench/data/compressed.py): MAX_DECOMPRESSED_BYTES = {MAX_DECOMPRESSED_BYTES}, and "
            f"MAX_COMPRESSION_RATIO = {MAX_COMPRESSION_RATIO} beyond RATIO_CHECKED_FROM_BYTES = "
            f"{RATIO_CHECKED_FROM_BYTES}. Replace the file with the dataset's own.")
