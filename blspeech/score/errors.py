"""The one error type of the scoring package, so callers can catch bad input separately from bugs."""

from __future__ import annotations


class ScoreInputError(ValueError):
    """A reference, hypothesis or GLM file is malformed; the message names the file and line."""

    def __init__(self, path: object, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
