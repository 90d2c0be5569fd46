#!/usr/bin/env bash
# Installs what blspeech needs on a Debian machine: the Debian packages (TTS engines, sox, SCTK)
# and a virtual environment .venv with the package and its test extras. Idempotent and quick
# when everything is already there, so `make demo` and `make test` can always call it.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(sox libsox-fmt-all espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
              festvox-us-slt-hts sctk libsndfile1 python3-venv)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [[ ! -f $stamp ]]; then
  echo "setup: creating .venv and installing blspeech with its test extras"
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import blspeech, torch, torchaudio, kaldiio, sentencepiece, soundfile" \
    || { echo "setup: the virtual environment is incomplete (see pip's messages above)" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
