"""The units stage: CTC units, the decoding lexicon and the word LM, all from the training text only."""

from __future__ import annotations

import logging

from blspeech.data.kaldi_dir import read_table
from blspeech.decode.lexicon import build_lexicon, write_lexicon
from blspeech.decode.lm import build_arpa
from blspeech.experiment import Experiment
from blspeech.skips import SkipLog
from blspeech.tokenizer import Tokenizer, train_tokenizer

log = logging.getLogger("blspeech")


def prepare_units(exp: Experiment) -> Tokenizer:
    """Write tokenizer.model, lexicon.txt and the n-gram ARPA under the experiment dir (each only once)."""
    texts = list(read_table(exp.data_dir(exp.recipe.data.train_set) / "text").values())
    units = exp.recipe.units
    if exp.tokenizer_model.exists():
        tokenizer = Tokenizer.load(exp.tokenizer_model)
        log.info("units: %s exists (%d units), keeping it", exp.tokenizer_model, tokenizer.vocab_size)
    else:
        tokenizer = train_tokenizer(texts, exp.tokenizer_prefix, kind=units.kind,
                                    vocab_size=units.vocab_size if units.kind != "char" else None, seed=exp.recipe.seed)
    if not exp.lexicon.exists():
        skips = SkipLog("lexicon")
        write_lexicon(build_lexicon(texts, tokenizer, skips), exp.lexicon)
        skips.summary()
    if not exp.arpa.exists():
        if exp.recipe.decode.arpa:
            raise FileNotFoundError(f"decode.arpa {exp.arpa} does not exist")
        build_arpa(texts, exp.arpa, order=exp.recipe.decode.lm_order)
    return tokenizer
