#!/usr/bin/env bash
# Installs the Debian packages llmpi builds and tests with (Debian 12). Re-runnable: apt-get
# skips what is already installed. Needs root or sudo.
set -euo pipefail

packages=(
  build-essential cmake git python3 python3-venv
  openmpi-bin libopenmpi-dev          # MPI: the launcher and the library
  libhdf5-dev hdf5-tools              # results files (h5dump for reading them)
  libyaml-cpp-dev                     # presets and task files
  libopenblas-dev                     # GEMMs of the CPU backend
  nlohmann-json3-dev libcli11-dev     # config.json / safetensors headers; the command line
  pkg-config libpcre2-dev             # Unicode regular expressions of the tokenizers
  libsentencepiece-dev                # tokenizer.model files
  catch2                              # tests
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "install_deps: all Debian packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
