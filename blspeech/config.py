"""The recipe: one typed tree of dataclasses, read from YAML, overridden with ``section.key=value``.

One source of truth for every stage. Unknown keys and wrong value types are errors that name the
key and the file, so a typo in a recipe never silently falls back to a default. The resolved
recipe is saved in the experiment dir and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from blspeech.fileio import write_text_atomic


class ConfigError(ValueError):
    """A recipe or override is wrong; the message names the key and where it came from."""


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's plain scalars for numbers and booleans.

    YAML 1.1, PyYAML's default, reads ``1e-3`` as a string (a float needs a dot there), ``010``
    as 8 and ``1:30`` as 90, and ``yes``/``off`` as booleans: a learning rate written the usual
    way would be refused, and the others silently changed. Here decimal numbers, with or without
    a dot or exponent, are numbers, only ``true``/``false`` are booleans, everything else (dates
    too) is a string.
    """


_PLAIN_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
               "tag:yaml.org,2002:timestamp")
RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _PLAIN_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
RecipeLoader.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: loader.construct_scalar(node).lower() == "true")
RecipeLoader.add_constructor("tag:yaml.org,2002:int", lambda loader, node: int(loader.construct_scalar(node), 10))
RecipeLoader.add_constructor("tag:yaml.org,2002:float",
                             lambda loader, node: float(re.sub(r"\.(inf|nan)$", r"\1", loader.construct_scalar(node).lower())))


class RecipeDumper(yaml.SafeDumper):
    """Writes recipes that :class:`RecipeLoader` reads back as written: a string that would read
    as a number or boolean there (``1e-3``, ``010``) is quoted."""


RecipeDumper.yaml_implicit_resolvers = RecipeLoader.yaml_implicit_resolvers


def load_yaml(text: str) -> Any:
    """Parse recipe YAML with :class:`RecipeLoader` (safe: no Python objects)."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 (a SafeLoader subclass)


# Marks a setting that says how a run computes, not what: changing it between runs of one
# experiment changes none of its outputs, so ``recipe_changes`` ignores it.
HOW = {"changes_outputs": False}


@dataclass
class CorpusConfig:
    """Where the LDC-layout corpus is, and whether to synthesize it first."""

    synthesize: bool = True
    dir: str = "corpora/swbd_mini"
    hours: float = 2.0
    speakers: int = 40
    eval_minutes: float = 15.0
    seed: int = 1
    jobs: int = field(default=2, metadata=HOW)
    # Corpus parts as LDC ships them (the synthesizer writes the same); relative paths are under `dir`.
    swb1: str = "LDC97S62"
    transcripts: str = "swb_ms98_transcriptions"
    hub5: str = "LDC2002S09"
    hub5_transcripts: str = "LDC2002T43"
    sph_reader: str = "sox"


@dataclass
class DataConfig:
    """Kaldi data dirs produced by data prep."""

    dir: str = "data/swbd_mini"
    dev_utterances: int = 200
    max_duplicates: int = 300
    train_set: str = "train"
    dev_set: str = "dev"
    test_sets: list[str] = field(default_factory=lambda: ["eval2000"])


@dataclass
class SpecAugmentSettings:
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 20


@dataclass
class FeatureConfig:
    """Log-mel features; option names and units as Kaldi's."""

    num_mel_bins: int = 40
    channels: int = 3
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0
    cmvn: str = "speaker"
    norm_vars: bool = True
    speed_perturb: list[float] = field(default_factory=list)
    specaugment: bool = True
    specaugment_settings: SpecAugmentSettings = field(default_factory=SpecAugmentSettings)
    jobs: int = field(default=2, metadata=HOW)


@dataclass
class UnitConfig:
    kind: str = "unigram"
    vocab_size: int = 256


@dataclass
class ModelConfig:
    """The acoustic model from the registry; ``compare`` lists baselines trained the same way."""

    name: str = "bl-vgg-small"
    compare: list[str] = field(default_factory=lambda: ["vgg-small"])
    output: str = "ctc"
    time_subsampling: int = 4
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    epochs: int = 10
    max_frames: int = 20000
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-2
    momentum: float = 0.9
    warmup_steps: int = 200
    schedule: str = "cosine"
    grad_clip: float = 5.0
    validate_every_steps: int = 200
    checkpoint_every_minutes: float = field(default=5.0, metadata=HOW)
    keep_checkpoints: int = field(default=3, metadata=HOW)
    average_best: int = 3
    max_bad_steps: int = field(default=20, metadata=HOW)
    num_workers: int = field(default=0, metadata=HOW)
    threads: int = field(default=0, metadata=HOW)
    device: str = field(default="auto", metadata=HOW)
    amp: bool = True


@dataclass
class DecodeConfig:
    """``device``: where the network computes the log-probabilities that decoding searches ("auto":
    a GPU when there is one, else the CPU; "cpu", "cuda", "cuda:N")."""

    device: str = field(default="auto", metadata=HOW)
    lm_order: int = 3
    arpa: str = ""
    beam_size: int = 50
    beam_threshold: float = 25.0
    lm_weights: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0])
    word_scores: list[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0, 2.0])


