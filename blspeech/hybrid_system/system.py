"""The whole GMM stage: lexicon -> lang -> monophone, then triphone GMM-HMM -> alignments -> LM -> HCLG.

``build_hybrid_system`` writes, under ``out_dir`` (Kaldi's layout, so each piece is what a
Kaldi user would point a hybrid recipe at)::

    dict/            lexicon.txt, silence_phones.txt, ... (input of prepare_lang.sh)
    lexicon_excluded.txt   words without a pronunciation (mapped to <unk>), with counts
    lang/            phones.txt, words.txt, topo, L.fst, L_disambig.fst, phones/, G.fst
    lm.arpa          n-gram LM of ``lang_text`` (OOV words as <unk>)
    mono/            tree, final.mdl, ali.1.gz, train.log of the monophone system
    tree, final.mdl  the final system: triphone, or monophone without one (final.mdl in Kaldi text format)
    ali.1.gz         its transition-id alignments of ``data_dir`` (gzipped binary int32-vector ark)
    dev_ali/ali.1.gz the same for ``dev_dir``, if given
    graph/           HCLG.fst, words.txt, phones.txt, phones/word_boundary.int
    decode_<set>/graph/   the system's own decodes of the evaluation sets (written later, by the
                     recipe's decode stage: :mod:`blspeech.hybrid_system.decode_gmm`)
    train.log        the EM iterations; ``.complete`` marks a finished stage (a rerun is a no-op,
                     an interrupted run starts over)

Recipe keys for the hybrid model: ``hybrid.alignments = out_dir``, ``hybrid.dev_alignments =
out_dir/dev_ali``, ``hybrid.transition_model = out_dir/final.mdl``, ``hybrid.graph =
out_dir/graph/HCLG.fst``.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import kaldi_hmm_gmm as khg  # must precede kaldifst / kaldilm (see blspeech.hybrid)
import kaldifst
import numpy as np

from blspeech.data.kaldi_dir import DataDir, DataDirError, read_table
from blspeech.decode.lm import build_arpa
from blspeech.fileio import atomic_write, write_text_atomic
from blspeech.hybrid.alignments import write_int32_vectors
from blspeech.hybrid.transition_model import read_topology
from blspeech.hybrid_system.gmm import GmmSystem, MonophoneConfig, align_utterances, monophone_tree, train_monophone
from blspeech.hybrid_system.triphone import LangPhones, TriphoneConfig, train_triphone
from blspeech.hybrid_system.gmm_features import GmmFeatures
from blspeech.hybrid_system.graph import TrainingGraphCompiler, grammar_fst, make_graph
from blspeech.hybrid_system.lang import LangDir, prepare_lang
from blspeech.hybrid_system.lexicon import (
    OOV_WORD,
    build_lexicon,
    cmudict_pronunciations,
    phone_sets,
    read_lexicon,
    word_counts,
    write_dict_dir,
)
from blspeech.hybrid_system.model_io import write_model, write_tree
from blspeech.markers import complete_with, mark_complete
from blspeech.skips import SkipLog

logger = logging.getLogger("blspeech")
COMPLETE = ".complete"


@dataclass(frozen=True)
class HybridSystemPaths:
    """Where the stage's outputs are (see the module docstring for the layout)."""

    out_dir: Path
    lang: Path
    tree: Path
    transition_model: Path
    alignments: Path
    dev_alignments: Path | None
    graph: Path

    @property
    def topo(self) -> Path:
        return self.lang / "topo"

    @property
    def words(self) -> Path:
        return self.graph.parent / "words.txt"

    @property
    def word_boundary(self) -> Path:
        return self.graph.parent / "phones" / "word_boundary.int"

    @classmethod
    def under(cls, out_dir: Path, with_dev: bool) -> "HybridSystemPaths":
        return cls(
            out_dir=out_dir,
            lang=out_dir / "lang",
            tree=out_dir / "tree",
            transition_model=out_dir / "final.mdl",
            alignments=out_dir,
            dev_alignments=out_dir / "dev_ali" if with_dev else None,
            graph=out_dir / "graph" / "HCLG.fst",
        )


def write_alignments(directory: Path, alignments: Mapping[str, np.ndarray]) -> Path:
    """``directory/ali.1.gz``: a gzipped binary int32-vector ark (Kaldi's ``ali.N.gz``), utterances sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    plain = directory / ".ali.1.ark.tmp"
    write_int32_vectors(plain, sorted(alignments.items(), key=lambda item: item[0].encode("utf-8")))
    with open(plain, "rb") as source, atomic_write(directory / "ali.1.gz", "wb") as target:
        with gzip.GzipFile(fileobj=target, mode="wb", mtime=0) as zipped:
            shutil.copyfileobj(source, zipped)
    plain.unlink()
    return directory / "ali.1.gz"


def _usable_utterances(data_dir: Path, stage: str) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Transcripts and GMM features of every utterance of ``data_dir`` that has both; the
    others are counted skips."""
    data = DataDir.read(data_dir)
    if not data.text:
        raise DataDirError(f"{data_dir} has no text: the GMM system trains on transcribed utterances")
    source = GmmFeatures(data_dir)
    skips = SkipLog(stage)
    transcripts, features = {}, {}
    for utt in data.utterances:
        words = data.text.get(utt, "").split()
        if not words:
            skips.skip(utt, "no transcript")
        elif utt not in data.feats_scp:
            skips.skip(utt, "no features")
        else:
            transcripts[utt], features[utt] = words, source[utt]
            skips.ok()
    skips.summary()
    return transcripts, features


