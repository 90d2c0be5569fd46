"""Kaldi alignments -> pdf-id targets for frame-level cross-entropy training.

Kaldi writes alignments as tables of int32 vectors, one per utterance: transition-ids from
``align-si.sh`` & co. (``exp/tri*_ali/ali.N.gz``: gzipped binary arks), or pdf-ids from
``ali-to-pdf``. ``read_int32_vectors`` reads any of these (kaldiio does the table format);
``pdf_alignments`` maps transition-ids to pdf-ids exactly as ``ali-to-pdf`` does;
``read_pdf_alignments`` reads and range-checks pdf-id alignments directly.

The pdf count comes from the tree/model; ``check_num_outputs`` is the guard against the
classic pytorch-kaldi failure of a network whose output size does not match it.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import kaldi_hmm_gmm as khg
import kaldiio
import numpy as np

from blspeech.fileio import atomic_write

Source = str | os.PathLike
TABLE_SPECIFIER = re.compile(r"^(ark|scp)(,[a-z]+)*:")  # a Kaldi rspecifier or wspecifier
_WSPECIFIER = re.compile(r"^ark(?P<options>(,[a-z]+)*):(?P<file>.*)$", re.DOTALL)
_JOB_NUMBER = re.compile(r"\.(\d+)\.gz$")


class AlignmentError(ValueError):
    """An alignment does not fit the model (or the file is malformed); names utterance and value."""


def _alignment_files(directory: Path) -> list[Path]:
    """``ali.1.gz ... ali.N.gz`` of a Kaldi alignment dir, in job order (1, 2, ..., 10, not 1, 10, 2)."""
    files = [p for p in directory.glob("ali.*.gz") if _JOB_NUMBER.search(p.name)]
    if not files:
        raise AlignmentError(f"{directory}: no ali.N.gz files")
    return sorted(files, key=lambda p: int(_JOB_NUMBER.search(p.name).group(1)))


def _raw_table(source: Source) -> Iterator[tuple[str, np.ndarray]]:
    text = os.fspath(source)
    if TABLE_SPECIFIER.match(text):  # a Kaldi rspecifier, e.g. "ark:gunzip -c ali.1.gz|"
        with kaldiio.ReadHelper(text) as reader:
            yield from reader
        return
    path = Path(text)
    if path.is_dir():
        for file in _alignment_files(path):
            yield from _raw_table(file)
        return
    try:
        if path.suffix == ".scp":
            yield from kaldiio.load_scp_sequential(text)
        elif path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                yield from kaldiio.load_ark(handle)
        else:
            yield from kaldiio.load_ark(text)
    except (EOFError, OSError, zlib.error) as error:  # truncated or not gzip: name the file, as Kaldi does
        raise AlignmentError(f"{path}: cannot read the alignments ({type(error).__name__}: {error})") from error


def read_int32_vectors(source: Source) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(utt, vector)`` from a Kaldi int32-vector table, each vector int32 of shape (T,).

    ``source`` is an ark (binary or text; ``.gz`` is gunzipped), an ``.scp``, a Kaldi
    rspecifier (``ark:...``, ``scp:...``, pipes allowed), or an alignment directory holding
    ``ali.N.gz`` (read in job order).
    """
    for utt, value in _raw_table(source):
        array = np.asarray(value)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise AlignmentError(
                f"{source}: utterance {utt}: expected an int32 vector, found {array.dtype} array of shape {array.shape}"
            )
        yield utt, array.astype(np.int32, copy=False)


def _output_file(target: Source) -> tuple[str, bool]:
    """The file a table goes to and whether as text: a file name, or a Kaldi wspecifier
    ``ark:FILE`` (binary) or ``ark,t:FILE`` (text); other wspecifiers (scp, pipes) are refused."""
    text = os.fspath(target)
    specifier = _WSPECIFIER.match(text)
    if specifier is None:
        if TABLE_SPECIFIER.match(text):
            raise ValueError(f"{text}: only the wspecifiers ark:FILE and ark,t:FILE are written here")
        return text, False
    options = set(filter(None, specifier["options"].split(",")))
    if options - {"t", "b"} or specifier["file"].strip().endswith("|") or specifier["file"].strip() in ("", "-"):
        raise ValueError(f"{text}: only the wspecifiers ark:FILE and ark,t:FILE are written here")
    return specifier["file"], "t" in options


