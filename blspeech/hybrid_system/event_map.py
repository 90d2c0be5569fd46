"""Kaldi decision trees (``EventMap``) as plain Python values, read from and written to ``tree`` files.

kaldi-hmm-gmm builds monophone trees and evaluates any tree, but cannot build a triphone tree,
so :mod:`.tree` grows one here and this module turns it into the bytes of a binary Kaldi
``tree`` file (``ContextDependency``), which kaldi-hmm-gmm then loads. Two of Kaldi's node
kinds (``event-map.h``) are enough to write any tree, as ``build-tree`` itself does:

- :class:`Leaf`   the answer, a pdf-id (``ConstantEventMap``, ``CE``)
- :class:`Split`  "is the value of ``key`` in ``yes_values``?" (``SplitEventMap``, ``SE``)

Keys of a context-dependency event: ``-1`` the pdf-class (HMM state), ``0 .. N-1`` the phones
of the context window (``1`` the central phone of a triphone).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from blspeech.hybrid.kaldi_serialization import BINARY_HEADER

PDF_CLASS_KEY = -1


@dataclass(frozen=True)
class Leaf:
    pdf: int


@dataclass(frozen=True)
class Split:
    key: int
    yes_values: tuple[int, ...]
    yes: "Node"
    no: "Node"


Node = Leaf | Split


def evaluate(node: Node, event: Mapping[int, int]) -> int:
    """The pdf-id ``node`` gives ``event`` (key -> value)."""
    while isinstance(node, Split):
        node = node.yes if event[node.key] in node.yes_values else node.no
    return node.pdf


def _token(text: str) -> bytes:
    return text.encode() + b" "


def _int32(value: int) -> bytes:
    return b"\x04" + struct.pack("<i", value)


def _serialize(node: Node, out: list[bytes]) -> None:
    if isinstance(node, Leaf):
        out += [_token("CE"), _int32(node.pdf)]
        return
    values = sorted(set(node.yes_values))
    out += [_token("SE"), _int32(node.key), b"\x04" + struct.pack(f"<i{len(values)}i", len(values), *values), _token("{")]
    _serialize(node.yes, out)
    _serialize(node.no, out)
    out.append(_token("}"))


def tree_bytes(context_width: int, central_position: int, root: Node) -> bytes:
    """A binary Kaldi ``tree`` file (``ContextDependency::Write``)."""
    if not 0 <= central_position < context_width:
        raise ValueError(f"central position {central_position} is outside a window of {context_width}")
    out = [BINARY_HEADER, _token("ContextDependency"), _int32(context_width), _int32(central_position), _token("ToPdf")]
    _serialize(root, out)
    out.append(_token("EndContextDependency"))
    return b"".join(out)
