"""``python -m blspeech.models --list``: the registered acoustic models."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from blspeech.models.registry import baseline_name, list_models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blspeech.models", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print one registered model name per line, "
                        "with the baseline each bL model is compared with")
    args = parser.parse_args(argv)
    if not args.list:
        parser.print_help()
        return 0
    for name in list_models():
        baseline = baseline_name(name)
        print(f"{name}\t(baseline: {baseline})" if baseline else name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
