#!/usr/bin/env python3
"""The code's shape, checked (issue: one engine API for both front ends).

- No module cycle within a crate: a module never depends, through others,
  on one that depends back on it. A directory module (convert/ with its
  mod.rs) counts as one with its files.
- No function over MAX_FN_LINES lines (test modules aside).
- No Tauri command over MAX_COMMAND_LINES lines of body: commands check
  their inputs and start the engine's work; the engine decides.
- No public function or constant in an engine crate's public modules that
  nothing outside the crate names (the crates above it, its tests, benches
  and examples): what only the crate uses is pub(crate), so the public API
  is what its users need.

rustc has no lint for the first, clippy's too_many_lines counts differently
(and not the commands' bodies), so the rules are read from the sources
here. Exits 1 naming each breach.
"""
import pathlib
import re
import sys

MAX_FN_LINES = 100
MAX_COMMAND_LINES = 17
ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = ["crates/c2s-data", "crates/c2s-model", "crates/c2s-eval", "crates/c2s-cli", "src-tauri"]


def without_tests(text):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]":
            return lines[:i]
    return lines


def code(lines):
    return [l for l in lines if not l.strip().startswith("//")]


def unit_of(src, path):
    """The module a file belongs to, as a unit: its top-level module."""
    rel = path.relative_to(src).with_suffix("")
    parts = rel.parts
    if parts[0] in ("lib", "main"):
        return None
    if len(parts) > 1 and parts[0] in ("models", "kernels", "tasks", "hub", "commands"):
        # Layer folders hold modules of their own.
        return parts[1] if parts[1] != "mod" else parts[0]
    return parts[0]


def cycles(crate):
    src = ROOT / crate / "src"
    files = {p: unit_of(src, p) for p in src.rglob("*.rs")}
    units = {u for u in files.values() if u}
    graph = {u: set() for u in units}
    for path, unit in files.items():
        if not unit:
            continue
        text = "\n".join(code(without_tests(path.read_text())))
        for m in re.finditer(r"(?:crate|super)::((?:\w+::)*\w+)", text):
            named = [p for p in m.group(1).split("::") if p in units]
            if named and named[-1] != unit:
                graph[unit].add(named[-1])
        for m in re.finditer(r"(?:crate|super)::\{([^}]*)\}", text):
            for p in re.findall(r"\w+", m.group(1)):
                if p in units and p != unit:
                    graph[unit].add(p)
    # Tarjan's strongly connected components.
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def long_functions(crate):
    out = []
    for path in sorted((ROOT / crate / "src").rglob("*.rs")):
        lines = without_tests(path.read_text())
        i = 0
        while i < len(lines):
            m = re.match(r"^(\s*)(pub(\([^)]*\))? )?(const )?(unsafe )?(async )?fn (\w+)", lines[i])
            if not m:
                i += 1
                continue
            indent, name = m.group(1), m.group(7)
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
                j += 1
            if j == len(lines) or lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            k = j + 1
            while k < len(lines) and lines[k] != indent + "}":
                k += 1
            if k - i + 1 > MAX_FN_LINES:
                out.append(f"{path.relative_to(ROOT)}: fn {name} has {k - i + 1} lines (at most {MAX_FN_LINES})")
            i = j + 1
    return out


# (crate, the crates that use it)
ENGINE = [
    ("crates/c2s-data", ["crates/c2s-model", "crates/c2s-eval", "crates/c2s-cli", "src-tauri"]),
    ("crates/c2s-model", ["crates/c2s-eval", "crates/c2s-cli", "src-tauri"]),
    ("crates/c2s-eval", ["crates/c2s-cli", "src-tauri"]),
]
# Public although no crate of ours names them: the dataset folder's file and
# column names, for whoever reads a converted dataset.
PUBLIC_FOR_READERS = {"SENTENCES_TXT", "SPLITS_JSON", "SENTENCE_COLUMN"}


def is_public_module(src, path):
    """Whether every module from the crate root down to `path` is `pub mod`."""
    rel = path.relative_to(src).with_suffix("")
    parts = [p for p in rel.parts if p != "mod"]
    if parts in (["lib"], ["main"]):
        return True
    parent = src / "lib.rs"
    for i, name in enumerate(parts):
        if not re.search(rf"^pub mod {name};", parent.read_text(), re.M):
            return False
        folder = src.joinpath(*parts[: i + 1])
        parent = folder / "mod.rs" if (folder / "mod.rs").exists() else folder.with_suffix(".rs")
    return True


def unused_public(crate, users):
    src = ROOT / crate / "src"
    outside = [p for d in users for p in (ROOT / d).rglob("*.rs") if "/target/" not in str(p)]
    for sub in ("tests", "benches", "examples"):
        outside += list((ROOT / crate / sub).rglob("*.rs"))
    names = set(re.findall(r"\w+", "\n".join(p.read_text() for p in outside)))
    out = []
    for path in sorted(src.rglob("*.rs")):
        if not is_public_module(src, path):
            continue
        text = "\n".join(without_tests(path.read_text()))
        for m in re.finditer(r"^\s*pub (?:const )?(fn|const) (\w+)", text, re.M):
            kind, name = m.groups()
            if name not in names and name not in PUBLIC_FOR_READERS:
                out.append(f"{path.relative_to(ROOT)}: pub {kind} {name} is used only in its crate: make it pub(crate)")
    return out


def long_commands():
    out = []
    for path in sorted((ROOT / "src-tauri/src/commands").glob("*.rs")):
        lines = path.read_text().split("\n")
        i = 0
        while i < len(lines):
            if "#[tauri::command" not in lines[i]:
                i += 1
                continue
            j = i + 1
            while not re.search(r"\bfn\b", lines[j]):
                j += 1
            name = re.search(r"fn (\w+)", lines[j]).group(1)
            s = j
            while not lines[s].rstrip().endswith("{"):
                s += 1
            k = s
            while lines[k] != "}":
                k += 1
            if k - s - 1 > MAX_COMMAND_LINES:
                out.append(f"{path.relative_to(ROOT)}: command {name} has {k - s - 1} lines (at most {MAX_COMMAND_LINES})")
            i = k + 1
    return out


problems = []
for crate in CRATES:
    problems += [f"{crate}: modules that depend on each other: {', '.join(c)}" for c in cycles(crate)]
    problems += long_functions(crate)
problems += long_commands()
for crate, users in ENGINE:
    problems += unused_public(crate, users)
for p in problems:
    print(p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"shape: no module cycle in {len(CRATES)} crates; functions within {MAX_FN_LINES} lines; commands within {MAX_COMMAND_LINES}; engine APIs used")
