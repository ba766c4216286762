"""``deepinfer package build CARD --base-image IMG``: a container image that runs an ONNX card, and the new
card version whose runtime is that image, pinned by its id.

The image holds deepinfer, the card's artifacts (verified against their sha256 before they are copied) and an
entrypoint (``python3 -m deepinfer.container``) that speaks our protocol and the 2017 DeepInfer one, so the
image also runs under the original DeepInfer Slicer module's command line. (Pushing an image to a remote
registry is not built: no registry can be reached from the machines this is developed on.)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepinfer._exceptions import ContainerError, UsageError
from deepinfer.card import IMAGE_NAME, ModelCard, dump_card, parse_card
from deepinfer.container import JOB_LABEL, ContainerEngine, ContainerJob, detect_engine
from deepinfer.package._context import (
    copy_deepinfer,
    dockerfile,
    link_or_copy,
    link_tree,
    pinned_requirements,
    site_packages,
)
from deepinfer.store import ArtifactStore

PROTOCOL_ARGS_PROGRESS = ("--progress", "json")
LABEL_PREFIX = "org.deepinfer"


@dataclass(frozen=True)
class BuildResult:
    image: str
    tag: str | None
    card: ModelCard
    card_path: Path


def _quiet(line: str) -> None:
    return None


def protocol_args(card: ModelCard) -> list[str]:
    """The argv template of our protocol for ``card`` (see :mod:`deepinfer.container._entrypoint`)."""
    from deepinfer.run import file_outputs

    args = ["run", *PROTOCOL_ARGS_PROGRESS]
    args += [item for m in card.inputs for item in ("--input", f"{m.name}={{inputs.{m.name}}}")]
    args += [item for name in file_outputs(card) for item in ("--output", f"{name}={{outputs.{name}}}")]
    args += [item for p in card.parameters for item in ("--param", f"{p.name}={{params.{p.name}}}")]
    return args


def image_python(engine: ContainerEngine, base_image: str) -> str:
    """The ``major.minor`` version of the base image's ``python3``."""
    lines: list[str] = []
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    name = f"deepinfer-probe-{uuid.uuid4().hex[:12]}"
    options = ("--rm", "--network", "none", "--label", f"{JOB_LABEL}={name}", "--entrypoint", "python3")
    job = ContainerJob(name, base_image, options, ("-c", probe), 120)
    code = engine.run(job, lines.append)
    version = next((line.strip() for line in reversed(lines) if re.fullmatch(r"3\.\d+", line.strip())), None)
    if code != 0 or version is None:
        raise ContainerError(f"the base image {base_image} has no working python3: {' | '.join(lines[-3:])}")
    return version


def _check_buildable(card: ModelCard, tag: str | None, runtime: str) -> None:
    from deepinfer.runners import RUNTIMES

    if card.runtime.type != "onnx":
        raise UsageError(
            f"{card.ref}: package build packages ONNX cards (this one is {card.runtime.type}; "
            "a container card already is an image, TorchScript would need torch in the image)"
        )
    onnx_runtimes = [name for name, spec in RUNTIMES.items() if spec.reads == "onnx"]
    if runtime not in onnx_runtimes:
        raise UsageError(f"--runtime {runtime!r}: the image runs ONNX with one of {', '.join(onnx_runtimes)}")
    if tag is not None and not re.fullmatch(IMAGE_NAME, tag):
        raise UsageError(f"--tag {tag!r}: use name[:tag] in lower case, e.g. deepinfer/prostate-taps:1.0.0")


def _model_artifacts(card: ModelCard) -> list[str]:
    examples = {name for e in card.examples for name in [*e.inputs.values(), *e.expected.values()]}
    return [a.name for a in card.artifacts if a.name not in examples]


def image_card(card: ModelCard) -> ModelCard:
    """The card inside the image: its model artifacts as files next to it (the store's layout), no examples."""
    data = card.model_dump(mode="json", exclude_none=True)
    wanted = set(_model_artifacts(card))
    data["artifacts"] = [
        {**a, "source": {"kind": "file", "path": f"artifacts/sha256/{a['sha256']}"}}
        for a in data["artifacts"]
        if a["name"] in wanted
    ]
    data["examples"] = []
    return parse_card(data, f"{card.ref} (in the image)")


