#!/usr/bin/env python3
"""Helpers of benchmarks/device/gather_deps.sh for the unpacked Debian prefix (no third-party modules).

  prefix_tool.py prune STAGE           drop what lowbit's build and check never use (docs, man pages,
                                       static libraries but GoogleTest's, Fortran/Java/OpenSHMEM parts,
                                       OpenMPI/PMIx plugins for fabrics that a one-GPU machine has not)
  prefix_tool.py collect STAGE         drop the shared libraries that no program, plugin or link-time
                                       name reaches
  prefix_tool.py missing STAGE         print the sonames that ELF files in STAGE need and nothing in
                                       STAGE provides (glibc, libstdc++ and libgcc_s excepted)
  prefix_tool.py fixup STAGE           make the prefix relocatable: .pc files relative to ${pcfiledir},
                                       h5cc relative to its own location, the alternatives symlinks
                                       (mpicc, mpirun, ...) that dpkg's maintainer scripts would create
  prefix_tool.py runtime-libs STAGE OWN_PACKAGES_FILE PACKAGE_FILES_DIR
                                       print "own|system SONAME PATH" for every shared library (check.sh
                                       links the "own" ones always, the "system" ones only when the host
                                       lacks that soname)

Everything is relative to STAGE (the directory the .deb files were unpacked into with dpkg-deb -x).
"""
import os
import re
import shutil
import stat
import struct
import sys

MULTIARCH = "usr/lib/x86_64-linux-gnu"
# Every machine with a C++ compiler has these (glibc, libstdc++, libgcc_s): never carried.
BASE_SONAMES = {
    "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
    "libresolv.so.2", "libutil.so.1", "libanl.so.1", "libstdc++.so.6", "libgcc_s.so.1",
}
# Fabric and language libraries a one-GPU, one-node run never loads: the plugins that need them go.
EXCLUDED_SONAMES = {
    "libucp.so.0", "libucs.so.0", "libuct.so.0", "libucm.so.0", "libfabric.so.1", "libibverbs.so.1",
    "librdmacm.so.1", "libpsm_infinipath.so.1", "libpsm2.so.2", "libnl-3.so.200", "libnl-route-3.so.200",
    "libgfortran.so.5", "libquadmath.so.0", "libjvm.so", "libcuda.so.1",
}
# What lowbit links or mpirun runs: an ELF file among these that needs an excluded soname is an error.
PROTECTED = re.compile(r"(^|/)(libmpi\.so|libopen-pal\.so|libopen-rte\.so|libhdf5_serial\.so|libyaml-cpp\.so|"
                       r"libpcre2-8\.so|libz\.so|libpkgconf\.so|libpmix\.so|orterun|orted|opal_wrapper|pkgconf)")

PRUNE_DIRS = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/bug",
              "usr/share/java", "usr/share/bash-completion", "usr/share/gdb", "usr/share/aclocal",
              "usr/share/locale", MULTIARCH + "/fortran", MULTIARCH + "/openmpi/include/openshmem",
              MULTIARCH + "/openmpi/include/openmpi/oshmem", "usr/src"]
PRUNE_FILE = re.compile(
    r"(\.la$|\.mod$|\.jar$"
    r"|fortran|hl_fortran|_usempi|libmpi_mpifh|libmpi_java|mpijavac"
    r"|liboshmem|/osh[a-zA-Z+]*$|/shmem[a-zA-Z+]*$|oshmem_info|help-oshmem|mca_(spml|sshmem|atomic|scoll|memheap)_"
    r"|/p?shmem[-a-z]*\.f?h$|/shmemx\.h$|/pshmemx\.h$"
    r"|/mpif(77|90|ort)|/h5fc|/h5c\+\+"
    r"|libhdf5_serial_cpp|libhdf5_serial_hl|libhdf5_cpp|libhdf5_hl"
    r"|libpcre2-(16|32|posix)"
    r"|mca-btl-openib-device-params\.ini)")
KEEP_STATIC = re.compile(r"/lib(gtest|gmock)(_main)?\.a$")


# ---- ELF ------------------------------------------------------------------------------------------

