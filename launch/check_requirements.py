"""Exit 0 when every pinned `name==version` line of a requirements file is installed, 1 otherwise."""
import sys
from importlib import metadata

ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have is None or (version and have != version):
        print(f"{name}: need {version or 'any'}, have {have}", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
