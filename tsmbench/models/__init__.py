"""Video model architectures: TSM / TSN (offline and online) and I3D, in plain torch."""
from tsmbench.models import builders as _builders  # noqa: F401  (registers the architectures)
from tsmbench.models.registry import ModelSpec, create_model, get_spec, list_models, register_model
from tsmbench.models.shift import TemporalShift, temporal_shift

__all__ = [
    "ModelSpec",
    "TemporalShift",
    "create_model",
    "get_spec",
    "list_models",
    "register_model",
    "temporal_shift",
]
