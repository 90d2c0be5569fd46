"""How command-line entry points report bad input: one line, as Kaldi's tools do.

A wrong path, a malformed file or a setting out of range is the user's to fix, and a Python
traceback hides the one line that says what to fix. Entry points run their work through
``report_errors``: such errors (``USER_ERRORS``) are printed as ``PROG: error: MESSAGE`` and
the command exits with status 1; anything else still raises with its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

# Bad input, settings or files: every blspeech error names the file, utterance or setting it is about.
USER_ERRORS = (ValueError, OSError, RuntimeError)


def report_errors(prog: str, work: Callable[[], object]) -> int:
    """Run ``work``; 0 when it finishes, 1 with ``PROG: error: ...`` on stderr for a ``USER_ERRORS`` one."""
    try:
        work()
    except USER_ERRORS as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    return 0
