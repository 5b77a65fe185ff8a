"""Imports the reference packages or exits with a message naming what to install (never a silent pass)."""
import importlib
import sys


def require(*names):
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ImportError as e:
            sys.exit(f"reference check needs the Python package '{name}' ({e}); "
                     f"install it with: launch/setup.sh  (or: pip install -r launch/requirements.txt)")
    return mods if len(mods) > 1 else mods[0]
