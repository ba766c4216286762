"""Model card v2: pydantic models, JSON Schema export, validation report, legacy (2017) import."""

from typing import TYPE_CHECKING

from deepinfer._exports import lazy_exports

if TYPE_CHECKING:
    from deepinfer.card._constants import CARD_SCHEMA_VERSION as CARD_SCHEMA_VERSION
    from deepinfer.card._constants import SEMVER as SEMVER
    from deepinfer.card._constants import SHA256 as SHA256
    from deepinfer.card._legacy import import_legacy as import_legacy
    from deepinfer.card._legacy import load_legacy as load_legacy
    from deepinfer.card._legacy import looks_like_legacy as looks_like_legacy
    from deepinfer.card._model import IMAGE_NAME as IMAGE_NAME
    from deepinfer.card._model import PLACEHOLDER as PLACEHOLDER
    from deepinfer.card._model import SEGMENT_CATEGORIES as SEGMENT_CATEGORIES
    from deepinfer.card._model import Artifact as Artifact
    from deepinfer.card._model import BoolParameter as BoolParameter
    from deepinfer.card._model import ClassScoresMember as ClassScoresMember
    from deepinfer.card._model import ContainerRuntime as ContainerRuntime
    from deepinfer.card._model import DebianMemberSource as DebianMemberSource
    from deepinfer.card._model import EnumParameter as EnumParameter
    from deepinfer.card._model import Example as Example
    from deepinfer.card._model import FileSource as FileSource
    from deepinfer.card._model import FloatParameter as FloatParameter
    from deepinfer.card._model import IntParameter as IntParameter
    from deepinfer.card._model import Label as Label
    from deepinfer.card._model import LabelmapMember as LabelmapMember
    from deepinfer.card._model import ModelCard as ModelCard
    from deepinfer.card._model import OnnxRuntime as OnnxRuntime
    from deepinfer.card._model import PointListMember as PointListMember
    from deepinfer.card._model import ProbabilityMapMember as ProbabilityMapMember
    from deepinfer.card._model import ScalarMember as ScalarMember
    from deepinfer.card._model import Step as Step
    from deepinfer.card._model import StringParameter as StringParameter
    from deepinfer.card._model import UrlSource as UrlSource
    from deepinfer.card._model import VolumeMember as VolumeMember
    from deepinfer.card._model import WheelMemberSource as WheelMemberSource
    from deepinfer.card._model import slugify as slugify
    from deepinfer.card._params import ParameterValues as ParameterValues
    from deepinfer.card._params import default_value as default_value
    from deepinfer.card._params import resolve_parameters as resolve_parameters
    from deepinfer.card._precision import FastBounds as FastBounds
    from deepinfer.card._precision import Precision as Precision
    from deepinfer.card._schema import card_json_schema as card_json_schema
    from deepinfer.card._schema import schema_text as schema_text
    from deepinfer.card._series_rule import SeriesRule as SeriesRule
    from deepinfer.card._summary import CardSummary as CardSummary
    from deepinfer.card._summary import card_summary as card_summary
    from deepinfer.card._validate import dump_card as dump_card
    from deepinfer.card._validate import json_path as json_path
    from deepinfer.card._validate import load_card as load_card
    from deepinfer.card._validate import parse_card as parse_card
    from deepinfer.card._validate import read_card_json as read_card_json
    from deepinfer.card._validate import validate_card as validate_card

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "_constants": "CARD_SCHEMA_VERSION SEMVER SHA256",
        "_legacy": "import_legacy load_legacy looks_like_legacy",
        "_model": (
            "Artifact BoolParameter ClassScoresMember ContainerRuntime DebianMemberSource EnumParameter Example "
            "FileSource FloatParameter IMAGE_NAME IntParameter Label LabelmapMember ModelCard OnnxRuntime "
            "PLACEHOLDER PointListMember ProbabilityMapMember SEGMENT_CATEGORIES ScalarMember Step StringParameter "
            "UrlSource VolumeMember WheelMemberSource slugify"
        ),
        "_params": "ParameterValues default_value resolve_parameters",
        "_precision": "FastBounds Precision",
        "_schema": "card_json_schema schema_text",
        "_series_rule": "SeriesRule",
        "_summary": "CardSummary card_summary",
        "_validate": "dump_card json_path load_card parse_card read_card_json validate_card",
    },
)
