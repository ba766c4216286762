"""Tools for model authors: draft a card from an ONNX file (a 3D segmenter, or a 2D classifier run plane by plane,
from a template such as ``spine-planes``), import a MONAI bundle or an nnU-Net v2 results folder as a card folder,
test a card against its examples (and fast mode against exact mode), convert a TorchScript card to a checked ONNX
card, build a container image that runs a card (and the new card version pinned to that image)."""

from deepinfer.package._build import BuildResult, build_image, container_card, image_card, protocol_args
from deepinfer.package._card_test import ExampleCheck, check_examples, compare, run_example
from deepinfer.package._classifier_card import TEMPLATES as CARD_TEMPLATES
from deepinfer.package._classifier_card import CardTemplate, draft_classifier_card
from deepinfer.package._context import pinned_requirements, site_packages
from deepinfer.package._export_card import ID_SUFFIX as EXPORT_ID_SUFFIX
from deepinfer.package._export_card import MIN_DICE as EXPORT_MIN_DICE
from deepinfer.package._export_card import check_exportable, convert_card_to_onnx, example_volume
from deepinfer.package._fast_check import check_fast_mode, compare_modes, compare_score_modes
from deepinfer.package._init_card import draft_card, member_name
from deepinfer.package._monai_bundle import import_monai_bundle
from deepinfer.package._nnunet_import import import_nnunet_results

__all__ = [
    "CARD_TEMPLATES",
    "EXPORT_ID_SUFFIX",
    "EXPORT_MIN_DICE",
    "BuildResult",
    "CardTemplate",
    "ExampleCheck",
    "build_image",
    "check_examples",
    "check_exportable",
    "check_fast_mode",
    "compare",
    "compare_modes",
    "compare_score_modes",
    "container_card",
    "convert_card_to_onnx",
    "draft_card",
    "draft_classifier_card",
    "example_volume",
    "image_card",
    "import_monai_bundle",
    "import_nnunet_results",
    "member_name",
    "pinned_requirements",
    "protocol_args",
    "run_example",
    "site_packages",
]
