"""The architecture, read from the source: every package's public names (pinned here, in one place, as httpx's
``test_exported_members.py`` does), imports that only go down the layers, and no import of another package's
private module. (The README's Architecture section draws the same layers.)"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "deepinfer"

# Lowest first. A module may import from its own layer or a lower one. The foundation is the root package's own
# private modules (exceptions, configuration, metrics, atomic files), which every package may use.
LAYERS: list[set[str]] = [
    {"", "_exceptions", "_config", "_metrics", "_files", "_exports"},
    {"card"},
    {"store"},
    {"registry"},
    {"imaging", "dicomweb"},
    {"pipeline", "report"},
    {"runners"},
    # run runs a container card through container; the container's in-image entrypoint calls run back.
    {"run", "container"},
    {"jobs", "package", "client", "batch"},
    {"server"},
    {"cli"},
    {"__main__"},
]
LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}

# fmt: off
PUBLIC_NAMES: dict[str, list[str]] = {
    "deepinfer": [
        "CardError", "ContainerError", "DeepInferError", "FetchError", "InputError", "IntegrityError",
        "ModelNotFoundError", "PipelineError", "Problem", "RuntimeUnavailableError", "UsageError", "__version__"
    ],
    "deepinfer.card": [
        "Artifact", "BoolParameter", "CARD_SCHEMA_VERSION", "CardSummary", "ClassScoresMember", "ContainerRuntime",
        "DebianMemberSource", "EnumParameter", "Example", "FastBounds", "FileSource", "FloatParameter", "IMAGE_NAME",
        "IntParameter", "Label", "LabelmapMember", "ModelCard", "OnnxRuntime", "PLACEHOLDER", "ParameterValues",
        "PointListMember", "Precision", "ProbabilityMapMember", "SEGMENT_CATEGORIES", "SEMVER", "SHA256",
        "ScalarMember", "SeriesRule",
        "Step", "StringParameter", "UrlSource", "VolumeMember", "WheelMemberSource", "card_json_schema", "card_summary",
        "default_value", "dump_card", "import_legacy", "json_path", "load_card", "load_legacy", "looks_like_legacy",
        "parse_card", "read_card_json", "resolve_parameters", "schema_text", "slugify", "validate_card"
    ],
    "deepinfer.registry": [
        "CardCheck", "CombinedRegistry", "DirectoryRegistry", "EMBEDDED_NAME", "EmbeddedRegistry", "HttpRegistry",
        "INDEX_NAME", "IndexEntry", "LoadedCard", "Registry", "RegistrySource", "SIGNATURE_SUFFIX", "SummaryCache",
        "add_source", "build_index", "check_cards", "default_registry", "describe_age", "embedded_registry_path",
        "key_id", "load_private_key", "load_sources", "open_registry", "parse_public_key", "public_key_text",
        "read_index", "read_snapshot", "remove_source", "sign_index", "verify_index", "version_key", "write_index",
        "write_private_key"
    ],
    "deepinfer.store": [
        "ArtifactStore", "ByteProgress", "ByteStream", "CacheEntry", "ExtractLimits", "HttpResponse", "HttpTransport",
        "PipDownloader", "Source", "SubprocessPipDownloader", "UrlPolicy", "UrllibTransport",
        "check_relative", "check_url_path", "exclusive_lock", "extract_archive", "host_key", "lock_if_free",
        "open_checked", "read_limited", "remove_path", "resolve_inside", "sha256_file"
    ],
    "deepinfer.imaging": [
        "BestPlane", "ClassScoresSummary", "DicomAlgorithm", "DicomSource", "GENERIC_CODE", "Geometry", "INSTALL_HINT",
        "SUPPORTED_SUFFIXES", "Volume", "check_source_grid", "class_scores_report", "dicom_bytes", "image_files",
        "image_suffix", "measurement_report", "read_dicom_source", "read_volume", "require_highdicom", "segment_labels",
        "segmentation", "volume_from_sitk", "volume_to_sitk",
        "write_volume"
    ],
    "deepinfer.dicomweb": [
        "DicomWebLocation", "MAX_INSTANCES", "PACS_FILE", "PASSWORD_VARIABLE", "Pacs", "TOKEN_VARIABLE",
        "USER_VARIABLE", "allowed_pacs", "check_uid", "configured_pacs", "credentials", "fetch_series", "is_dicomweb",
        "open_client", "parse_location", "store_files"
    ],
    "deepinfer.pipeline": [
        "ClassScores", "FloatArray", "Network", "NetworkProvider", "PLANES", "ParamError", "Pipeline",
        "PipelineResult", "PipelineState", "PipelineStep",
        "ProgressCallback", "Tensor", "build_steps", "no_progress", "run_steps", "step_names",
        "validate_card_document", "validate_card_pipeline"
    ],
    "deepinfer.runners": [
        "AUTO", "ChoiceCache", "DEFAULT_TOLERANCE", "ExportedFile", "NetworkCache",
        "OnnxNetwork", "OpenVinoNetwork", "PRECISIONS", "PRECISION_VARIABLE", "RUNTIMES", "RUNTIME_CHOICES",
        "RUNTIME_VARIABLE", "SelectedNetwork", "TorchScriptNetwork", "card_network_cache", "check_choice",
        "check_external_data", "describe_verdict", "export_card_networks", "installed", "load_network",
        "prune_derived", "requested_runtime"
    ],
    "deepinfer.report": [
        "Box", "Panel", "PlaneScoreChart", "overlay_panels", "render_overlay", "render_plane_scores", "render_result",
        "render_scores", "report_path"
    ],
    "deepinfer.run": [
        "RunResult", "StagedOutputs", "check_input_names", "check_inputs", "check_working_memory", "decision_summary",
        "dicom_sr_path", "estimate_working_bytes", "fetch_artifact", "file_outputs", "input_warnings",
        "is_dicom_output", "label_statistics", "labelled_volume_ml", "output_stem", "plan_outputs", "provenance_path",
        "provenance_record", "run_model", "runtime_record", "score_outputs", "scores_csv_path", "scores_document",
        "scores_json_path", "stage_statistics", "statistics_paths", "storage_error", "store_dicom_outputs",
        "volume_outputs", "write_report"
    ],
    "deepinfer.container": [
        "CliEngine", "ContainerEngine", "ContainerJob", "ContainerOptions", "ContainerResult", "DockerEngine",
        "ENGINE_VARIABLE", "GPU_VARIABLE", "JOB_LABEL", "JobFolder", "Leftover", "LineSplitter", "MAX_SCORES_BYTES",
        "Owner", "PodmanEngine", "ProgressLine", "SignalExit", "TIMEOUT_VARIABLE", "argv_value", "clean_line",
        "command_argv", "container_paths", "detect_engine", "exit_on_signals", "gpu_device", "mount_options",
        "nvidia_gpu_count", "parse_progress", "plane_axis", "progress_json", "prune_orphans", "read_container_scores",
        "run_container", "work_roots"
    ],
    "deepinfer.jobs": [
        "CardLookup", "INPUT_SUFFIXES", "InputFile", "JOB_ID", "Job", "JobFolders", "JobManager", "JobState",
        "JobStore",
        "ManagerSettings", "RetentionPolicy", "UPLOAD_SUFFIXES", "display_name", "scrub_paths", "upload_suffix"
    ],
    "deepinfer.package": [
        "BuildResult", "CARD_TEMPLATES", "CardTemplate", "EXPORT_ID_SUFFIX", "EXPORT_MIN_DICE", "ExampleCheck",
        "build_image", "check_examples", "check_exportable", "check_fast_mode", "compare", "compare_modes",
        "compare_score_modes",
        "container_card", "convert_card_to_onnx", "draft_card", "draft_classifier_card", "example_volume",
        "image_card", "import_monai_bundle", "import_nnunet_results", "member_name", "pinned_requirements",
        "protocol_args", "run_example", "site_packages"
    ],
    "deepinfer.batch": [
        "BatchOptions", "BatchResult", "CASE_ID_COLUMN", "COLUMNS", "Case", "CaseRecord", "Cohort", "DEFAULT_SUFFIX",
        "FAILED", "GIB", "LostAttempts", "MANIFEST_NAME", "Manifest", "RAY_INSTALL", "RAY_RETRIES", "SKIPPED",
        "SUCCEEDED", "WorkerPlan", "actor_lost", "available_memory", "case_id", "case_memory", "case_outputs",
        "connect_ray", "find_cases", "import_ray", "pending_cases", "plan_workers", "ray_connection", "ray_plan",
        "read_manifest", "run_batch", "up_to_date"
    ],
    "deepinfer.client": [
        "ServerClient", "ServerRegistry", "job_error", "job_warnings", "sse_events"
    ],
    "deepinfer.server": [
        "ServerSettings", "TOKEN_VARIABLE", "check_settings", "create_app", "default_data_dir", "is_loopback",
        "serve"
    ],
    "deepinfer.cli": [
        "main", "option_name", "run_cli"
    ],
}
# fmt: on


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """``deepinfer.card._model`` → ``card``; ``deepinfer._files`` → ``_files``; ``deepinfer`` → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every deepinfer import in the package, lazy ones too."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "deepinfer":
                found += [(module, node.module, node.lineno)]
                found += [(module, f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(module, a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "deepinfer"]
    return found


def test_every_package_is_in_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in SOURCE.rglob("*.py")}
    assert units - set(LAYER) == set(), "put the new package in LAYERS (and in the README's Architecture section)"


def test_imports_only_go_down() -> None:
    upward = [
        f"{module}:{line} imports {target}"
        for module, target, line in imports()
        if unit_of(target) in LAYER and LAYER[unit_of(target)] > LAYER[unit_of(module)]
    ]
    assert upward == []


def test_no_module_imports_another_packages_private_module() -> None:
    private = []
    for module, target, line in imports():
        parts = target.split(".")
        crosses = unit_of(target) != unit_of(module) and not unit_of(target).startswith("_")
        if len(parts) > 2 and parts[2].startswith("_") and crosses:
            private.append(f"{module}:{line} imports {target}")
    assert private == []


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_public_names_are_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC_NAMES[package]
    for name in module.__all__:
        assert getattr(module, name) is not None