def _graph_compiler(lang: LangDir, transcripts: Mapping[str, list[str]]):
    """``(tree, transition_model) -> {utt: training graph}`` for ``transcripts``."""

    def compile_all(tree: khg.ContextDependency, transition_model: khg.TransitionModel) -> dict[str, kaldifst.StdVectorFst]:
        compiler = TrainingGraphCompiler(lang, tree, transition_model)
        return {utt: compiler.compile(words) for utt, words in transcripts.items()}

    return compile_all


def _mapped_to_oov(texts: Iterable[str], vocabulary: Mapping[str, int], oov: str) -> list[str]:
    return [" ".join(w if w in vocabulary else oov for w in text.split()) for text in texts]


def build_lang(lang_text: Path, out_dir: Path, extra_lexicon: Path | None = None) -> LangDir:
    """Lexicon for the words of ``lang_text`` (a Kaldi ``text`` file), then ``out_dir/lang``."""
    counts = word_counts(read_table(lang_text).values())
    extra = read_lexicon(extra_lexicon) if extra_lexicon else None
    lexicon, report = build_lexicon(counts, cmudict_pronunciations(), extra)
    logger.info(report.summary())
    report.write(out_dir / "lexicon_excluded.txt")
    phones = phone_sets(lexicon)
    write_dict_dir(lexicon, phones, out_dir / "dict")
    return prepare_lang(lexicon, phones, OOV_WORD, out_dir / "lang")


def _write_system(directory: Path, system: GmmSystem, alignments: Mapping[str, np.ndarray], topology_text: str) -> None:
    """``tree``, ``final.mdl``, ``ali.1.gz`` and ``train.log`` of one system, as in a Kaldi exp dir."""
    directory.mkdir(parents=True, exist_ok=True)
    write_tree(directory / "tree", system.tree)
    write_model(directory / "final.mdl", system.transition_model, system.acoustic_model, topology_text)
    write_alignments(directory, alignments)
    write_text_atomic(directory / "train.log", "".join(f"{line}\n" for line in system.history))


def build_hybrid_system(
    data_dir: str | os.PathLike,
    lang_text: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    dev_dir: str | os.PathLike | None = None,
    lm_order: int = 3,
    extra_lexicon: str | os.PathLike | None = None,
    monophone: MonophoneConfig = MonophoneConfig(),
    triphone: TriphoneConfig | None = TriphoneConfig(),
) -> HybridSystemPaths:
    """Build the GMM stage from ``data_dir`` (a data dir with ``text`` and ``feats.scp``/``cmvn.scp``).

    ``lang_text`` (a Kaldi ``text`` file, usually ``data_dir/text``) gives the vocabulary and
    the LM. A monophone system is trained from a flat start (kept in ``out_dir/mono``), then,
    unless ``triphone`` is None, a triphone system on its alignments; the last one is the
    stage's result in ``out_dir``, and aligns ``dev_dir`` too. Skipped when
    ``out_dir/.complete`` exists. Returns the output paths.
    """
    out = Path(out_dir)
    paths = HybridSystemPaths.under(out, with_dev=dev_dir is not None)
    settings = {"data_dir": _resolved(data_dir), "lang_text": _resolved(lang_text), "dev_dir": _resolved(dev_dir),
                "lm_order": lm_order, "extra_lexicon": _resolved(extra_lexicon), "monophone": asdict(monophone),
                "triphone": asdict(triphone) if triphone is not None else None}
    if complete_with(out / COMPLETE, settings, f"the GMM system in {out}"):
        logger.info("gmm: %s is complete, skipping", out)
        return paths
    # The data first: a data dir without features must fail before anything is written to out_dir.
    transcripts, features = _usable_utterances(Path(data_dir), "training data")
    lang = build_lang(Path(lang_text), out, Path(extra_lexicon) if extra_lexicon else None)
    topology_text = (lang.path / "topo").read_text()
    topology = read_topology(lang.path / "topo")
    compile_graphs = _graph_compiler(lang, transcripts)

    tree = monophone_tree(topology, LangPhones.read(lang.path, lang.phones).sets)
    graphs = compile_graphs(tree, khg.TransitionModel(tree, topology))
    system, alignments = train_monophone(tree, topology, graphs, features, monophone)
    _write_system(out / "mono", system, alignments, topology_text)
    if triphone is not None:
        phones = LangPhones.read(lang.path, lang.phones)
        system, alignments = train_triphone(system, alignments, features, phones, topology, compile_graphs, triphone)
    _write_system(out, system, alignments, topology_text)
    if dev_dir is not None:
        dev_transcripts, dev_features = _usable_utterances(Path(dev_dir), "dev data")
        dev_graphs = _graph_compiler(lang, dev_transcripts)(system.tree, system.transition_model)
        beams = triphone or monophone
        dev_alignments = align_utterances(
            system, dev_graphs, dev_features, beam=beams.beam, retry_beam=beams.retry_beam, stage="dev alignment"
        )
        write_alignments(out / "dev_ali", dev_alignments)

    lm_texts = _mapped_to_oov(read_table(lang_text).values(), lang.words, lang.oov)
    build_arpa(lm_texts, out / "lm.arpa", lm_order)
    grammar_fst(out / "lm.arpa", lang, lang.path / "G.fst")
    make_graph(lang, lang.path / "G.fst", system.tree, system.transition_model, paths.graph.parent)
    mark_complete(out / COMPLETE, settings)
    return paths


def _resolved(path: str | os.PathLike | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None
