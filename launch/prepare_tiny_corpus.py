"""Builds the small English corpus that lowbit-tiny-llama3 is trained and evaluated on.

Source: the fortune cookie databases of Debian's `fortunes` and `fortune-anarchism` packages
(quotations, jokes, aphorisms, short texts; plain English, ~2.5 MB). launch/setup.sh installs them;
their text is not committed to this repository.

Each fortune (the text between '%' lines) is one document. Documents are de-duplicated, then assigned
to train / validation / test by a hash of their text (90 / 5 / 5 %), so the split does not depend
on file order or package version, and ordered by that hash. Each split is written as the
documents joined by a blank line. OUT_DIR/manifest.json records counts, sizes and SHA-256s.

Usage: prepare_tiny_corpus.py OUT_DIR
"""
import hashlib
import json
import os
import subprocess
import sys

PACKAGES = ["fortunes", "fortune-anarchism"]
FORTUNE_DIR = "/usr/share/games/fortunes/"
SKIP = {"art", "ascii-art"}  # ASCII drawings, not prose


def package_files(pkg):
    try:
        out = subprocess.run(["dpkg", "-L", pkg], check=True, capture_output=True, text=True).stdout
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True, capture_output=True,
                                 text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"Debian package '{pkg}' is not installed: run launch/setup.sh (or apt-get install {' '.join(PACKAGES)})")
    files = []
    for path in out.split("\n"):
        name = os.path.basename(path)
        if (path.startswith(FORTUNE_DIR) and os.path.isfile(path) and not os.path.islink(path)
                and "." not in name and name not in SKIP):
            files.append(path)
    return sorted(files), version


def documents(path):
    with open(path, encoding="utf-8", errors="strict") as f:
        text = f.read()
    doc = []
    for line in text.split("\n"):
        if line == "%":
            if doc:
                yield "\n".join(doc).strip("\n")
            doc = []
        else:
            doc.append(line.rstrip())
    if any(doc):
        yield "\n".join(doc).strip("\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    docs, sources = {}, {}
    for pkg in PACKAGES:
        files, version = package_files(pkg)
        sources[pkg] = {"version": version, "files": [os.path.basename(f) for f in files]}
        for f in files:
            for d in documents(f):
                if d.strip():
                    docs[hashlib.sha256(d.encode("utf-8")).hexdigest()] = d
    splits = {"train": [], "validation": [], "test": []}
    for digest in sorted(docs):
        bucket = int(digest[:8], 16) % 100
        name = "train" if bucket < 90 else "validation" if bucket < 95 else "test"
        splits[name].append(docs[digest])
    manifest = {"sources": sources, "documents": len(docs), "splits": {}}
    for name, items in splits.items():
        text = "\n\n".join(items) + "\n"
        path = os.path.join(out, f"{name}.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        data = text.encode("utf-8")
        manifest["splits"][name] = {"documents": len(items), "bytes": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"{len(docs)} documents -> " + ", ".join(
        f"{k} {v['documents']} docs / {v['bytes'] / 1e6:.2f} MB" for k, v in manifest["splits"].items()))


if __name__ == "__main__":
    main()
