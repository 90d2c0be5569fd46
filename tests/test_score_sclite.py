"""Live comparison of the two back ends (needs NIST SCTK: Debian package ``sctk``).

Both back ends must agree segment by segment (every aligned word pair), on the hand-made cases
and on random stm/ctm/trn files that mix every hub5 rule; and SCTK must still produce the counts
checked into tests/score_cases. Skipped, with the reason, where SCTK is not installed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from blspeech.score import ScoreInputError, score, sctk_available

pytestmark = pytest.mark.skipif(not sctk_available(), reason="NIST SCTK (hubscr.pl, sclite, csrfilt.sh, rfilter1) is not installed")

CASES = Path(__file__).parent / "score_cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "expected.json").exists())
LABELS = ';; LABEL "O" "Overall" "Overall"\n;; LABEL "sw" "Switchboard" "SWB"\n;; LABEL "en" "CallHome" "CH"\n'
REF_WORDS = "a b the dog yes no i'm that's can't gonna uh um uh-huh well-known ab- -ing (uh) (the) okay".split() + ["{ yes / yeah }", "{ uh / @ }"]
HYP_WORDS = "a b the dog yes no i'm that's can't gonna uh um mm-hmm well known ab about going [noise] <unk> (uh) yeah it's".split()


def segment_keys(report):
    return [(s.speaker, s.file, s.channel, s.labels, s.alignment) for s in report.segments]


def both_backends(ref: Path, hyp: Path, glm: Path | None):
    return score(ref, hyp, glm=glm, backend="builtin"), score(ref, hyp, glm=glm, backend="sclite")


@pytest.mark.parametrize("case", CASE_DIRS, ids=[c.name for c in CASE_DIRS])
def test_backends_agree_on_hand_made_cases(case: Path):
    expected = json.loads((case / "expected.json").read_text())
    inputs = {key: None if name is None else case / name for key, name in expected["inputs"].items()}
    builtin, sclite = both_backends(inputs["ref"], inputs["hyp"], inputs["glm"])
    assert segment_keys(builtin) == segment_keys(sclite)
    assert sclite.total.as_dict() == expected["total"], "SCTK no longer gives the checked-in counts"
    times = [t for s in builtin.segments for t in (s.start, s.end)]
    assert times == pytest.approx([t for s in sclite.segments for t in (s.start, s.end)], abs=5e-4)


def random_case(rng: random.Random, directory: Path) -> tuple[Path, Path, Path]:
    """An stm with 1-3 conversations, a ctm of mutated reference words around each segment, and a trn."""
    stm, ctm, trn = [LABELS.rstrip("\n")], [], []
    for conversation in sorted({f"{rng.choice(['sw', 'en'])}_{rng.randint(1, 3)}" for _ in range(rng.randint(1, 3))}):
        for channel in rng.sample(["A", "B"], rng.randint(1, 2)):
            speaker, clock = f"{conversation}_{channel}", rng.uniform(0, 1)
            for index in range(rng.randint(1, 4)):
                start, end = round(clock, 2), round(clock + rng.uniform(0.5, 3), 2)
                ref = [rng.choice(REF_WORDS) for _ in range(rng.randint(0, 6))]
                stm.append(f"{conversation} {channel} {speaker} {start:.2f} {end:.2f} <O,{conversation[:2]}> {' '.join(ref)}")
                hyp = [rng.choice(HYP_WORDS) if rng.random() < 0.3 else w.strip("(){}").split(" / ")[0].strip() for w in ref if rng.random() > 0.15]
                hyp = [w for w in hyp if w and w != "@"] + ([rng.choice(HYP_WORDS)] if rng.random() < 0.3 else [])
                low, high = max(0.0, start - rng.choice([0, 0.4])), end + rng.choice([-0.05, 0.4])
                for i, word in enumerate(hyp):
                    ctm.append(f"{conversation} {channel} {low + (high - low) * i / len(hyp):.2f} {(high - low) / len(hyp) * 0.8:.2f} {word}")
                trn.append(f"{' '.join(hyp)} ({speaker}-{index:03d})")
                clock = end + rng.uniform(0, 1)
    rng.shuffle(ctm)
    paths = directory / "ref.stm", directory / "hyp.ctm", directory / "hyp.trn"
    for path, lines in zip(paths, (stm, ctm, trn)):
        path.write_text("\n".join(lines) + "\n")
    return paths


@pytest.mark.parametrize("seed", range(8))
def test_backends_agree_on_random_cases(seed: int, tmp_path: Path):
    ref, hyp_ctm, hyp_trn = random_case(random.Random(seed), tmp_path)
    glm = CASES / "hub5.glm"
    builtin, sclite = both_backends(ref, hyp_ctm if seed % 2 == 0 else hyp_trn, glm)
    assert segment_keys(builtin) == segment_keys(sclite)


def test_sclite_backend_refuses_a_glm_rfilter1_would_crash_on(tmp_path: Path):
    glm = tmp_path / "hyp_only.glm"
    glm.write_text(";; rules for hypotheses only\n* format = 'NIST1'\n;; INPUT_DEPENDENT_APPLICATION = \"ctm\"\nUH => %HESITATION\n")
    case = CASES / "plain_errors"
    with pytest.raises(ScoreInputError, match="no rule applies to stm input"):
        score(case / "ref.stm", case / "hyp.ctm", glm=glm, backend="sclite")
    assert score(case / "ref.stm", case / "hyp.ctm", glm=glm, backend="builtin").total.words == 9


def test_sclite_backend_keeps_sctk_files(tmp_path: Path):
    case = CASES / "kaldi_latgen"
    report = score(case / "ref.stm", case / "hyp.ctm", glm=case / "rules.glm", backend="sclite", out_dir=tmp_path)
    assert report.backend == "sclite" and report.wer == 0.0
    assert (tmp_path / "sclite" / "hyp.ctm.filt.sys").exists()
    assert (tmp_path / "hyp.ctm.sys").exists()