def elf_dynamic(path):
    """(soname, [needed]) of a 64-bit little-endian ELF file; None if it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    e_phoff, = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    loads, dynamic = [], None
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return (None, [])

    def file_offset(vaddr):
        for v, o, s in loads:
            if v <= vaddr < v + s:
                return vaddr - v + o
        return None

    entries, strtab = [], None
    off, end = dynamic[0], dynamic[0] + dynamic[1]
    while off + 16 <= end:
        tag, val = struct.unpack_from("<qQ", data, off)
        off += 16
        if tag == 0:
            break
        if tag == 5:
            strtab = file_offset(val)
        entries.append((tag, val))
    if strtab is None:
        return (None, [])

    def string(o):
        s = strtab + o
        return data[s:data.index(b"\0", s)].decode()

    soname = next((string(v) for t, v in entries if t == 14), None)
    return (soname, [string(v) for t, v in entries if t == 1])


def walk_files(stage):
    for d, dirs, files in os.walk(stage):
        for name in files:
            yield os.path.join(d, name)


def elf_files(stage):
    """{path: (soname, needed)} of the regular ELF files in stage."""
    out = {}
    for p in walk_files(stage):
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        info = elf_dynamic(p)
        if info is not None:
            out[p] = info
    return out


def provided_sonames(stage, elves):
    provided = set()
    for p, (soname, _) in elves.items():
        provided.add(soname or os.path.basename(p))
    for p in walk_files(stage):  # symlinks named by soname count too
        if os.path.islink(p) and os.path.exists(p):
            provided.add(os.path.basename(p))
    return provided


# ---- commands ---------------------------------------------------------------------------------------

def remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def remove_dangling_and_empty(stage):
    changed = True
    while changed:
        changed = False
        for p in list(walk_files(stage)):
            if os.path.islink(p) and not os.path.exists(p):
                os.remove(p)
                changed = True
        for d, dirs, files in os.walk(stage, topdown=False):
            if d != stage and not os.listdir(d):
                os.rmdir(d)
                changed = True


def prune(stage):
    for d in PRUNE_DIRS:
        remove(os.path.join(stage, d))
    for p in list(walk_files(stage)):
        rel = "/" + os.path.relpath(p, stage)
        if PRUNE_FILE.search(rel) or (rel.endswith(".a") and not KEEP_STATIC.search(rel)):
            remove(p)
    # ELF files that need a fabric library we do not carry (plugins, their common libraries): drop,
    # then again for whatever needed those, until nothing changes.
    while True:
        elves = elf_files(stage)
        gone = {}
        for p, (soname, needed) in elves.items():
            bad = sorted(set(needed) & EXCLUDED_SONAMES)
            if bad:
                gone[p] = bad
        if not gone:
            break
        for p, bad in gone.items():
            if PROTECTED.search(p):
                sys.exit(f"prefix_tool: {os.path.relpath(p, stage)} needs {', '.join(bad)}, which is not carried")
            os.remove(p)
        removed_names = {os.path.basename(p) for p in gone} | {elves[p][0] for p in gone if elves[p][0]}
        remove_dangling_and_empty(stage)
        EXCLUDED_SONAMES.update(removed_names)
    remove_dangling_and_empty(stage)


def collect(stage):
    """Drop the shared libraries nothing needs: the roots are the programs, the plugins, GoogleTest's
    static libraries and whatever a link-time name (an unversioned *.so symlink) points to."""
    elves = elf_files(stage)
    by_soname = {}
    for p, (soname, _) in elves.items():
        by_soname.setdefault(soname or os.path.basename(p), []).append(p)
    roots = set()
    for p, (soname, _) in elves.items():
        rel = os.path.relpath(p, stage)
        if not soname or "/openmpi3/" in rel or "/pmix/" in rel:
            roots.add(p)
    for p in walk_files(stage):
        if os.path.islink(p) and p.endswith(".so") and os.path.exists(p):
            roots.add(os.path.realpath(p))
    keep, todo = set(), [r for r in roots if r in elves]
    while todo:
        p = todo.pop()
        if p in keep:
            continue
        keep.add(p)
        for n in elves[p][1]:
            todo.extend(by_soname.get(n, []))
    for p in elves:
        if p not in keep:
            os.remove(p)
    remove_dangling_and_empty(stage)


def missing(stage):
    elves = elf_files(stage)
    provided = provided_sonames(stage, elves)
    need = {}
    for p, (_, needed) in elves.items():
        for n in needed:
            if n not in provided and n not in BASE_SONAMES:
                need.setdefault(n, os.path.relpath(p, stage))
    for n in sorted(need):
        print(n, need[n])


def relocate_pc(stage):
    for p in list(walk_files(stage)):
        if not p.endswith(".pc"):
            continue
        real = os.path.realpath(p)
        text = open(real, encoding="utf-8").read()
        if os.path.islink(p):  # ${pcfiledir} is where the file was found: make a copy there
            os.remove(p)
        up = os.path.relpath(os.path.join(stage, "usr"), os.path.dirname(p))
        text = re.sub(r"(?<![\w/$}])/usr(?=/|\s|$)", "${pcfiledir}/" + up, text, flags=re.M)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)


def fixup(stage):
    relocate_pc(stage)
    h5cc = os.path.join(stage, "usr/bin/h5cc")
    if os.path.isfile(h5cc):
        text = open(h5cc).read()
        text, n = re.subn(r'^prefix="/usr"$', lambda m: 'prefix="$(cd "$(dirname "$0")/.." && pwd)"', text, flags=re.M)
        if n != 1:
            sys.exit("prefix_tool: h5cc has no line prefix=\"/usr\" to relocate")
        open(h5cc, "w").write(text)
    bindir = os.path.join(stage, "usr/bin")
    # update-alternatives links of openmpi-bin / libopenmpi-dev, made by their maintainer scripts.
    for name in ["mpicc", "mpicxx", "mpic++", "mpiCC", "mpirun", "mpiexec"]:
        target = name + ".openmpi"
        link = os.path.join(bindir, name)
        if os.path.lexists(os.path.join(bindir, target)) and not os.path.lexists(link):
            os.symlink(target, link)
    libdir = os.path.join(stage, MULTIARCH)
    if os.path.isdir(os.path.join(libdir, "openmpi/lib")) and not os.path.lexists(os.path.join(libdir, "libmpi.so")):
        os.symlink("openmpi/lib/libmpi.so", os.path.join(libdir, "libmpi.so"))
    # h5cc -show names -lcrypto -lcurl -lsz: the link-time names without the -dev packages that own them
    # (libssl-dev, libcurl4-openssl-dev, libaec-dev: headers and static libraries we do not need).
    for dev, runtime in [("libcrypto.so", "libcrypto.so.3"), ("libcurl.so", "libcurl.so.4"), ("libsz.so", "libsz.so.2")]:
        if os.path.exists(os.path.join(libdir, runtime)) and not os.path.lexists(os.path.join(libdir, dev)):
            os.symlink(runtime, os.path.join(libdir, dev))
    for p in walk_files(stage):  # dpkg-deb -x keeps modes; make sure the tools are executable
        if p.startswith(bindir + "/") and os.path.isfile(p) and not os.path.islink(p):
            os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def runtime_libs(stage, own_file, files_dir):
    own = set(open(own_file).read().split())
    owner = {}  # path relative to stage -> package, from the per-package file lists
    for name in os.listdir(files_dir):
        pkg = name[:-len(".files")]
        for line in open(os.path.join(files_dir, name)):
            owner[line.strip().lstrip("./")] = pkg
    elves = elf_files(stage)
    for p, (soname, _) in sorted(elves.items()):
        rel = os.path.relpath(p, stage)
        if not soname or "/openmpi3/" in rel or "/pmix/" in rel:  # executables and plugins: not linked
            continue
        pkg = owner.get(rel, "?")
        print("own" if pkg in own else "system", soname, rel, pkg)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, stage = sys.argv[1], os.path.abspath(sys.argv[2])
    if cmd == "prune":
        prune(stage)
    elif cmd == "collect":
        collect(stage)
    elif cmd == "missing":
        missing(stage)
    elif cmd == "fixup":
        fixup(stage)
    elif cmd == "runtime-libs":
        runtime_libs(stage, sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