def container_card(
    card: ModelCard, image: str, card_dir: Path | None, output: Path, version: str | None, runtime: str = "onnxruntime"
) -> ModelCard:
    """The new card version: same model description, runtime = the image pinned by id, no pipeline."""
    data: dict[str, Any] = card.model_dump(mode="json", exclude_none=True)
    models = set(_model_artifacts(card))
    pins = ", ".join(f"{a.name} sha256 {a.sha256}" for a in card.artifacts if a.name in models)
    data["version"] = version or f"{card.version.split('+')[0]}+image.{image.removeprefix('sha256:')[:12]}"
    data["runtime"] = {
        "type": "container",
        "image": image,
        "args": protocol_args(card),
        "data_path": "/data",
        "protocol": "deepinfer",
        "model_name": card.id,
        "gpu": "none",
    }
    data["pipeline"] = []
    built = f"Image built by deepinfer package build from {card.ref} ({pins}); networks run with {runtime}."
    data["notes"] = [*card.notes, built]
    data["tags"] = [*card.tags, "container"] if "container" not in card.tags else card.tags
    data["artifacts"], data["examples"] = _portable_examples(card, models, card_dir, output.parent)
    return parse_card(data, str(output))


def _portable_examples(
    card: ModelCard, models: set[str], card_dir: Path | None, folder: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Example artifacts whose sources stay valid from the new card's folder (file paths re-rooted)."""
    kept: list[dict[str, Any]] = []
    for artifact in card.artifacts:
        if artifact.name in models:
            continue
        item = artifact.model_dump(mode="json", exclude_none=True)
        if artifact.source.kind == "file":
            if card_dir is None:
                continue
            located = (card_dir / artifact.source.path).resolve()
            if not located.is_relative_to(folder.resolve()):
                continue
            item["source"] = {"kind": "file", "path": Path(os.path.relpath(located, folder.resolve())).as_posix()}
        kept.append(item)
    names = {a["name"] for a in kept}
    examples = [
        e.model_dump(mode="json", exclude_none=True)
        for e in card.examples
        if {*e.inputs.values(), *e.expected.values()} <= names
    ]
    return kept, examples


def build_image(
    card: ModelCard,
    card_dir: Path | None,
    base_image: str,
    output: Path,
    *,
    tag: str | None = None,
    version: str | None = None,
    runtime: str = "onnxruntime",
    engine: ContainerEngine | None = None,
    store: ArtifactStore | None = None,
    log: Callable[[str], None] = _quiet,
) -> BuildResult:
    """Build the image of ``card`` on ``base_image`` and write the container card to ``output``; inside, the
    networks run with ``runtime`` (onnxruntime or openvino) in exact precision."""
    _check_buildable(card, tag, runtime)
    engine = engine or detect_engine()
    engine.check()
    base = engine.image_id(base_image)
    if base is None:
        raise UsageError(f"the base image {base_image} is not on this machine (scripts/engine builds one)")
    store = store or ArtifactStore()
    python = image_python(engine, base)
    files = {name: store.fetch(card.artifact(name), base_dir=card_dir, verify=True) for name in _model_artifacts(card)}
    site = site_packages(store.home, python, pinned_requirements(runtime=runtime), log)
    inside = image_card(card)
    with tempfile.TemporaryDirectory(prefix="deepinfer-build-") as work:
        context = Path(work)
        link_tree(site, context / "site")
        copy_deepinfer(context / "lib", python)
        (context / "artifacts" / "sha256").mkdir(parents=True)
        for name, path in files.items():
            link_or_copy(path, context / "artifacts" / "sha256" / card.artifact(name).sha256)
        text = dump_card(inside)
        (context / "card.json").write_text(text, encoding="utf-8")
        (context / "Dockerfile").write_text(dockerfile(base, runtime), encoding="utf-8")
        labels = {
            f"{LABEL_PREFIX}.card": card.ref,
            f"{LABEL_PREFIX}.card.sha256": hashlib.sha256(text.encode()).hexdigest(),
            f"{LABEL_PREFIX}.base": base,
            f"{LABEL_PREFIX}.runtime": runtime,
        }
        log(f"building the image of {card.ref} on {base_image}")
        image = engine.build(context, tag, labels)
    new_card = container_card(card, image, card_dir, output, version, runtime)
    staging = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    staging.write_text(dump_card(new_card), encoding="utf-8")
    os.replace(staging, output)
    return BuildResult(image, tag, new_card, output)
