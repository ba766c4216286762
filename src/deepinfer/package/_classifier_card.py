"""``deepinfer card init --task classification model.onnx``: a draft plane-wise classification card from a 2D
classifier's ONNX graph, and the documented templates it can start from (``--template spine-planes``).

What the graph tells: the layout (``NCHW`` or ``NHWC``, from where the 1- or 3-channel axis is), the channels, the
plane size (the network's H × W, else :data:`DEFAULT_PLANE_SIZE`, marked for the author) and the number of classes
(the first output's last axis). The draft runs every plane of the chosen anatomical plane (a ``plane`` parameter,
default from ``--plane``): each plane windowed to [0, 1] on its own, resized to H × W, its grey level copied into
the network's channels, batched to the runtime, then softmax (unless the graph already ends in a Softmax or
Sigmoid) and the volume's decision by the ``max`` rule. What the graph cannot tell is marked ``TODO`` in the card.

A template fills in what a known kind of model needs: ``spine-planes`` is the target-plane classifier of the
DeepInfer paper's second use case (3D ultrasound of the lumbar spine; no weights for it ship with deepinfer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard, parse_card, slugify
from deepinfer.package._init_card import member_name, model_artifact

DEFAULT_PLANE_SIZE = 224
TODO = "TODO"
CLASSIFICATION_PLANES = ("axial", "coronal", "sagittal", "frames")


@dataclass(frozen=True)
class CardTemplate:
    """What a template sets in a drafted classification card (the rest comes from the graph)."""

    classes: tuple[str, ...]
    modality: str = "unknown"
    anatomy: str = "unknown"
    description: str = ""
    intended_use: str = ""
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


SPINE_PLANES = CardTemplate(
    classes=("transverse process", "facet joint", "lamina", "spinous process"),
    modality="US",
    anatomy="lumbar spine",
    description=(
        "TODO: describe your network. Template: a 2D target-plane classifier for 3D ultrasound of the lumbar spine "
        "(the second use case of the DeepInfer paper, Mehrtash et al., SPIE 2017): every plane of the volume gets "
        "a score for each of the four anatomical classes (transverse process, facet joint, lamina, spinous "
        "process); the planes scoring highest for lamina are the candidate target planes for an epidural "
        "injection, those scoring highest for facet joint the target planes for a facet-joint injection."
    ),
    intended_use=(
        "TODO: state the intended use and its limits. Research only until the model is validated; not for "
        "guiding an injection."
    ),
    tags=("spine", "ultrasound", "target plane", "classification", "2D", "plane-wise", "TODO"),
    notes=(
        "Template spine-planes: no pretrained spine model ships with deepinfer; this card runs YOUR ONNX file. "
        "Check that the class order above is the order of your network's outputs.",
        "Target planes: the best planes of 'lamina' (epidural injection) and of 'facet joint' (facet-joint "
        "injection) are listed per class in the scores JSON and shown in the report's chart; TODO: confirm "
        "this mapping against your labelling protocol.",
        "Plane: a 3D ultrasound volume rarely carries an anatomical orientation; use --plane frames (the stored "
        "frames of a sweep as they are) unless your volumes are oriented in patient coordinates.",
    ),
)

TEMPLATES = {"spine-planes": SPINE_PLANES}


def template_named(name: str) -> CardTemplate:
    """The classification card template ``name`` (see :data:`TEMPLATES`)."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UsageError(f"no card template {name!r}; templates: {', '.join(sorted(TEMPLATES))}") from None


@dataclass(frozen=True)
class ClassifierGraph:
    """What a 2D classifier's graph says: its layout, channels, plane size (None: not fixed) and class count."""

    input_name: str
    output_name: str
    layout: str
    channels: int
    size: tuple[int, int] | None
    classes: int | None
    activation: str


