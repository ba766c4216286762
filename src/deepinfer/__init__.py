"""deepinfer: package, share and run medical-imaging models with exact geometry and verified artifacts."""

from deepinfer._exceptions import (
    CardError,
    ContainerError,
    DeepInferError,
    FetchError,
    InputError,
    IntegrityError,
    ModelNotFoundError,
    PipelineError,
    Problem,
    RuntimeUnavailableError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "CardError",
    "ContainerError",
    "DeepInferError",
    "FetchError",
    "InputError",
    "IntegrityError",
    "ModelNotFoundError",
    "PipelineError",
    "Problem",
    "RuntimeUnavailableError",
    "UsageError",
    "__version__",
]
