"""Checks launch/prepare_tiny_corpus.py: GCIDE's dictd markup becomes plain text (hand-written entries
with the expected text written from GCIDE's conventions), and the corpus it built is sound: the
manifest's sizes and SHA-256s match the files, documents lie in the split their hash names, no
tag-only line or undecodable byte is left.

Usage: check_tiny_corpus.py CORPUS_DIR
"""
import hashlib
import importlib.util
import json
import os
import random
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("prepare_tiny_corpus",
                                              os.path.join(HERE, "..", "..", "launch", "prepare_tiny_corpus.py"))
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)

failures = []
SOURCE_TAG_LINE = re.compile(r"(\[[^\]]*(Webster|WordNet|PJC)[^\]]*\]\s*)+")


def check(what, got, expected):
    if got != expected:
        failures.append(f"{what}: got {got!r}, expected {expected!r}")


# ---- markup --------------------------------------------------------------------------------------
ENTRY = """Arrogant \\Ar"ro*gant\\, a. [F. arrogant, L. arrogans, p. pr. of
   arrogare. See {Arrogate}.]
   1. Making exorbitant claims; haughty ; -- applied to
      persons.
      [1913 Webster]

            Arrogant Winchester, that haughty prelate. --Shak.
      [1913 Webster]

   Syn: Magisterial; lordly.
        [1913 Webster] [PJC]
"""
check("entry", corpus.gcide_text(ENTRY),
      "Arrogant, a. [F. arrogant, L. arrogans, p. pr. of arrogare. See Arrogate.] 1. Making exorbitant "
      "claims; haughty; -- applied to persons.\n"
      "Arrogant Winchester, that haughty prelate. --Shak.\n"
      "Syn: Magisterial; lordly.")
check("acute and macron", corpus.gcide_text("cascar['o]n (k[=a]s)"), "cascarón (kās)")
check("breve, circumflex, diaeresis, tilde", corpus.gcide_text("w[i^]ng [^o] na[\"i]ve ca[~n]on"),
      "wĭng ô naïve cañon")
check("ligatures and symbols", corpus.gcide_text("[AE]sop C[ae]sar [oe]dema 45[deg] [sect] 3 fa[,c]ade"),
      "Æsop Cæsar œdema 45° § 3 façade")
check("bracketed words stay", corpus.gcide_text("To happen. [Obs.] [R.] [Cant]"), "To happen. [Obs.] [R.] [Cant]")
check("dictd numbers", [corpus.dictd_number(s) for s in ("A", "B", "BA", "5I", "/")], [0, 1, 64, 57 * 64 + 8, 63])
with tempfile.NamedTemporaryFile("w", suffix="-fortunes", delete=False, encoding="utf-8") as f:
    f.write("First one,\n  two lines.  \n%\n%\nSecond.\n\t\t-- Someone\n%\nLast, no final percent\n")
check("fortune documents", list(corpus.fortune_documents(f.name)),
      ["First one,\n  two lines.", "Second.\n\t\t-- Someone", "Last, no final percent"])
os.unlink(f.name)

# ---- the built corpus ------------------------------------------------------------------------------
if len(sys.argv) == 2:
    out = sys.argv[1]
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    texts = {}
    for name, info in manifest["splits"].items():
        data = open(os.path.join(out, f"{name}.txt"), "rb").read()
        check(f"{name} bytes", len(data), info["bytes"])
        check(f"{name} sha256", hashlib.sha256(data).hexdigest(), info["sha256"])
        texts[name] = data.decode("utf-8")
        for line in texts[name].split("\n"):
            if SOURCE_TAG_LINE.fullmatch(line.strip()):
                failures.append(f"{name}.txt holds a GCIDE source-tag line: {line!r}")
                break
        if "\ufffd" in texts[name]:
            failures.append(f"{name}.txt holds U+FFFD (undecodable input)")
    check("split documents", sum(v["documents"] for v in manifest["splits"].values()), manifest["documents"])
    # Every document lies in the split its hash names, and in no other (a sample of 200).
    docs, _ = corpus.collect()
    check("documents", len(docs), manifest["documents"])
    rng = random.Random(0)
    for digest in rng.sample(sorted(docs), 200):
        home = corpus.split_name(digest)
        where = [name for name, text in texts.items() if docs[digest] in text]
        if home not in where or (len(docs[digest]) > 80 and where != [home]):
            failures.append(f"document {digest[:12]} belongs to {home} but is found in {where}")
    check("sources", sorted(manifest["sources"]), ["dict-gcide", "fortune-anarchism", "fortunes"])
    share = manifest["splits"]["test"]["documents"] / manifest["documents"]
    if not 0.005 < share < 0.015:
        failures.append(f"test split holds {share:.2%} of the documents, expected about 1 %")

if failures:
    sys.exit("tiny corpus check failed:\n  " + "\n  ".join(failures))
print("tiny corpus: markup and splits OK")
