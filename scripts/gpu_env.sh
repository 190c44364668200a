# shellcheck shell=bash
# Sourced by scripts/gpu_build_and_test.sh on a bare GPU machine (CUDA, CMake, Python; no MPI,
# HDF5 or yaml-cpp, no package registry): unpacks the Debian packages carried in .device/debs
# (scripts/gpu_fetch_debs.sh) into .device/root and sets the environment that builds and runs
# the whole product from there:
#  - the carried libraries the machine lacks on the library path, and only those (its own
#    OpenSSL, zlib, ... stay the ones its Python and PyTorch load);
#  - Open MPI relocated to .device/root/usr (OPAL_PREFIX), mpirun on PATH;
#  - pkg-config reading the carried .pc files with their paths under .device/root;
#  - LLMPI_CMAKE_ARGS: where CMake finds MPI, HDF5, OpenBLAS and pkg-config.
GPU_ENV_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPU_ROOT="$GPU_ENV_REPO/.device/root"
mkdir -p "$GPU_ROOT"

# dpkg -x where dpkg exists; otherwise the same unpacking with Python's standard library.
for deb in "$GPU_ENV_REPO"/.device/debs/*.deb; do
  [[ -e "$deb" ]] || continue
  if command -v dpkg > /dev/null; then
    dpkg -x "$deb" "$GPU_ROOT"
  else
    python3 - "$deb" "$GPU_ROOT" << 'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
offset = 8  # "!<arch>\n", then 60-byte member headers
while offset < len(data):
    name = data[offset:offset + 16].decode().strip().rstrip("/")
    size = int(data[offset + 48:offset + 58].decode().strip())
    body = data[offset + 60:offset + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    offset += 60 + size + (size % 2)
PY
  fi
done

GPU_LIBDIR="$GPU_ROOT/usr/lib/x86_64-linux-gnu"
# Links to the carried shared libraries whose names the machine's loader cache lacks.
GPU_GAPS="$GPU_ROOT/gaps"
rm -rf "$GPU_GAPS" && mkdir -p "$GPU_GAPS"
system_libs="$( (ldconfig -p 2> /dev/null || /sbin/ldconfig -p 2> /dev/null) | awk '{print $1}')"
for dir in "$GPU_ROOT/lib/x86_64-linux-gnu" "$GPU_LIBDIR" "$GPU_LIBDIR/openblas-pthread"; do
  [[ -d "$dir" ]] || continue
  for lib in "$dir"/*.so.*; do
    [[ -e "$lib" ]] || continue
    name="$(basename "$lib")"
    grep -qxF "$name" <<< "$system_libs" || ln -sfn "$lib" "$GPU_GAPS/$name"
  done
done
# Debian names this one through the alternatives system, which dpkg -x does not run.
if ! grep -qxF libpsm_infinipath.so.1 <<< "$system_libs"; then
  for lib in "$GPU_ROOT"/usr/lib/libpsm1/libpsm_infinipath.so.1.*; do
    [[ -e "$lib" ]] && ln -sfn "$lib" "$GPU_GAPS/libpsm_infinipath.so.1"
  done
fi
export LD_LIBRARY_PATH="$GPU_GAPS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Open MPI finds its components, help texts and orted under OPAL_PREFIX; PMIx its plugins
# where it is told. One node needs no remote shell, but Open MPI refuses to start without one on PATH.
export OPAL_PREFIX="$GPU_ROOT/usr"
export PMIX_MCA_mca_base_component_path="$GPU_LIBDIR/pmix2/lib/pmix"
command -v ssh > /dev/null || export OMPI_MCA_plm_rsh_agent=false
export PATH="$GPU_ROOT/usr/bin:$PATH"
[[ -e "$GPU_ROOT/usr/bin/mpirun" ]] || ln -sfn mpirun.openmpi "$GPU_ROOT/usr/bin/mpirun"
[[ -e "$GPU_ROOT/usr/bin/mpicxx" ]] || ln -sfn mpicxx.openmpi "$GPU_ROOT/usr/bin/mpicxx"
[[ -e "$GPU_ROOT/usr/bin/pkg-config" ]] || ln -sfn pkgconf "$GPU_ROOT/usr/bin/pkg-config"
# Ranks of the checks run as root in containers, several to a core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

export PKG_CONFIG_SYSROOT_DIR="$GPU_ROOT"
export PKG_CONFIG_LIBDIR="$GPU_LIBDIR/pkgconfig:$GPU_ROOT/usr/share/pkgconfig"

# shellcheck disable=SC2034  # read by the script that sources this one
LLMPI_CMAKE_ARGS=(
  -DCMAKE_PREFIX_PATH="$GPU_ROOT/usr"
  -DMPI_CXX_COMPILER="$GPU_ROOT/usr/bin/mpicxx.openmpi"
  -DMPIEXEC_EXECUTABLE="$GPU_ROOT/usr/bin/mpirun.openmpi"
  -DHDF5_ROOT="$GPU_LIBDIR/hdf5/serial"
  -DPKG_CONFIG_EXECUTABLE="$GPU_ROOT/usr/bin/pkgconf"
  -DBLAS_LIBRARIES="$GPU_LIBDIR/openblas-pthread/libopenblas.so"
  -DLLMPI_CBLAS_INCLUDE_DIR="$GPU_ROOT/usr/include/x86_64-linux-gnu/openblas-pthread"
)