@dataclass
class HybridConfig:
    """The Kaldi system a hybrid model (``model.output: hybrid``) learns from and decodes with.

    Paths may be empty where another one covers them: ``transition_model`` (final.mdl) or
    ``tree`` + ``topo``; ``words`` and ``word_boundary`` default to the files beside ``graph``
    as ``utils/mkgraph.sh`` lays them out. ``build_system`` makes the units stage build that
    system in-package (lexicon, lang, GMM alignments, tree, HCLG under ``<exp_dir>/gmm``), for
    corpora that come without a Kaldi system; ``alignments``, ``dev_alignments``,
    ``transition_model`` and ``graph`` then point there by themselves. ``lm_weights``: Kaldi's LMWT values (acoustic scale
    1 / LMWT) to try on the dev set; the best one decodes every set (empty: ``acoustic_scale``).
    """

    build_system: bool = False
    alignments: str = ""
    dev_alignments: str = ""
    pdf_alignments: bool = False
    transition_model: str = ""
    tree: str = ""
    topo: str = ""
    graph: str = ""
    words: str = ""
    word_boundary: str = ""
    acoustic_scale: float = 0.1
    lm_weights: list[float] = field(default_factory=list)
    beam: float = 13.0
    max_active: int = 7000


@dataclass
class Recipe:
    """A whole experiment. ``exp_dir`` holds one sub-directory per model (and ``recipe.yaml``,
    the recipe its outputs were made with)."""

    exp_dir: str = field(default="exp/swbd_mini", metadata=HOW)
    seed: int = 1
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    units: UnitConfig = field(default_factory=UnitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    hybrid: HybridConfig = field(default_factory=HybridConfig)


def _check_value(value: Any, annotation: Any, key: str, source: str) -> Any:
    """Return ``value`` converted to ``annotation`` where that is lossless, else raise ConfigError."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping, got {value!r}")
        return _build(annotation, value, key, source)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        (item_type,) = typing.get_args(annotation)[:1]
        return [_check_value(v, item_type, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping, got {value!r}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
    if not isinstance(value, annotation) or (annotation is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: '{key}' must be {annotation.__name__}, got {value!r}")
    return value


def _build(cls: type, values: dict[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(f"{source}: unknown key '{dotted}' (valid: {', '.join(sorted(names))})")
        kwargs[key] = _check_value(value, hints[key], dotted, source)
    return cls(**kwargs)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), load_yaml(raw) if raw.strip() else ""


def load_recipe(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a YAML recipe (:class:`RecipeLoader`) and apply ``a.b=value`` overrides, all type-checked."""
    values: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            loaded = load_yaml(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{source}: cannot read the recipe: {err}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: the recipe must be a mapping of sections")
        values = loaded or {}
    recipe = _build(Recipe, values, "", source)
    for text in overrides:
        recipe = apply_override(recipe, text)
    return recipe


def recipe_from_dict(values: dict[str, Any], source: str) -> Recipe:
    """A recipe saved as a dict (in a checkpoint), checked like a YAML file named ``source``."""
    return _build(Recipe, values, "", source)


def apply_override(recipe: Recipe, text: str) -> Recipe:
    """Return a copy of ``recipe`` with one ``section.key=value`` override applied and checked.

    A mapping given for a section (``train={epochs: 5}``) sets the keys it names and keeps the
    section's others, as ``train.epochs=5`` would; a mapping given for a free mapping
    (``model.overrides={alpha: 4}``) replaces it whole."""
    parts, value = _parse_override(text)
    tree = to_dict(recipe)
    node = tree
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"--set {text}: unknown key '{'.'.join(parts[: depth + 1])}'")
        node = node[part]
    if not isinstance(node, dict) or (parts[-1] not in node and not _is_free_mapping(recipe, parts[:-1])):
        raise ConfigError(f"--set {text}: unknown key '{'.'.join(parts)}'")
    node[parts[-1]] = _merged(recipe, parts, node.get(parts[-1]), value)
    return _build(Recipe, tree, "", f"--set {text}")


def _merged(recipe: Recipe, parts: list[str], current: Any, given: Any) -> Any:
    """What the key at ``parts`` becomes when set to ``given``: a section's keys merged (nested
    sections likewise), anything else (values, free mappings) replaced."""
    if not (isinstance(given, dict) and isinstance(current, dict)) or _is_free_mapping(recipe, parts):
        return given
    return {**current, **{key: _merged(recipe, [*parts, key], current.get(key), value) for key, value in given.items()}}


def _is_free_mapping(recipe: Recipe, parts: list[str]) -> bool:
    """True where the path names a ``dict`` field (e.g. model.overrides) that takes any key."""
    node: Any = recipe
    for part in parts:
        node = getattr(node, part, None)
    return isinstance(node, dict)


def to_dict(recipe: Recipe) -> dict[str, Any]:
    return dataclasses.asdict(recipe)


def recipe_changes(before: Any, after: Any, prefix: str = "") -> list[str]:
    """``key before -> after`` for every setting that differs between two recipes (or sections)
    and decides what an experiment's outputs are (settings marked ``HOW`` are left out)."""
    changes = []
    for spec in dataclasses.fields(before):
        if spec.metadata.get("changes_outputs", True) is False:
            continue
        key, old, new = f"{prefix}{spec.name}", getattr(before, spec.name), getattr(after, spec.name)
        if dataclasses.is_dataclass(old):
            changes += recipe_changes(old, new, f"{key}.")
        elif old != new:
            changes.append(f"{key} {old!r} -> {new!r}")
    return changes


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write the resolved recipe as YAML (atomically), so every run records what it ran with."""
    write_text_atomic(path, yaml.dump(to_dict(recipe), Dumper=RecipeDumper, sort_keys=False))
