#!/usr/bin/env bash
# Runs a command on this Debian machine as the GPU machine would see it, to check gather_deps.sh and
# check.sh here: in a private mount namespace, every file of the Debian packages that device-deps
# carries is hidden (whiteouts in overlays over /usr and /etc), as are the alternatives links into
# them (/usr/bin/mpirun, ...), and ld.so.cache is rebuilt; packages that every Debian/Ubuntu system
# with a C++ compiler has (the Essential ones, g++, and what they depend on) stay visible.
# Nothing outside the namespace changes. Root only (unshare, mount).
#
# Usage: benchmarks/device/bare_host.sh PACKAGES_FILE -- COMMAND [ARGS...]
#   PACKAGES_FILE: lowbit-packages.txt of the gathered prefix (first column: Debian package)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "bare_host: needs root (unshare -m, mount)" >&2; exit 1; }
pkgs_file="$1"; shift
[ "${1:-}" = "--" ] && shift
(($#)) || { echo "usage: bare_host.sh PACKAGES_FILE -- COMMAND [ARGS...]" >&2; exit 2; }

sim="$(mktemp -d /tmp/lowbit-bare-host.XXXXXX)"
trap 'rm -rf "$sim"' EXIT
mkdir -p "$sim/upper/usr" "$sim/upper/etc" "$sim/work/usr" "$sim/work/etc"

# What a bare machine with a compiler has: the Essential packages, g++, and their dependencies.
mapfile -t essential < <(dpkg-query -W -f='${Package} ${Essential}\n' | awk '$2 == "yes" {print $1}')
apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${essential[@]}" g++ 2>/dev/null | grep -v '^ ' | tr -d '<>' | sort -u > "$sim/base"
grep -v '^#' "$pkgs_file" | awk '{print $1}' | sort -u > "$sim/carried"
comm -23 "$sim/carried" "$sim/base" > "$sim/hidden-packages"
comm -12 "$sim/carried" "$sim/base" > "$sim/kept-packages"

python3 - "$sim" <<'EOF'
import os, subprocess, sys
sim = sys.argv[1]
hidden = set()
for pkg in open(os.path.join(sim, "hidden-packages")).read().split():
    try:
        out = subprocess.run(["dpkg", "-L", pkg], check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        continue  # not installed here: nothing to hide
    for p in out.splitlines():
        if not p.startswith("/") or p == "/.":
            continue
        for top in ("/lib/", "/lib64/", "/bin/", "/sbin/"):  # merged /usr
            if p.startswith(top) and os.path.islink(top.rstrip("/")):
                p = "/usr" + p
        if os.path.isdir(p) and not os.path.islink(p):
            continue
        if p.startswith("/usr/") or p.startswith("/etc/"):
            hidden.add(p)
# Links into hidden files (the alternatives: /usr/bin/mpirun -> /etc/alternatives/mpirun -> ...).
for d in ["/usr/bin", "/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
          "/usr/lib/x86_64-linux-gnu/pkgconfig", "/etc/alternatives"]:
    if not os.path.isdir(d):
        continue
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.islink(p):
            real = os.path.realpath(p)
            if real in hidden:
                hidden.add(p)
            elif not os.path.exists(real):
                continue
            elif os.path.isdir(real) and any(h.startswith(real + "/") for h in hidden):
                # a link to a directory all of whose files are hidden (/usr/include/x86_64-linux-gnu/mpi)
                files = [os.path.join(r, f) for r, _, fs in os.walk(real) for f in fs]
                if files and all(f in hidden for f in files):
                    hidden.add(p)
n = 0
for p in sorted(hidden):
    top = "usr" if p.startswith("/usr/") else "etc"
    w = os.path.join(sim, "upper", p.lstrip("/"))
    os.makedirs(os.path.dirname(w), exist_ok=True)
    if not os.path.lexists(w):
        os.mknod(w, 0o600 | 0o020000, os.makedev(0, 0))  # an overlay whiteout
        n += 1
print(f"[bare_host] hiding {n} files of {len(open(os.path.join(sim, 'hidden-packages')).read().split())} packages; "
      f"kept (base system): {' '.join(open(os.path.join(sim, 'kept-packages')).read().split()) or 'none'}", file=sys.stderr)
EOF

unshare -m --propagation private bash -c '
  set -e
  sim="$1"; shift
  mount -t overlay overlay -o lowerdir=/usr,upperdir="$sim/upper/usr",workdir="$sim/work/usr" /usr
  mount -t overlay overlay -o lowerdir=/etc,upperdir="$sim/upper/etc",workdir="$sim/work/etc" /etc
  ldconfig -X
  set +e
  "$@"
' bare_host "$sim" "$@" && rc=0 || rc=$?
exit $rc
