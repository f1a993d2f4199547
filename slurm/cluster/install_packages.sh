#!/usr/bin/env bash
# Install the Debian packages for the single-node CI SLURM cluster (Debian 12, root).
#
#   bash slurm/cluster/install_packages.sh                          # slurmctld slurmd slurm-client munge
#   SLURM_CI_ACCOUNTING=1 bash slurm/cluster/install_packages.sh    # + slurmdbd mariadb-server mysql plugin
#
# Idempotent: does nothing when every binary is already present.
# Before installing it makes sure /usr/sbin/policy-rc.d exists and exits 101, so that the
# packages' postinst scripts do not start the packaged munge/slurmd/slurmctld/mariadb daemons
# (start_cluster.sh starts its own, private ones).
set -euo pipefail

ACCOUNTING="${SLURM_CI_ACCOUNTING:-0}"

pkgs=(slurmctld slurmd slurm-client munge)
bins=(/usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmstepd /usr/bin/sbatch /usr/bin/sinfo
      /usr/bin/scontrol /usr/bin/squeue /usr/bin/scancel /usr/bin/sacct /usr/sbin/munged /usr/bin/munge)
if [[ "$ACCOUNTING" == 1 ]]; then
    pkgs+=(slurmdbd mariadb-server slurm-wlm-mysql-plugin)
    bins+=(/usr/sbin/slurmdbd /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/sacctmgr
           /usr/lib/x86_64-linux-gnu/slurm-wlm/accounting_storage_mysql.so)
fi

missing=()
for b in "${bins[@]}"; do
    # the plugin path is arch-specific; accept any multiarch dir
    if [[ "$b" == */accounting_storage_mysql.so ]]; then
        compgen -G "/usr/lib/*/slurm-wlm/accounting_storage_mysql.so" >/dev/null || missing+=("$b")
    elif [[ ! -x "$b" ]]; then
        missing+=("$b")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_packages.sh: all SLURM packages already installed (${pkgs[*]}), nothing to do"
    exit 0
fi
echo "install_packages.sh: missing: ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
    echo "install_packages.sh: must run as root (apt-get install)" >&2
    exit 1
fi

created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# created by slurm/cluster/install_packages.sh: do not start services on install\nexit 101\n' \
        > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
    # removed again when this script exits (also on failure): the system is left as we found it
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    echo "install_packages.sh: created /usr/sbin/policy-rc.d (exit 101) so apt starts no daemons"
fi

t0=$SECONDS
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
echo "install_packages.sh: installed ${pkgs[*]} in $((SECONDS - t0)) s"
if [[ $created_policy == 1 ]]; then
    echo "install_packages.sh: removing the /usr/sbin/policy-rc.d it created"
fi
exit 0
