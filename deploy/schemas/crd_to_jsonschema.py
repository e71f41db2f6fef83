#!/usr/bin/env python3
"""Turn a CustomResourceDefinition's openAPIV3Schema into a strict JSON Schema, one per served
version, so that manifests of that kind can be validated offline:

    python3 deploy/schemas/crd_to_jsonschema.py CRD.yaml OUTDIR [--source TEXT]

writes OUTDIR/<kind-lowercase>-<group>-<version>.json. Strict: an object that lists its
properties accepts no other key (as `kubectl apply --validate=strict` refuses unknown fields),
unless the CRD says it preserves unknown fields. `apiVersion`, `kind` and `metadata` are
required, with `apiVersion` and `kind` fixed to the CRD's.
"""
import json
import sys
from pathlib import Path

import yaml


def strict(node):
    if isinstance(node, dict):
        node = {key: strict(value) for key, value in node.items()}
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        # int-or-string fields are typed neither way in the CRD; JSON Schema needs both.
        if node.get("x-kubernetes-int-or-string"):
            node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
        return node
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: crd_to_jsonschema.py CRD.yaml OUTDIR [--source TEXT]")
    source = argv[argv.index("--source") + 1] if "--source" in argv else argv[1]
    crd = yaml.safe_load(Path(argv[1]).read_text())
    if crd.get("kind") != "CustomResourceDefinition":
        sys.exit(f"{argv[1]}: not a CustomResourceDefinition")
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["$comment"] = f"{kind} {group}/{version['name']}, from {source} by crd_to_jsonschema.py"
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"const": f"{group}/{version['name']}"}
        properties["kind"] = {"const": kind}
        properties["metadata"] = {"type": "object"}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        out = Path(argv[2]) / f"{kind.lower()}-{group}-{version['name']}.json"
        out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
