"""Decoding: CTC greedy and lexicon beam search with a word n-gram LM.

- :mod:`~blspeech.decode.ctc`        greedy_decode, BeamSearchDecoder / beam_search -> Hypothesis
- :mod:`~blspeech.decode.lexicon`    word -> CTC-unit spelling table for the beam search
- :mod:`~blspeech.decode.lm`         build_arpa: Kneser-Ney ARPA LM from training text
- :mod:`~blspeech.decode.alignment`  word times from CTC frame alignments (ctm output)
- :mod:`~blspeech.decode.tuning`     LM weight x word score grid search on the dev set
"""
