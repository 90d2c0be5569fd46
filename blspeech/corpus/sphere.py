"""NIST SPHERE files as the LDC ships them: a 1024-byte text header, then interleaved samples.

The header is written by hand so it carries the fields LDC's Switchboard files carry
(``database_id``, ``conversation_id``, ``channels_interleaved``); the mu-law samples themselves
are encoded by libsndfile (``soundfile``), the G.711 codec every reader of these files uses.
Reading a header is cheap (one 1024-byte read), so data prep validates every file with it and
takes recording durations from it without decoding audio.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from blspeech.fileio import atomic_write

HEADER_BYTES = 1024
MAGIC = b"NIST_1A"
# sample_coding values whose payload is compressed, so its size cannot be checked from the header.
COMPRESSED_CODINGS = ("shorten", "wavpack", "shortpack")


class SphereError(ValueError):
    """A file is not a readable SPHERE file; the message names the file."""


@dataclass(frozen=True)
class SphereHeader:
    """The fields of one SPHERE header that readers need, plus every field as written."""

    path: Path
    header_bytes: int
    channel_count: int
    sample_count: int
    sample_rate: int
    sample_n_bytes: int
    sample_coding: str
    fields: dict[str, int | float | str]

    @property
    def duration(self) -> float:
        """Seconds of audio per channel."""
        return self.sample_count / self.sample_rate

    @property
    def compressed(self) -> bool:
        return any(name in self.sample_coding for name in COMPRESSED_CODINGS)


def _format_field(name: str, value: int | float | str) -> str:
    if isinstance(value, bool):
        raise ValueError(f"SPHERE field {name}: booleans have no SPHERE type, got {value!r}")
    if isinstance(value, int):
        return f"{name} -i {value}"
    if isinstance(value, float):
        return f"{name} -r {value:.6f}"
    return f"{name} -s{len(value.encode('ascii'))} {value}"


def encode_header(fields: dict[str, int | float | str]) -> bytes:
    """A 1024-byte ``NIST_1A`` header holding ``fields`` in order, padded with spaces."""
    text = "\n".join([MAGIC.decode(), f"{HEADER_BYTES:>7}", *(_format_field(k, v) for k, v in fields.items()), "end_head", ""])
    data = text.encode("ascii")
    if len(data) > HEADER_BYTES:
        raise ValueError(f"SPHERE header of {len(data)} bytes does not fit in {HEADER_BYTES}: {list(fields)}")
    return data + b" " * (HEADER_BYTES - len(data))


def write_sphere_ulaw(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    extra_fields: dict[str, int | float | str] | None = None,
) -> None:
    """Write ``samples`` of shape ``(T, C)``, floats in [-1, 1], as an interleaved mu-law SPHERE file.

    ``extra_fields`` (e.g. ``database_id``, ``conversation_id``) come first in the header, as in
    LDC's files. The file appears atomically.
    """
    if samples.ndim != 2:
        raise ValueError(f"samples must have shape (T, C), got {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    payload = io.BytesIO()
    soundfile.write(payload, np.clip(samples, -1.0, 1.0), sample_rate, format="RAW", subtype="ULAW")
    fields: dict[str, int | float | str] = dict(extra_fields or {})
    fields.update(
        channel_count=samples.shape[1],
        sample_count=samples.shape[0],
        sample_rate=sample_rate,
        sample_n_bytes=1,
        sample_coding="ulaw",
        sample_byte_format="1",
        channels_interleaved="TRUE",
    )
    with atomic_write(path, "wb", encoding=None) as handle:
        handle.write(encode_header(fields))
        handle.write(payload.getvalue())


def _parse_value(path: Path, line: str) -> tuple[str, int | float | str]:
    name, _, rest = line.partition(" ")
    kind, _, value = rest.partition(" ")
    try:
        if kind == "-i":
            return name, int(value)
        if kind == "-r":
            return name, float(value)
        if kind.startswith("-s"):
            return name, value[: int(kind[2:])] if kind[2:] else value
    except ValueError:
        pass
    raise SphereError(f"{path}: malformed SPHERE header line {line!r}")


def read_sphere_header(path: str | os.PathLike) -> SphereHeader:
    """Parse and check the header of ``path``; raise :class:`SphereError` naming the file if it is corrupt.

    Checks: the ``NIST_1A`` magic, a readable header size, the fields every reader needs, and, for
    uncompressed codings, that the file holds exactly the samples the header announces (a
    truncated copy is the usual corruption).
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError as err:
        raise SphereError(f"{path}: cannot read: {err.strerror}") from None
    lines = head.split(b"\n")
    if len(lines) < 3 or lines[0].strip() != MAGIC:
        raise SphereError(f"{path}: not a SPHERE file (no {MAGIC.decode()} header)")
    try:
        header_bytes = int(lines[1])
    except ValueError:
        raise SphereError(f"{path}: unreadable SPHERE header size {lines[1][:20]!r}") from None
    if header_bytes < len(lines[0]) + len(lines[1]) + 2:  # shorter than its own first two lines
        raise SphereError(f"{path}: impossible SPHERE header size {header_bytes}")
    if header_bytes != HEADER_BYTES:
        with open(path, "rb") as handle:
            head = handle.read(header_bytes)
        lines = head.split(b"\n")
    fields: dict[str, int | float | str] = {}
    for raw in lines[2:]:
        line = raw.decode("ascii", errors="replace").strip()
        if line == "end_head":
            break
        if line and not line.startswith(";"):
            name, value = _parse_value(path, line)
            fields[name] = value
    else:
        raise SphereError(f"{path}: SPHERE header has no end_head within {header_bytes} bytes")
    for required in ("channel_count", "sample_count", "sample_rate", "sample_n_bytes"):
        if not isinstance(fields.get(required), int) or fields[required] <= 0:
            raise SphereError(f"{path}: SPHERE header lacks a positive integer {required}")
    header = SphereHeader(
        path=path,
        header_bytes=header_bytes,
        channel_count=int(fields["channel_count"]),
        sample_count=int(fields["sample_count"]),
        sample_rate=int(fields["sample_rate"]),
        sample_n_bytes=int(fields["sample_n_bytes"]),
        sample_coding=str(fields.get("sample_coding", "pcm")),
        fields=fields,
    )
    if not header.compressed:
        expected = header.sample_count * header.channel_count * header.sample_n_bytes
        found = path.stat().st_size - header_bytes
        if found != expected:
            raise SphereError(
                f"{path}: header announces {header.sample_count} samples x "
                f"{header.channel_count} channels ({expected} bytes), file holds {found} bytes of samples"
            )
    return header
