#!/usr/bin/env python3
"""Writes the third-party notices that the shipped packages carry: every crate
linked into `c2s-studio` and `c2s` (normal dependencies of the target
platform, from `cargo metadata`) and every npm package in the app's web view
bundle (ui/package.json's dependencies and theirs), each with its licence and
the licence, copyright and notice files it ships. Identical texts are printed
once, with the packages they cover.

cargo-about does the Rust half of this, but is not in the package registries'
prebuilt form and takes minutes to compile on a 2-core CI machine; this reads
the same metadata.

usage: scripts/third-party-notices.py OUT [TARGET-TRIPLE]
"""

import json
import os
import re
import subprocess
import sys
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = ("c2s-studio", "c2s-cli")
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|COPYRIGHT|NOTICE|UNLICENSE)([-._].*)?$", re.I)


def licence_files(folder, bundled=True):
    """The licence, copyright and notice files at the top of a package, and
    (`bundled`) those of C libraries it builds from bundled sources: in its
    subfolders, and in those of ext/, vendor/ and third_party/ (HDF5, zstd,
    SQLite, libdeflate)."""
    texts = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return texts
    for name in names:
        path = os.path.join(folder, name)
        if LICENCE_FILE.match(name) and os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append((name, f.read().strip()))
        elif bundled and os.path.isdir(path) and not name.startswith("."):
            inner = [os.path.join(name, n) for n in ([""] + sorted(os.listdir(path)) if name in ("ext", "vendor", "third_party") else [""])]
            for sub in inner:
                if os.path.isdir(os.path.join(folder, sub)):
                    texts += [(os.path.join(sub, n), t) for n, t in licence_files(os.path.join(folder, sub), bundled=False)]
    return texts


def host_triple():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


def rust_packages(triple):
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", triple],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    by_id = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    # Linked code only: normal dependencies, no build scripts' or tests'
    # dependencies, and no proc macros (they run in the compiler).
    seen, stack = set(), [i for i in members if by_id[i]["name"] in SHIPPED]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        for d in nodes[i]["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):
                stack.append(d["pkg"])
    out = []
    for i in sorted(seen - members, key=lambda i: (by_id[i]["name"], by_id[i]["version"])):
        p = by_id[i]
        if any("proc-macro" in t["kind"] for t in p["targets"]):
            continue
        out.append(
            {
                "name": f'{p["name"]} {p["version"]} (crate)',
                "licence": p.get("license") or "see its licence file",
                "url": p.get("repository") or p.get("homepage") or "",
                "files": licence_files(os.path.dirname(p["manifest_path"])),
            }
        )
    return out


def npm_packages():
    ui = os.path.join(ROOT, "ui")
    with open(os.path.join(ui, "package.json")) as f:
        stack = list(json.load(f).get("dependencies", {}))
    seen, out = set(), []
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        folder = os.path.join(ui, "node_modules", name)
        try:
            with open(os.path.join(folder, "package.json")) as f:
                p = json.load(f)
        except OSError:
            continue  # an optional dependency not installed on this platform
        stack.extend(p.get("dependencies", {}))
        repo = p.get("repository")
        out.append(
            {
                "name": f'{p["name"]} {p.get("version", "")} (npm)',
                "licence": p.get("license") or "see its licence file",
                "url": repo.get("url", "") if isinstance(repo, dict) else (repo or ""),
                "files": licence_files(folder),
            }
        )
    return sorted(out, key=lambda p: p["name"])


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    triple = sys.argv[2] if len(sys.argv) == 3 else host_triple()
    packages = rust_packages(triple) + npm_packages()
    texts = OrderedDict()
    for p in packages:
        for name, text in p["files"]:
            texts.setdefault(text, []).append(f'{p["name"]}: {name}')
    lines = [
        "C2S Studio: third-party notices",
        "",
        f"C2S Studio ({triple}) includes the following {len(packages)} packages. Each is listed",
        "with its licence; the licence, copyright and notice texts they ship follow,",
        "each printed once with the packages it comes from.",
        "",
    ]
    for p in packages:
        lines.append(f'- {p["name"]}: {p["licence"]}' + (f' <{p["url"]}>' if p["url"] else ""))
    for text, owners in texts.items():
        lines += ["", "=" * 78, *owners, "-" * 78, text]
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, sys.argv[1])
    print(f"{sys.argv[1]}: {len(packages)} packages, {len(texts)} licence texts")


if __name__ == "__main__":
    main()
