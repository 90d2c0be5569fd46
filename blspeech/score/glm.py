"""NIST global mapping (GLM) files, applied exactly as SCTK's ``csrfilt.sh`` + ``rfilter1`` apply them.

A GLM holds string-rewriting rules ``A => B`` or ``A => B / LEFT __ RIGHT``; ``[...]`` or ``"..."``
bound a string so it may start or end with spaces (``[ ] __ [ ]`` = "a whole word"). Rules are
applied by moving a cursor over the text: at each position the first rule (in file order) whose
input matches there, with its left context just before and its right context just after, writes
its output and moves the cursor past its input; otherwise one character is copied. Output is never
rescanned. The first token of the file's first line is its comment marker; ``*`` lines in column 1
set ``name``, ``desc``, ``format`` (only ``NIST1``), ``max_nrules`` (default 400), ``copy_no_hit``
and ``case_sensitive`` (default true). A comment ``;; INPUT_DEPENDENT_APPLICATION = "REGEX"``
starts a section whose rules apply only when REGEX matches the input type (``stm``, ``ctm``,
``trn``) or the purpose (``ref``, ``hyp``), which is how contractions become alternations in
hypotheses only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from blspeech.score.errors import ScoreInputError

_C_SPACE = " \t\n\v\f\r"
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SECTION = re.compile(r'^;;\s+INPUT_DEPENDENT_APPLICATION\s*=\s*"([^"]*)"')
_TRUE_WORDS = {"T", "YES", "TRUE"}


def ascii_upper(text: str) -> str:
    """Upper-case a-z only, as the C locale and ``tr/a-z/A-Z/`` do."""
    return text.translate(_ASCII_UPPER)


@dataclass(frozen=True)
class GlmRule:
    source: str
    target: str
    left: str
    right: str
    line: int


@dataclass
class Glm:
    """A parsed rule set for one input type and purpose; :meth:`apply` rewrites one line of text."""

    rules: list[GlmRule] = field(default_factory=list)
    name: str = ""
    format: str = "NIST1"
    max_rules: int = 400
    copy_no_hit: bool = True
    case_sensitive: bool = True

    def __post_init__(self) -> None:
        # per first character: (rule, source, left, right), the matching parts case-folded once
        self._by_key: dict[str, list[tuple[GlmRule, str, str, str]]] = {}
        for rule in self.rules:
            if rule.source:
                folded = (rule, self._fold(rule.source), self._fold(rule.left), self._fold(rule.right))
                self._by_key.setdefault(folded[1][0], []).append(folded)

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else ascii_upper(text)

    def apply(self, text: str) -> str:
        """Rewrite ``text`` with the first matching rule at each cursor position (rfilter1's algorithm)."""
        folded = self._fold(text)
        out: list[str] = []
        cursor = 0
        while cursor < len(text):
            for rule, source, left, right in self._by_key.get(folded[cursor], ()):
                end = cursor + len(source)
                if (
                    folded.startswith(source, cursor)
                    and cursor >= len(left)
                    and folded[cursor - len(left) : cursor] == left
                    and folded.startswith(right, end)
                ):
                    out.append(rule.target)
                    cursor = end
                    break
            else:
                if self.copy_no_hit:
                    out.append(text[cursor])
                cursor += 1
        return "".join(out)


def _last_non_space(line: str, floor: int = -1) -> int:
    end = len(line) - 1
    while end > floor and line[end] in _C_SPACE:
        end -= 1
    return end


def _unbracket(line: str, start: int, end: int) -> str:
    """The text ``line[start:end+1]`` without one pair of bounding ``[]`` or ``""``."""
    if start <= end and ((line[start] == "[" and line[end] == "]") or (line[start] == '"' and line[end] == '"')):
        start, end = start + 1, end - 1
    return line[start : end + 1] if end >= start else ""


def _field_after_marker(line: str, start: int, end: int) -> str:
    """rfilter1's field scan: skip the marker token at ``start`` (``=>``, ``/``, ``__``), then spaces."""
    while line[start] not in _C_SPACE and start < end:
        start += 1
    if start >= end:
        return ""
    while line[start] in _C_SPACE:
        start += 1
    return _unbracket(line, start, end)


def _pointer_less(a: int, b: int) -> bool:
    """C's ``a < b`` on strchr results, where a missing character (-1 here) is the NULL pointer."""
    if a < 0:
        return b >= 0
    return b >= 0 and a < b


def _parse_rule(line: str, path: str | os.PathLike, lineno: int) -> GlmRule:
    arrow = line.find("=>")
    if arrow < 0:
        raise ScoreInputError(path, lineno, f"GLM rule has no '=>': {line.strip()!r}")
    context = line.rfind("/")
    slot = -1
    if context >= 0:
        if _pointer_less(line.find("]", context), line.find("[", context)):
            context = -1  # the last '/' is inside [...], e.g. an alternation in the output
        else:
            slot = line.find("_", context)
    start = len(line) - len(line.lstrip(_C_SPACE))
    source = ""
    if start < arrow:
        source = _unbracket(line, start, _last_non_space(line[:arrow], start))
    if context < 0:
        target_end = _last_non_space(line)
    else:
        target_end = context - 1
        while line[target_end] in _C_SPACE and target_end > arrow:
            target_end -= 1
    target = _field_after_marker(line, arrow, target_end) if target_end > arrow else ""
    left = right = ""
    if context >= 0 and slot >= 0:
        left_end = slot - 1
        while line[left_end] in _C_SPACE and left_end > context:
            left_end -= 1
        left = _field_after_marker(line, context, left_end)
        right = _field_after_marker(line, slot, _last_non_space(line))
    return GlmRule(source, target, left, right, lineno)


def _quoted_value(line: str, path: str | os.PathLike, lineno: int) -> str:
    match = re.search(r"[\"']([^\"']*)[\"']", line)
    if match is None:
        raise ScoreInputError(path, lineno, f"GLM header line has no quoted value: {line.strip()!r}")
    return match.group(1)


def parse_glm(lines: Sequence[str], path: str | os.PathLike, input_type: str, purpose: str) -> Glm:
    """Parse GLM text for one ``input_type`` (stm/ctm/trn) and ``purpose`` (ref/hyp).

    Raises ScoreInputError naming ``path`` and the line for rules without ``=>``, lines left blank
    by a comment, header lines without a quoted value, and more rules than ``max_nrules``.
    """
    kind, role = input_type.lower(), purpose.lower()
    applies = True
    selected: list[tuple[int, str]] = []
    for lineno, line in enumerate(lines, 1):
        match = _SECTION.match(line)
        if match:
            pattern = match.group(1).lower()
            applies = bool(re.search(pattern, kind)) or bool(re.search(pattern, role))
        if applies:
            selected.append((lineno, line.rstrip("\n")))
    if not selected:
        return Glm()
    first = selected[0][1]
    comment = re.match(r"[!-~]*", first).group(0)  # a leading space gives no comment marker at all
    settings: dict = {"name": "", "format": "NIST1", "max_rules": 400, "copy_no_hit": True, "case_sensitive": True}
    rules: list[GlmRule] = []
    for lineno, raw in selected[1:]:
        line = raw.rstrip(_C_SPACE)
        if not line or (comment and line.startswith(comment)):
            continue
        if line.startswith("*"):
            value, keys = _quoted_value(line, path, lineno), ascii_upper(line)
            if "NAME" in keys:
                settings["name"] = value
            if "FORMAT" in keys:
                settings["format"] = value
            if "MAX_NRULES" in keys:
                digits = re.match(r"\s*[+-]?\d+", value)
                settings["max_rules"] = int(digits.group(0)) if digits else 0
            if "COPY_NO_HIT" in keys:
                settings["copy_no_hit"] = ascii_upper(value) in _TRUE_WORDS
            if "CASE_SENSITIVE" in keys:
                settings["case_sensitive"] = ascii_upper(value) in _TRUE_WORDS
            continue
        if comment and comment in line:
            line = line[: line.index(comment)] + " " * (len(line) - line.index(comment))
        if not line.strip(_C_SPACE):
            raise ScoreInputError(path, lineno, "GLM line is blank once its comment is removed (rfilter1 rejects it)")
        if len(rules) >= settings["max_rules"]:
            raise ScoreInputError(path, lineno, f"more GLM rules than max_nrules={settings['max_rules']}; raise it with \"* max_nrules = 'N'\"")
        rules.append(_parse_rule(line, path, lineno))
    if settings["format"] != "NIST1":
        raise ScoreInputError(path, None, f"GLM format {settings['format']!r} is not supported (only 'NIST1')")
    return Glm(rules, **settings)


def read_glm(path: str | os.PathLike, input_type: str, purpose: str) -> Glm:
    """Read and parse a GLM file for one input type and purpose (see :func:`parse_glm`)."""
    with open(path, encoding="utf-8") as handle:
        return parse_glm(handle.readlines(), path, input_type, purpose)
