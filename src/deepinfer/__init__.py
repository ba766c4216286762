"""deepinfer: package, share and run medical-imaging models with exact geometry and verified artifacts.

Layers, lowest first (a module imports only from its own layer or below, through public names): card →
store → registry → imaging → pipeline, report → runners → run, container → jobs, package, client → server,
cli. :func:`deepinfer.run.run_model` is the hub every front end calls. The README's Architecture section
draws the same picture; ``tests/test_architecture.py`` enforces it."""

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
