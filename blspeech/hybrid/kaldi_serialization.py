"""Read objects serialised by Kaldi's ``Write(os, binary)``: tokens, scalars and vectors.

kaldi-hmm-gmm can build a TransitionModel from a tree and a topology but has no reader for
the one stored in ``final.mdl``; this reader supplies the primitives for that.

Kaldi's binary format (a file starts with ``\\0B``): a token is its text plus one space; a
scalar is one byte giving its size, then the little-endian value; an integer vector
(``WriteIntegerVector``) is a size byte, an int32 length and the raw elements; a float vector
(``Vector::Write``) is the token ``FV`` (``DV`` for double), a length scalar and the raw data.
The text format writes the same sequence as whitespace-separated words, vectors as ``[ ... ]``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

BINARY_HEADER = b"\0B"
_WHITESPACE = b" \t\n\r"


class KaldiFormatError(ValueError):
    """A Kaldi object file does not have the expected layout; the message names file and byte."""


class KaldiReader:
    """Sequential reader over one Kaldi object file, in binary or text mode (detected from the header)."""

    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        self.binary = data.startswith(BINARY_HEADER)
        self._data = data
        self._pos = len(BINARY_HEADER) if self.binary else 0

    @classmethod
    def open(cls, path: str | Path) -> "KaldiReader":
        return cls(Path(path).read_bytes(), str(path))

    def error(self, message: str) -> KaldiFormatError:
        return KaldiFormatError(f"{self.source}: byte {self._pos}: {message}")

    def _take(self, size: int) -> bytes:
        if self._pos + size > len(self._data):
            raise self.error(f"unexpected end of file (wanted {size} more bytes)")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def _skip_whitespace(self) -> None:
        while self._pos < len(self._data) and self._data[self._pos] in _WHITESPACE:
            self._pos += 1

    def _word(self) -> str:
        """The next whitespace-delimited word (text mode; binary tokens also end in a space)."""
        if not self.binary:
            self._skip_whitespace()
        start = self._pos
        while self._pos < len(self._data) and self._data[self._pos] not in _WHITESPACE:
            self._pos += 1
        if self._pos == start:
            raise self.error("unexpected end of file (wanted a token)")
        word = self._data[start : self._pos].decode("utf-8", errors="replace")
        if self.binary:
            self._take(1)  # the single space Kaldi writes after a binary token
        return word

    def read_token(self) -> str:
        return self._word()

    def expect_token(self, expected: str) -> None:
        token = self._word()
        if token != expected:
            shown = token if len(token) <= 40 else token[:40] + "..."  # a binary file read as a model: not all of it
            raise self.error(f"expected {expected!r}, found {shown!r} (is this the right kind of Kaldi file?)")

    def _sized(self, kinds: dict[int, str], what: str) -> int | float:
        size = self._take(1)[0]
        if size not in kinds:
            raise self.error(f"{what} of {size} bytes is not supported")
        return struct.unpack("<" + kinds[size], self._take(size))[0]

    def read_int32(self) -> int:
        if self.binary:
            return int(self._sized({4: "i"}, "integer"))
        word = self._word()
        try:
            return int(word)
        except ValueError:
            raise self.error(f"expected an integer, found {word!r}") from None

    def read_float(self) -> float:
        if self.binary:
            return float(self._sized({4: "f", 8: "d"}, "float"))
        word = self._word()
        try:
            return float(word)
        except ValueError:
            raise self.error(f"expected a number, found {word!r}") from None

    def _bracketed_words(self) -> list[str]:
        self.expect_token("[")
        words = []
        while (word := self._word()) != "]":
            words.append(word)
        return words

    def read_int32_vector(self) -> list[int]:
        """A ``WriteIntegerVector`` vector of int32."""
        if not self.binary:
            return [int(w) for w in self._bracketed_words()]
        if self._take(1)[0] != 4:
            raise self.error("integer vector does not hold int32 elements")
        (length,) = struct.unpack("<i", self._take(4))
        if length < 0:
            raise self.error(f"negative vector length {length}")
        return np.frombuffer(self._take(4 * length), dtype="<i4").tolist()

    def read_float_vector(self) -> np.ndarray:
        """A Kaldi ``Vector<float>`` or ``Vector<double>``, returned as float64 of shape (N,)."""
        if not self.binary:
            return np.array([float(w) for w in self._bracketed_words()], dtype=np.float64)
        token = self._word()
        dtypes = {"FV": "<f4", "DV": "<f8"}
        if token not in dtypes:
            raise self.error(f"expected a float vector (FV or DV), found {token!r}")
        length = self.read_int32()
        if length < 0:
            raise self.error(f"negative vector length {length}")
        itemsize = np.dtype(dtypes[token]).itemsize
        return np.frombuffer(self._take(itemsize * length), dtype=dtypes[token]).astype(np.float64)

    def text_span(self, start_token: str, end_token: str) -> str:
        """Text mode only: the raw text from ``start_token`` to ``end_token`` inclusive, consumed.

        Used to hand a whole text-format object (e.g. a topology) to a parser that reads text.
        """
        if self.binary:
            raise self.error("text_span needs a text-mode file")
        self._skip_whitespace()
        start = self._pos
        self.expect_token(start_token)
        while self._word() != end_token:
            pass
        return self._data[start : self._pos].decode("utf-8")
