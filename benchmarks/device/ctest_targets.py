#!/usr/bin/env python3
"""The build targets that `ctest -L LABEL` needs, read from a configured build directory before
anything is built (benchmarks/device/check.sh builds only these):

  ctest_targets.py BUILD_DIR LABEL [EXCLUDED_FIXTURES_REGEX]

Tests are read from `ctest --show-only=json-v1` (plain add_test tests) and from the include files of
gtest_discover_tests(... DISCOVERY_MODE PRE_TEST ...) (the tests of executables not built yet: their
TEST_EXECUTABLE and TEST_PROPERTIES). Selected: the tests labelled LABEL, plus the setup tests of the
fixtures they require (transitively), as ctest runs them, except fixtures matching the regex (ctest
-FS). Printed: one target name per line, for every executable of the build (build.ninja's linker
rules) that a selected test runs or names as an argument. Exit 3 if no test carries the label.
"""
import glob
import json
import os
import re
import subprocess
import sys

KNOWN_PROPERTIES = {
    "ATTACHED_FILES", "ATTACHED_FILES_ON_FAIL", "COST", "DEPENDS", "DISABLED", "ENVIRONMENT",
    "ENVIRONMENT_MODIFICATION", "FAIL_REGULAR_EXPRESSION", "FIXTURES_CLEANUP", "FIXTURES_REQUIRED",
    "FIXTURES_SETUP", "LABELS", "MEASUREMENT", "PASS_REGULAR_EXPRESSION", "PROCESSOR_AFFINITY", "PROCESSORS",
    "REQUIRED_FILES", "RESOURCE_GROUPS", "RESOURCE_LOCK", "RUN_SERIAL", "SKIP_REGULAR_EXPRESSION",
    "SKIP_RETURN_CODE", "TIMEOUT", "TIMEOUT_AFTER_MATCH", "TIMEOUT_SIGNAL_NAME", "TIMEOUT_SIGNAL_GRACE_PERIOD",
    "WILL_FAIL", "WORKING_DIRECTORY", "GENERATED_RESOURCE_SPEC_FILE",
}


def flat_properties(text):
    """'LABELS;cuda;FIXTURES_REQUIRED;a;b' -> {'LABELS': ['cuda'], 'FIXTURES_REQUIRED': ['a', 'b']}."""
    props, key = {}, None
    for item in text.split(";") if text else []:
        if item in KNOWN_PROPERTIES:
            key = item
            props.setdefault(key, [])
        elif key is not None:
            props[key].append(item)
    return props


def main():
    build = os.path.abspath(sys.argv[1])
    label = sys.argv[2]
    excluded = re.compile(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
    tests = []  # (name, [words of the command], {property: [values]})
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, capture_output=True, text=True, check=True).stdout
    for t in json.loads(out).get("tests", []):
        props = {}
        for p in t.get("properties", []):
            v = p.get("value")
            props[p["name"]] = v if isinstance(v, list) else [str(v)]
        tests.append((t["name"], t.get("command") or [], props))
    for inc in glob.glob(os.path.join(build, "**", "*_include.cmake"), recursive=True):
        text = open(inc, encoding="utf-8", errors="replace").read()
        exe = re.search(r"TEST_EXECUTABLE\s+\[==\[(.*?)\]==\]", text)
        prop = re.search(r"TEST_PROPERTIES\s+\[==\[(.*?)\]==\]", text, re.S)
        if exe:
            tests.append((os.path.basename(inc), [exe.group(1)], flat_properties(prop.group(1) if prop else "")))

    def labels(props):
        return {x for v in props.get("LABELS", []) for x in v.split(";")}

    selected = [t for t in tests if label in labels(t[2])]
    if not selected:
        print(f"ctest_targets: no test in {build} carries the label '{label}'", file=sys.stderr)
        sys.exit(3)
    needed = {f for t in selected for v in t[2].get("FIXTURES_REQUIRED", []) for f in v.split(";")}
    done = set()
    while needed - done:
        f = (needed - done).pop()
        done.add(f)
        if excluded and excluded.search(f):
            continue
        for t in tests:
            if f in {x for v in t[2].get("FIXTURES_SETUP", []) for x in v.split(";")} and t not in selected:
                selected.append(t)
                needed |= {x for v in t[2].get("FIXTURES_REQUIRED", []) for x in v.split(";")}
    # The executables the build makes: "build tests/x: CXX_EXECUTABLE_LINKER__x_Release ..." in build.ninja.
    executables = {}
    for line in open(os.path.join(build, "build.ninja"), encoding="utf-8", errors="replace"):
        m = re.match(r"build ([^:]+): (?:CXX|C|CUDA)_EXECUTABLE_LINKER__(\S+)_[A-Za-z]* ", line)
        if m:
            executables[os.path.normpath(os.path.join(build, m.group(1)))] = m.group(2)
    targets = set()
    for _, cmd, _ in selected:
        for word in cmd:
            t = executables.get(os.path.normpath(word)) if os.path.isabs(word) else None
            if t:
                targets.add(t)
    for t in sorted(targets):
        print(t)


if __name__ == "__main__":
    main()
