"""The precision block of a model card: how close the exact and fast modes must stay to the reference."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FastBounds(_Strict):
    """The accuracy ``--precision fast`` must keep against ``exact`` on every example of the card."""

    min_dice: float = Field(
        default=0.99, ge=0, le=1, description="Each labelmap output: mean Dice over its labels, fast vs exact."
    )
    max_abs_diff: float | None = Field(
        default=None,
        ge=0,
        description="Other volume outputs (e.g. probability maps) and class scores: largest |fast − exact|.",
    )
    min_class_agreement: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Class-score outputs: the fraction of planes whose top class is the same in fast and exact mode.",
    )


class Precision(_Strict):
    """Accuracy bounds of the precision modes (``deepinfer run --precision exact|fast``)."""

    exact_max_abs_diff: float = Field(
        default=1e-3,
        ge=0,
        description="Exact mode (fp32): the largest |Δ| of a network's output that another runtime may show "
        "against the card's own runtime on the same input (runtime auto rejects one above it).",
    )
    fast: FastBounds | None = Field(
        default=None,
        description="Fast mode (bf16/fp16 where the hardware computes it): the accuracy to keep against exact "
        "mode, checked by `deepinfer card test --precision fast`. Without it, fast mode runs exact.",
    )


__all__ = ["FastBounds", "Precision"]