def write_int32_vectors(target: Source, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write a Kaldi ark of int32 vectors (what ``ali-to-pdf`` writes), atomically; returns the count.

    ``target`` is a file name or wspecifier (``_output_file``); text arks hold Kaldi's text form
    of int vectors, ``utt 1 2 3 `` (kaldiio's text writer brackets them like float vectors, which
    Kaldi's integer reader refuses)."""
    path, as_text = _output_file(target)
    count = 0
    with atomic_write(path, "w" if as_text else "wb") as handle:
        for utt, vector in items:
            values = np.asarray(vector, dtype=np.int32)
            if as_text:
                handle.write(utt + " " + "".join(f"{value} " for value in values.tolist()) + "\n")
            else:
                kaldiio.save_ark(handle, {utt: values})
            count += 1
    return count


def check_pdf_ids(utt: str, pdf_ids: np.ndarray, num_pdfs: int) -> None:
    """Raise AlignmentError naming ``utt`` if any pdf-id is outside ``0 .. num_pdfs - 1``."""
    bad = (pdf_ids < 0) | (pdf_ids >= num_pdfs)
    if bad.any():
        raise AlignmentError(
            f"utterance {utt}: pdf-id {int(pdf_ids[bad][0])} at frame {int(np.flatnonzero(bad)[0])} is outside "
            f"0..{num_pdfs - 1}: the alignment was made with a different tree/model ({num_pdfs} pdfs)"
        )


def pdf_alignments(
    alignments: Iterable[tuple[str, np.ndarray]], transition_model: khg.TransitionModel
) -> Iterator[tuple[str, np.ndarray]]:
    """Map transition-id alignments to pdf-id alignments, shape (T,) int32 each (``ali-to-pdf``)."""
    id2pdf = np.asarray(transition_model.id2pdf_id, dtype=np.int32)  # index 0 is unused: ids start at 1
    num_ids = len(id2pdf) - 1
    for utt, transition_ids in alignments:
        bad = (transition_ids < 1) | (transition_ids > num_ids)
        if bad.any():
            raise AlignmentError(
                f"utterance {utt}: transition-id {int(transition_ids[bad][0])} is outside 1..{num_ids}: "
                "the alignment was made with a different model"
            )
        yield utt, id2pdf[transition_ids]


def read_pdf_alignments(source: Source, num_pdfs: int) -> Iterator[tuple[str, np.ndarray]]:
    """Read pdf-id alignments as ``ali-to-pdf`` writes them, checking every id against ``num_pdfs``."""
    if num_pdfs < 1:
        raise ValueError(f"num_pdfs must be positive, got {num_pdfs}")
    for utt, pdf_ids in read_int32_vectors(source):
        check_pdf_ids(utt, pdf_ids, num_pdfs)
        yield utt, pdf_ids


def check_alignment_frames(utt: str, alignment: np.ndarray, num_frames: int) -> None:
    """Raise AlignmentError unless an alignment has one id per feature frame (statistics
    accumulated over ``zip`` of the two would silently stop at the shorter)."""
    if len(alignment) != num_frames:
        raise AlignmentError(f"utterance {utt}: the alignment has {len(alignment)} frames, its features {num_frames}")


def check_num_outputs(num_pdfs: int, num_outputs: int, *, network: str = "the acoustic model",
                      kaldi: str = "the Kaldi tree/model") -> None:
    """Raise ValueError unless the network's output size equals the tree/model's pdf count; the
    message names ``network`` and ``kaldi`` (their files, where the caller knows them)."""
    if num_pdfs != num_outputs:
        raise ValueError(
            f"{network} has {num_outputs} outputs but {kaldi} has {num_pdfs} pdfs: "
            f"they must be equal (build the hybrid head with {num_pdfs} outputs for this tree)"
        )
