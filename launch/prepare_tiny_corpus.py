"""Builds the small English corpus that lowbit-tiny-llama3 is trained and evaluated on.

Sources, all Debian packages that launch/setup.sh installs (their text is not committed here):
  - `dict-gcide`: the GNU Collaborative International Dictionary of English (Webster's 1913 with
    additions): definitions, etymologies and literary quotations, ~29 MB once cleaned. One entry is
    one document; the dictd markup is turned into plain text (see gcide_documents).
  - `fortunes`, `fortune-anarchism`: quotations, jokes, aphorisms and short texts, ~2.5 MB. One
    fortune (the text between '%' lines) is one document.

Documents are de-duplicated, then assigned to train / validation / test by a hash of their text
(98 / 1 / 1 %), so the split does not depend on file order or package version, and ordered by that
hash (which interleaves the sources). Each split is written as the documents joined by a blank line.
OUT_DIR/manifest.json records the package versions, counts, sizes and SHA-256s.

Usage: prepare_tiny_corpus.py OUT_DIR
"""
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata

FORTUNE_PACKAGES = ["fortunes", "fortune-anarchism"]
FORTUNE_DIR = "/usr/share/games/fortunes/"
FORTUNE_SKIP = {"art", "ascii-art"}  # ASCII drawings, not prose
GCIDE_PACKAGE = "dict-gcide"
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
GCIDE_INDEX = "/usr/share/dictd/gcide.index"
SPLIT_PERCENT = {"train": 98, "validation": 1, "test": 1}


def installed(pkg):
    """(version, file list) of an installed Debian package; exits with the install command if absent."""
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True, capture_output=True,
                                 text=True).stdout
        files = subprocess.run(["dpkg", "-L", pkg], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"Debian package '{pkg}' is not installed: run launch/setup.sh "
                 f"(or apt-get install {' '.join(FORTUNE_PACKAGES + [GCIDE_PACKAGE])})")
    return version, files.split("\n")


# ---- fortunes ----------------------------------------------------------------------------------

def fortune_files(pkg):
    version, paths = installed(pkg)
    files = [p for p in paths
             if p.startswith(FORTUNE_DIR) and os.path.isfile(p) and not os.path.islink(p)
             and "." not in os.path.basename(p) and os.path.basename(p) not in FORTUNE_SKIP]
    return sorted(files), version


def fortune_documents(path):
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


# ---- GCIDE -------------------------------------------------------------------------------------

DICTD_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# GCIDE's ASCII accent codes: [=a] macron, ['e] acute, [`e] grave, [i^] breve, [^o] circumflex,
# ["o] diaeresis, [~n] tilde, [.a] dot below, [-o] (a pronunciation mark, dropped).
GCIDE_ACCENTS = {"=": "\u0304", "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303",
                 ".": "\u0323", "-": ""}
GCIDE_SYMBOLS = {"ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "th": "þ", "thorn": "þ", "deg": "°",
                 "imac": "ī", "aum": "ä", "ng": "ŋ", "sect": "§", "root": "√", ",c": "ç", "=ae": "ǣ",
                 "=oo": "o\u0304o", "oo^": "o\u0306o", "udd": "u", "add": "a", "asl": "a"}
# A line holding only bracketed tags: the source tags that end each sense ([1913 Webster], [PJC]),
# and with them the few usage labels set alone on a line ([Obs.]). The corpus the shipped model was
# trained on was cleaned exactly so: ~4,000 source tags that share a line with text (dictd quirks such
# as "[1913 Webster] Selenographic") stay in the text.
MARKER_LINE = re.compile(r"\s*(\[[^\]\n]*\]\s*)+")
PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")             # the headword's \Ar*rive"\
ACCENT_CODE = re.compile(r"\[([a-zA-Z]{1,2}\^|[=`'^\"~.\-][a-zA-Z]{1,2}|[a-zA-Z,=]{2,5})\]")


