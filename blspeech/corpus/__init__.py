"""Getting audio and transcripts into the LDC layout: the Switchboard-style corpus synthesizer.

Entry point: :func:`blspeech.corpus.synth.synthesize_corpus` (``python -m blspeech.corpus.synth``).
Modules: ``tts`` (engines), ``voices`` (casting), ``utterances`` (text -> audio), ``sounds``
(laughter and noises), ``conversation`` (turns and channels), ``telephone`` (band, noise),
``sphere`` (NIST SPHERE files), ``ldc_layout`` (where files go, transcript formats),
``sentence_grammar`` (the shipped sentence bank).
"""