def _fixed(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _layout(shape: list[Any]) -> str:
    if len(shape) != 4:
        raise UsageError(
            f"card init --task classification drafts cards for 2D networks (N, C, H, W or N, H, W, C); "
            f"the input is {shape}"
        )
    first, last = _fixed(shape[1]), _fixed(shape[3])
    if last in (1, 3) and first not in (1, 3):
        return "NHWC"
    if first in (1, 3):
        return "NCHW"
    raise UsageError(f"the input {shape} has no 1- or 3-channel axis at position 1 (NCHW) or 3 (NHWC)")


def _ending(model: Path, output: str) -> str:
    """``none`` when the graph's output comes out of a Softmax or Sigmoid node, else ``softmax``."""
    try:
        import onnx
    except ImportError:
        return "softmax"
    graph = onnx.load(str(model), load_external_data=False).graph
    ops = {node.op_type for node in graph.node if output in node.output}
    return "none" if ops & {"Softmax", "Sigmoid"} else "softmax"


def read_classifier_graph(model: Path) -> ClassifierGraph:
    """What the ONNX file ``model`` says about itself as a 2D classifier (its first input and first output)."""
    from deepinfer.runners import OnnxNetwork

    session = OnnxNetwork(model, threads=1).session
    image, scores = session.get_inputs()[0], session.get_outputs()[0]
    shape = list(image.shape)
    layout = _layout(shape)
    channels = int(shape[3] if layout == "NHWC" else shape[1])
    height, width = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    size = (height, width) if _fixed(height) and _fixed(width) else None
    out_shape = list(scores.shape)
    if len(out_shape) != 2:
        raise UsageError(f"a classifier answers one score vector per picture (N, classes); the output is {out_shape}")
    return ClassifierGraph(
        image.name, scores.name, layout, channels, size, _fixed(out_shape[1]), _ending(model, scores.name)
    )


def _class_names(graph: ClassifierGraph, classes: list[str] | None, template: CardTemplate | None) -> list[str]:
    names = list(classes or (template.classes if template else []))
    if not names:
        if graph.classes is None:
            raise UsageError("the network's class count is not fixed in its graph; name the classes with --classes")
        return [f"{TODO}_class{k}" for k in range(graph.classes)]
    if any(not name.strip() for name in names) or len(set(names)) != len(names):
        raise UsageError(f"the class names must be distinct and not empty: {names}")
    if graph.classes is not None and graph.classes != len(names):
        raise UsageError(f"the network gives {graph.classes} scores per picture; {len(names)} classes were named")
    return names


def classifier_pipeline(graph: ClassifierGraph, output: str) -> list[dict[str, Any]]:
    size = list(graph.size or (DEFAULT_PLANE_SIZE, DEFAULT_PLANE_SIZE))
    infer = {"network": "model", "channels": graph.channels, "layout": graph.layout, "batch_size": 16}
    return [
        {"step": "planes", "params": {"plane": {"param": "plane"}}},
        {"step": "scale_planes", "params": {"minimum": 0.0, "maximum": 1.0}},
        {"step": "resize_planes", "params": {"size": size, "interpolation": "linear"}},
        {"step": "infer_planes", "params": infer},
        {"step": "class_scores", "params": {"name": output, "activation": graph.activation, "rule": "max"}},
    ]


def _notes(graph: ClassifierGraph, template: CardTemplate | None) -> list[str]:
    if graph.size:
        size = "x".join(str(n) for n in graph.size) + " planes"
    else:
        size = f"plane size not fixed: TODO set resize_planes.size, now {DEFAULT_PLANE_SIZE}"
    if graph.activation == "none":
        ending = "ends in a softmax/sigmoid, so class_scores applies none."
    else:
        ending = "is taken as logits: class_scores applies a softmax (TODO: 'none' if the net already ends in one)."
    notes = [
        "Draft made by deepinfer card init --task classification: replace every TODO (modality, anatomy, license, "
        "authors, training data, intended use), check the class order and the per-plane preprocessing (window to "
        "[0, 1] per plane, resize, channels) against how the network was trained, and add examples for "
        "deepinfer card test.",
        f"From the graph: input {graph.input_name!r} ({graph.layout}, {graph.channels} channel(s), {size}); "
        f"output {graph.output_name!r} {ending}",
    ]
    return notes + list(template.notes if template else ())


def draft_classifier_card(
    model: Path,
    card_path: Path,
    *,
    plane: str = "axial",
    classes: list[str] | None = None,
    template: str | None = None,
) -> ModelCard:
    """A valid, runnable plane-wise classification card for the 2D classifier ``model`` (ONNX), to be written at
    ``card_path``; ``classes`` (in the network's output order) or a ``template`` name the classes."""
    if not model.is_file():
        raise UsageError(f"{model}: no such file")
    if plane not in CLASSIFICATION_PLANES:
        raise UsageError(f"--plane {plane!r}: choose one of {', '.join(CLASSIFICATION_PLANES)}")
    chosen = template_named(template) if template else None
    graph = read_classifier_graph(model)
    names = _class_names(graph, classes, chosen)
    output = member_name(graph.output_name, "Scores")
    document: dict[str, Any] = {
        "id": slugify(model.stem),
        "name": model.stem,
        "version": "0.1.0",
        "task": "classification",
        "modality": chosen.modality if chosen else "unknown",
        "anatomy": chosen.anatomy if chosen else "unknown",
        "description": chosen.description if chosen else f"TODO: describe {model.name}, a 2D classifier run per plane.",
        "license": {"code": "NOASSERTION", "weights": "NOASSERTION"},
        "intended_use": chosen.intended_use if chosen else "TODO: intended use and its limits.",
        "training_data": "TODO: the data the network was trained on (source, cases, acquisition, labels).",
        "tags": list(chosen.tags if chosen else ("classification", "2D", "plane-wise")),
        "notes": _notes(graph, chosen),
        "inputs": [{"type": "volume", "name": "image", "description": "The volume whose planes are classified."}],
        "outputs": [
            {
                "type": "class_scores",
                "name": output,
                "description": "The class scores of every plane, the best plane per class and the volume's decision.",
                "classes": names,
            }
        ],
        "parameters": [
            {
                "type": "enum",
                "name": "plane",
                "title": "Plane",
                "description": "Which planes to classify (anatomical planes by the image's direction cosines, or "
                "the stored frames of a sweep).",
                "choices": list(CLASSIFICATION_PLANES),
                "default": plane,
            }
        ],
        "artifacts": [model_artifact(model, card_path)],
        "runtime": {"type": "onnx"},
        "pipeline": classifier_pipeline(graph, output),
    }
    return parse_card(document, str(card_path))