def dictd_number(digits):
    value = 0
    for c in digits:
        value = value * 64 + DICTD_BASE64.index(c)
    return value


def gcide_accent(match):
    code = match.group(1)
    if code in GCIDE_SYMBOLS:
        return GCIDE_SYMBOLS[code]
    if code.endswith("^"):  # [i^]: breve over the letter
        return unicodedata.normalize("NFC", code[:-1] + "\u0306")
    if code[0] in GCIDE_ACCENTS:
        return unicodedata.normalize("NFC", code[1:] + GCIDE_ACCENTS[code[0]])
    return match.group(0)  # an ordinary bracketed word such as [Obs]


def gcide_text(entry):
    """One dictd entry as plain text: tags and pronunciations removed, wrapped lines joined."""
    paragraphs, current = [], []
    for line in entry.split("\n"):
        stripped = line.strip()
        if stripped and MARKER_LINE.fullmatch(stripped):
            continue
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(stripped)
    if current:
        paragraphs.append(" ".join(current))
    text = "\n".join(paragraphs)
    text = PRONUNCIATION.sub("", text).replace("{", "").replace("}", "")
    text = ACCENT_CODE.sub(gcide_accent, text)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" ([,.;:])", r"\1", text).strip()


def gcide_documents():
    """Every GCIDE entry once (several headwords can index the same entry), in file order."""
    with gzip.open(GCIDE_DICT) as f:
        raw = f.read()
    spans = set()
    with open(GCIDE_INDEX, encoding="utf-8") as f:
        for line in f:
            headword, offset, length = line.rstrip("\n").split("\t")
            if not headword.startswith("00-"):  # 00-database-*: the database's own description
                spans.add((dictd_number(offset), dictd_number(length)))
    for offset, length in sorted(spans):
        entry = raw[offset:offset + length]
        try:
            yield gcide_text(entry.decode("utf-8"))
        except UnicodeDecodeError:  # a few entries carry Windows-1252 quotes (0x92)
            yield gcide_text(entry.decode("cp1252", errors="replace"))


# ---- corpus ------------------------------------------------------------------------------------

def collect():
    docs, sources = {}, {}

    def add(doc):
        if doc.strip():
            docs[hashlib.sha256(doc.encode("utf-8")).hexdigest()] = doc

    for pkg in FORTUNE_PACKAGES:
        files, version = fortune_files(pkg)
        sources[pkg] = {"version": version, "files": [os.path.basename(f) for f in files]}
        for path in files:
            for doc in fortune_documents(path):
                add(doc)
    version, _ = installed(GCIDE_PACKAGE)
    sources[GCIDE_PACKAGE] = {"version": version, "files": [os.path.basename(GCIDE_DICT)]}
    for doc in gcide_documents():
        add(doc)
    return docs, sources


def split_name(digest):
    bucket = int(digest[:8], 16) % 100
    edge = 0
    for name, percent in SPLIT_PERCENT.items():
        edge += percent
        if bucket < edge:
            return name
    raise AssertionError("split percentages must add up to 100")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    docs, sources = collect()
    splits = {name: [] for name in SPLIT_PERCENT}
    for digest in sorted(docs):
        splits[split_name(digest)].append(docs[digest])
    manifest = {"sources": sources, "documents": len(docs), "splits": {}}
    for name, items in splits.items():
        text = "\n\n".join(items) + "\n"
        data = text.encode("utf-8")
        path = os.path.join(out, f"{name}.txt")
        if not (os.path.exists(path) and open(path, "rb").read() == data):  # unchanged files keep their mtime
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        manifest["splits"][name] = {"documents": len(items), "bytes": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"{len(docs)} documents -> " + ", ".join(
        f"{k} {v['documents']} docs / {v['bytes'] / 1e6:.2f} MB" for k, v in manifest["splits"].items()))


if __name__ == "__main__":
    main()
