"""Writing outputs so that an interrupted job never leaves a complete-looking file, and saying a full disk is one."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(write, path: str | os.PathLike) -> None:
    """Write through a temporary sibling file and rename, so an interrupted job never leaves a complete-looking
    output (a failed write removes the temporary file). The file gets the permissions of any newly created file
    (0666 less the umask), not those of the private temporary file some writers create. A full disk is reported
    as such, naming the file (disk_full_error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        full = disk_full_error(exc, path)  # before the partial file goes: it holds the space that ran out
        tmp.unlink(missing_ok=True)
        if full is not None:
            raise full from exc
        raise


#: torch.save's words when its stream writer's write fails (PyTorchStreamWriter, caffe2/serialize/
#: inline_container.cc): "[enforce fail at inline_container.cc:...] . unexpected pos ..." or "... file write failed"
TORCH_WRITE_FAILURES = ("inline_container.cc", "file write failed", "PytorchStreamWriter failed")
#: below this much free space, a torch.save that failed writing is taken for a full disk
NEARLY_FULL_BYTES = 16 * 2 ** 20


def disk_full_error(exc: BaseException, path: str | os.PathLike) -> OSError | None:
    """An OSError (errno ENOSPC) saying "no space left on device" and naming `path`, when `exc` is a failed write
    for want of space: an OSError with errno ENOSPC (or EDQUOT, a quota), or torch.save's RuntimeError about its
    file write (which never mentions the disk) while the file system has (almost) no space left. Else None."""
    import errno
    import shutil

    path = Path(path)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        what = "disk quota exceeded" if exc.errno != errno.ENOSPC else "no space left on device"
    elif isinstance(exc, RuntimeError) and any(words in str(exc) for words in TORCH_WRITE_FAILURES):
        try:
            if shutil.disk_usage(path.parent).free >= NEARLY_FULL_BYTES:
                return None
        except OSError:
            return None
        what = "no space left on device"
    else:
        return None
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    return OSError(errno.ENOSPC, f"{what}: cannot write {path} ({free}); free some space and rerun: no partial "
                                 f"file was left ({type(exc).__name__}: {exc})")


def _read_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it
