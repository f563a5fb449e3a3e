#!/usr/bin/env python3
"""Fails when a module of src/ imports one of a higher tier (src/lib.rs,
"Architecture"): arrows point down. Every `crate::` path (and `super::`
path that climbs to the crate root) outside comments counts, whether in a
`use` or in an expression. Every top-level module must have a tier, so a
new one cannot slip past the check.

Usage: check-tiers.py [SRC_DIR]  (default: src)
"""

import os
import re
import sys

# Highest first; a module may use its own tier and every tier below it.
TIERS = [
    ["app", "fuzz_corpus"],
    ["http", "rpc"],
    ["error"],
    ["state", "upgrade"],
    ["auth", "host"],
    ["process"],
    ["fs"],
    ["identity", "server", "sys", "config"],
]
RANK = {m: len(TIERS) - i for i, tier in enumerate(TIERS) for m in tier}
ROOT_FILES = {"lib.rs", "main.rs"}


def strip_comments(text):
    """Removes // and /* */ comments; strings stay (a path in a string is
    rare, and a false alarm is easy to read)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def top_level_names(group):
    """The first segment of every path in a `{...}` use group."""
    names, depth, current = [], 0, ""
    for c in group:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            names.append(current)
            current = ""
            continue
        if depth == 0 and c not in "{}":
            current += c
    names.append(current)
    return [n.strip().split("::")[0] for n in names if n.strip()]


def group_at(text, start):
    """The `{...}` group opening at text[start], without the braces."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return text[start + 1 :]


def crate_paths(text, module_depth):
    """The top-level modules `text` names through `crate::`, or through
    `super::` chains that reach the crate root from `module_depth`."""
    names = []
    supers = r"(?:super::){%d,}" % module_depth if module_depth > 0 else None
    patterns = [r"\bcrate::"] + ([r"(?<![\w:])" + supers] if supers else [])
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            rest = m.end()
            if text.startswith("{", rest):
                names += top_level_names(group_at(text, rest))
            else:
                word = re.match(r"\w+", text[rest:])
                if word:
                    names.append(word.group(0))
    return names


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    failures = []
    modules = set()
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).split(os.sep)
            if rel == [name] and name in ROOT_FILES:
                continue
            top = rel[0][:-3] if len(rel) == 1 else rel[0]
            modules.add(top)
            # How many `super::` reach the crate root from this file.
            parts = rel[:-1] + ([] if name == "mod.rs" else [name[:-3]])
            with open(path, encoding="utf-8") as f:
                text = strip_comments(f.read())
            for used in crate_paths(text, len(parts)):
                if used == top or used not in RANK or top not in RANK:
                    continue
                if RANK[used] > RANK[top]:
                    failures.append(f"{path}: {top} (tier {RANK[top]}) uses {used} (tier {RANK[used]})")
    unknown = sorted(modules - set(RANK))
    for m in unknown:
        failures.append(f"src/{m}: no tier; add it to TIERS in {sys.argv[0]} and to src/lib.rs")
    for line in sorted(set(failures)):
        print(line)
    if failures:
        print("error: a lower tier imports a higher one (src/lib.rs, Architecture)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
