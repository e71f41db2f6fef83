#!/usr/bin/env python3
"""The module map of docs/architecture.md, generated from Package.swift.

    scripts/module_map.py                 print the map (a Mermaid diagram and a table)
    scripts/module_map.py --write FILE    replace the map between FILE's markers
    scripts/module_map.py --check FILE    exit 1 if FILE's map is not the one Package.swift gives

The map sits between the lines `<!-- module-map:begin -->` and `<!-- module-map:end -->`.
scripts/test.sh runs --check, so the document cannot drift from the package. The diagram draws
each target's dependencies on other targets of the package, leaving out an edge that a longer
path already implies (a transitive reduction), so that it stays readable; the table lists every
direct dependency, external products included.
"""
import json
import subprocess
import sys
from pathlib import Path

BEGIN, END = "<!-- module-map:begin -->", "<!-- module-map:end -->"
ROOT = Path(__file__).resolve().parent.parent


def targets():
    package = json.loads(subprocess.run(
        ["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    result = []
    for target in package["targets"]:
        internal, products = [], []
        for dependency in target["dependencies"]:
            kind, value = next(iter(dependency.items()))
            (products if kind == "product" else internal).append(value[0])
        result.append((target["name"], target["type"], target.get("path") or "", internal, products))
    return result


def reduced(edges):
    """Drops an edge a -> b when b is reachable from a through another dependency."""
    def reachable(start, skip):
        seen, stack = set(), [d for d in edges[start] if d != skip]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(edges.get(node, []))
        return seen
    return {a: [b for b in deps if b not in reachable(a, b)] for a, deps in edges.items()}


def render():
    all_targets = [t for t in targets() if t[1] != "test"]
    kinds = {"system": "C library", "regular": "library", "executable": "executable"}
    edges = reduced({name: [d for d in internal] for name, _, _, internal, _ in all_targets})
    ident = lambda name: name.replace("-", "_")
    lines = [BEGIN, "", "```mermaid", "flowchart BT"]
    for name, kind, _, _, _ in all_targets:
        shape = f'{ident(name)}(["{name}"])' if kind == "executable" else (
            f'{ident(name)}[/"{name}"/]' if kind == "system" else f'{ident(name)}["{name}"]')
        lines.append(f"    {shape}")
    for name, deps in edges.items():
        for dependency in deps:
            lines.append(f"    {ident(name)} --> {ident(dependency)}")
    lines += ["```", "", "| target | kind | path | depends on |", "|---|---|---|---|"]
    for name, kind, path, internal, products in all_targets:
        depends = ", ".join([f"`{d}`" for d in internal] + [f"{p} (package)" for p in products]) or "—"
        lines.append(f"| `{name}` | {kinds.get(kind, kind)} | `{path}` | {depends} |")
    lines += ["", END]
    return "\n".join(lines)


def main():
    generated = render()
    if len(sys.argv) == 1:
        print(generated)
        return 0
    mode, file = sys.argv[1], Path(sys.argv[2])
    text = file.read_text()
    if BEGIN not in text or END not in text:
        print(f"{file}: no {BEGIN} … {END} markers", file=sys.stderr)
        return 1
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if mode == "--write":
        file.write_text(text[:start] + generated + text[end:])
        return 0
    if text[start:end] != generated:
        print(f"{file}: the module map differs from Package.swift; run scripts/module_map.py --write {file}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
