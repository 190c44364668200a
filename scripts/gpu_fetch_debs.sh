#!/usr/bin/env bash
# Run here (with apt): downloads the Debian packages a bare GPU machine lacks for building and
# testing the whole product there — MPI (Open MPI and mpirun), HDF5, yaml-cpp, OpenBLAS,
# SentencePiece, PCRE2, pkg-config, Catch2, nlohmann-json, CLI11 — with the shared libraries
# they load, into .device/debs/ (git-ignored), to be carried by the device tool.
# scripts/gpu_build_and_test.sh unpacks them and puts on the library path only the libraries
# the machine does not already have, so its own libraries (OpenSSL, zlib, ...) stay in charge.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rm -rf "$REPO/.device/debs"
mkdir -p "$REPO/.device/debs"
cd "$REPO/.device/debs"

# What the build includes and links against.
build=(
  catch2 nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libopenblas-pthread-dev
  libopenmpi-dev openmpi-bin openmpi-common libhdf5-dev libsentencepiece-dev libpcre2-dev
  pkgconf-bin libpkgconf3
)
# The shared libraries those load, down to what any glibc system with a compiler has. Open
# MPI's network transports (UCX, libfabric, PSM) come along because libmpi links them, though
# one node's ranks talk through shared memory.
runtime=(
  libyaml-cpp0.7 libopenblas0-pthread libgfortran5 libquadmath0 libsentencepiece0
  libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  libopenmpi3 libpmix2 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1
  libibverbs1 ibverbs-providers librdmacm1 libnl-3-200 libnl-route-3-200 libpsm-infinipath1
  libpsm2-2 libucx0 libnuma1 libmunge2 libltdl7
  libhdf5-103-1 libsz2 libaec0 libcurl4 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libkrb5support0 libkeyutils1 libcom-err2 libidn2-0 libunistring2 libldap-2.5-0 libsasl2-2
  libsasl2-modules-db libdb5.3 libnghttp2-14 libpsl5 librtmp1 libgnutls30 libhogweed6
  libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libssh2-1 libssl3 libzstd1 zlib1g
  libudev1
)
apt-get download "${build[@]}" "${runtime[@]}"
du -sh .
