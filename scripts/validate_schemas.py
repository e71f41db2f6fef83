#!/usr/bin/env python3
"""Validates message bodies against the contract's JSON Schemas with a real validator.

    validate_schemas.py SCHEMA_DIR SAMPLE_DIR

SCHEMA_DIR holds <type>.json schemas (docs/schemas); SAMPLE_DIR holds one body per type,
named <type>.json (the DomainTests schema test writes them from the Swift encoder). For every
schema this checks, with jsonschema's Draft202012Validator and format checking:
  1. the schema itself is valid draft 2020-12;
  2. each of its `examples` validates;
  3. the sample validates;
  4. the sample uses only documented keys: it is validated again against a copy of the schema
     with `additionalProperties: false` on every object (consumers ignore unknown keys, but our
     own producers must not emit undocumented ones);
and that every sample has a schema and every schema a sample. Prints one line per check
("OK ..." or "FAIL ..."), then a summary; exits 1 if anything failed.
"""
import copy
import json
import pathlib
import sys

from jsonschema import Draft202012Validator


def closed(schema):
    """A copy of `schema` where every object with `properties` forbids other keys."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def errors(validator, instance):
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))]


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_dir, sample_dir = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    schemas = {p.stem: p for p in sorted(schema_dir.glob("*.json"))}
    samples = {p.stem: p for p in sorted(sample_dir.glob("*.json"))}
    failures = 0
    checks = 0

    def report(ok, what, details=()):
        nonlocal failures, checks
        checks += 1
        if ok:
            print(f"OK   {what}")
        else:
            failures += 1
            print(f"FAIL {what}")
            for line in details:
                print(f"     {line}")

    for message_type in sorted(set(schemas) | set(samples)):
        if message_type not in schemas:
            report(False, f"{message_type}: a sample exists but no schema")
            continue
        schema = json.loads(schemas[message_type].read_text())
        try:
            Draft202012Validator.check_schema(schema)
            report(True, f"{message_type}: schema is valid draft 2020-12")
        except Exception as error:  # SchemaError; report and go on with the other types
            report(False, f"{message_type}: schema is invalid", [str(error).splitlines()[0]])
            continue
        checker = Draft202012Validator.FORMAT_CHECKER
        validator = Draft202012Validator(schema, format_checker=checker)
        examples = schema.get("examples", [])
        report(bool(examples), f"{message_type}: schema has examples")
        for index, example in enumerate(examples):
            found = errors(validator, example)
            report(not found, f"{message_type}: examples[{index}] validates", found)
        if message_type not in samples:
            report(False, f"{message_type}: no sample was written")
            continue
        sample = json.loads(samples[message_type].read_text())
        found = errors(validator, sample)
        report(not found, f"{message_type}: sample validates", found)
        found = errors(Draft202012Validator(closed(schema), format_checker=checker), sample)
        report(not found, f"{message_type}: sample uses only documented keys", found)

    print(f"{checks - failures}/{checks} checks passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
