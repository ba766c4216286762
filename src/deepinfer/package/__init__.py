"""Tools for model authors: draft a card from an ONNX file, test a card against its examples, build a container
image that runs a card (and the new card version pinned to that image)."""

from deepinfer.package._build import BuildResult, build_image, container_card, image_card, protocol_args
from deepinfer.package._card_test import ExampleCheck, check_examples, compare, run_example
from deepinfer.package._context import pinned_requirements, site_packages
from deepinfer.package._init_card import draft_card, member_name

__all__ = [
    "BuildResult",
    "ExampleCheck",
    "build_image",
    "check_examples",
    "compare",
    "container_card",
    "draft_card",
    "image_card",
    "member_name",
    "pinned_requirements",
    "protocol_args",
    "run_example",
    "site_packages",
]
