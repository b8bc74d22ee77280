"""tsmbench's error hierarchy.

Every class carries the process exit code the CLI uses for it and also inherits the builtin a
Python caller would expect (an unknown model is also a KeyError, a missing file a
FileNotFoundError), in the manner of huggingface_hub's errors. Messages are one line and say
what to do next.
"""
from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class TsmbenchError(Exception):
    """Base class: something tsmbench could not do (exit code 1)."""

    exit_code: int = EXIT_FAILURE


class UsageError(TsmbenchError, ValueError):
    """The input is unusable as given: a bad option, shape, file or name (exit code 2)."""

    exit_code = EXIT_USAGE


class ModelNotFoundError(UsageError, KeyError):
    """An unknown model name or zoo id."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InputShapeError(UsageError):
    """A tensor given to a model does not have the layout the model expects."""


class CheckpointError(UsageError):
    """A checkpoint cannot be read, or does not fit the architecture it is loaded into."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint would need arbitrary-code unpickling to load; it is refused."""


class WeightsNotCachedError(TsmbenchError, FileNotFoundError):
    """Weights are not in the local cache and cannot be fetched now (offline)."""


class DownloadError(TsmbenchError, ConnectionError):
    """A download failed or was interrupted."""


class ChecksumMismatchError(TsmbenchError):
    """A file's sha256 does not match the pinned value."""


class DatasetError(UsageError):
    """A dataset card, annotation file or video cannot be used."""


class BackendUnavailableError(TsmbenchError):
    """A backend or device is not available here (missing package, no GPU, no TensorRT)."""


class ParityError(TsmbenchError):
    """An exported engine disagrees with torch beyond the tolerance."""
