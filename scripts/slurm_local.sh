#!/usr/bin/env bash
# A throw-away one-machine Slurm cluster for trying jobs/*.slurm and `srun` launches without a
# real cluster (Debian's slurm-wlm + munge; installed if missing). Two simulated nodes of 2
# CPUs each, so placement across nodes can be exercised.
#   bash scripts/slurm_local.sh start   -> prints the SLURM_CONF to export
#   bash scripts/slurm_local.sh stop
#   bash scripts/slurm_local.sh install (the packages only)
set -euo pipefail
DIR="${LLMPI_SLURM_DIR:-/tmp/llmpi-slurm}"
HOST="$(hostname)"

stop() {
  for pid in "$DIR"/*.pid; do
    [[ -f "$pid" ]] && kill "$(cat "$pid")" 2> /dev/null || true
  done
  rm -f "$DIR"/*.pid
}

if [[ "${1:-start}" == "stop" ]]; then
  stop
  exit 0
fi

if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge
fi
[[ "${1:-start}" == "install" ]] && exit 0

stop
mkdir -p "$DIR"/{munge,spool,state,log,tmp/n1,tmp/n2}
chmod 0755 "$DIR/munge"
[[ -f "$DIR/munge.key" ]] || dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 2> /dev/null
chmod 0400 "$DIR/munge.key"
munged --key-file="$DIR/munge.key" --socket="$DIR/munge/socket" --pid-file="$DIR/munged.pid" \
  --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge.seed" -f

cat > "$DIR/slurm.conf" << CONF
ClusterName=llmpi
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SlurmctldPort=17817
SlurmdPort=17818
SlurmdSpoolDir=$DIR/spool/%n
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
TmpFS=$DIR/tmp/%n
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=n[1-2] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[17001-17002] CPUs=2 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
mkdir -p "$DIR/spool/n1" "$DIR/spool/n2"
export SLURM_CONF="$DIR/slurm.conf"
slurmctld -i
slurmd -N n1
slurmd -N n2
for _ in $(seq 30); do
  sinfo -h -o "%T" 2> /dev/null | grep -q idle && break
  sleep 1
done
sinfo
echo "export SLURM_CONF=$DIR/slurm.conf"
