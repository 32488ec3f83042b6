#!/usr/bin/env python3
"""Fails when a lower layer of the tree reaches a higher one.

The layers, bottom to top (docs/ARCHITECTURE.md): a package may use its own layer and those
below it. Two things are checked: every `#include "..."` of a library source (.h/.cc; not
*_main.cc, *_test.cc, *_benchmark.cc, *_fuzzer.cc), and every `deps` label of a `cc_library`
in a BUILD.bazel. Binaries, tests and the packages at the top (tests/, fuzz/, tools/, moco/'s
own mains) may use anything.

Usage: tools/check_layering.py [ROOT]   (ROOT: the repository root; default: the current folder)
Prints each violation as FILE:LINE: LAYER uses WHAT (LAYER); exit 1 if there is any.
"""
import os
import re
import sys

# (layer name, package prefixes) bottom to top; the longest matching prefix decides.
LAYERS = [
    ("common", ["moco/common"]),
    ("configs", ["configs"]),
    ("data", ["moco/data"]),
    ("augment", ["moco/augment"]),
    ("models", ["moco/models"]),
    ("distributed", ["moco/distributed"]),
    ("contrastive", ["moco/contrastive"]),
    ("train", ["moco/train"]),
    ("eval", ["eval"]),
    ("harness", ["benchmarks"]),
    ("mains", ["moco", "tests", "fuzz", "tools"]),
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE = re.compile(r"\.(h|cc)$")
TOP_FILE = re.compile(r"(_main|_test|_benchmark|_fuzzer)\.cc$")


def layer_of(path):
    """(index, name) of the layer that holds `path`, or None outside every layer."""
    best = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                if best is None or len(prefix) > best[2]:
                    best = (index, name, len(prefix))
    return None if best is None else best[:2]


def violations(root):
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "bazel-")) and d not in ("runs", "third_party")]
        for name in sorted(files):
            if not SOURCE.search(name):
                continue
            path = os.path.relpath(os.path.join(folder, name), root)
            own = layer_of(path)
            if own is None or TOP_FILE.search(name):
                continue
            with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    header = m.group(1)
                    # Generated protos (configs/x.pb.h) belong to their package's layer.
                    other = layer_of(header)
                    if other is not None and other[0] > own[0]:
                        found.append(f"{path}:{number}: {own[1]} includes {header} ({other[1]})")
    return found + build_violations(root)


LIBRARY = re.compile(r"^cc_library\(\s*$")
LABEL = re.compile(r'"//([^:"]+)(?::[^"]*)?"')


def build_violations(root):
    """`deps` of each cc_library that name a package of a higher layer."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "bazel-")) and d not in ("runs", "third_party")]
        if "BUILD.bazel" not in files:
            continue
        package = os.path.relpath(folder, root)
        own = layer_of(package)
        if own is None:
            continue
        path = os.path.join(package, "BUILD.bazel")
        in_library = in_deps = False
        with open(os.path.join(root, path), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if LIBRARY.match(line):
                    in_library = True
                elif line.startswith(")"):
                    in_library = in_deps = False
                elif in_library and re.match(r"\s*deps = \[", line):
                    in_deps = "]" not in line
                    line = line.split("[", 1)[1]
                elif in_deps and "]" in line:
                    in_deps = False
                elif not in_deps:
                    continue
                if in_library:
                    for m in LABEL.finditer(line):
                        other = layer_of(m.group(1))
                        if other is not None and other[0] > own[0]:
                            found.append(f"{path}:{number}: {own[1]} depends on //{m.group(1)} ({other[1]})")
    return found


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    if not os.path.isdir(os.path.join(root, "moco")):
        print(f"check_layering: {root} has no moco/ folder: give the repository root", file=sys.stderr)
        return 2
    found = violations(root)
    for v in found:
        print(v)
    print(f"check_layering: {len(found)} violation(s) of the layering" if found else
          "check_layering: every include and library dependency goes to the same layer or one below")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
