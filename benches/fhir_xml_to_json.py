#!/usr/bin/env python3
"""Convert FHIR R4 XML resources to FHIR JSON, driven by migx's built-in R4 definitions
(schemas/r4/definitions.json.gz: cardinality tells arrays, types tell numbers, booleans,
choice suffixes and nested resources). For benchmarks and local checks only: it is how a
FHIR package published as XML (such as a staging repository of profiles and examples) is
assembled into a JSON package folder for `migx validate --package`.

    python3 benches/fhir_xml_to_json.py OUT_DIR FILE.xml...

Each input becomes OUT_DIR/<ResourceType>-<id>.json (or <stem>.json without an id).
Files that are not FHIR XML are skipped with a message on stderr.
"""
import gzip
import json
import os
import sys
import xml.etree.ElementTree as ET

NS = "{http://hl7.org/fhir}"
XHTML = "{http://www.w3.org/1999/xhtml}"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFS = os.path.join(HERE, "..", "schemas", "r4", "definitions.json.gz")

ET.register_namespace("", "http://www.w3.org/1999/xhtml")

NUMBERS = {"integer", "unsignedInt", "positiveInt", "decimal"}


def load_defs():
    doc = json.loads(gzip.open(DEFS).read())
    sds = {}
    for sd in doc["structureDefinitions"]:
        if sd.get("derivation") == "constraint" or "snapshot" not in sd:
            continue
        els = {}
        for e in sd["snapshot"]["element"]:
            els[e["path"]] = e
        sds[sd["type"]] = els
    return sds


SDS = load_defs()


def is_resource(t):
    els = SDS.get(t)
    return els is not None and t[0].isupper() and t in els and any(
        p.endswith(".meta") for p in els if p.count(".") == 1) and t not in ("Element", "BackboneElement")


def find(type_name, path, name):
    """(element definition, actual type, json name) of child `name` below `path` in
    `type_name`'s definition."""
    els = SDS.get(type_name, {})
    e = els.get(f"{path}.{name}")
    if e is not None:
        if "contentReference" in e:
            return e, ("#", e["contentReference"][1:]), name
        types = [t["code"] for t in e.get("type", [])]
        return e, types[0] if types else None, name
    for p, e in els.items():
        if p.startswith(f"{path}.") and p.endswith("[x]") and p.count(".") == path.count(".") + 1:
            base = p.rsplit(".", 1)[1][:-3]
            if name.startswith(base):
                suffix = name[len(base):]
                for t in e.get("type", []):
                    code = t["code"]
                    if code[0].upper() + code[1:] == suffix:
                        return e, code, name
    return None, None, name


def primitive_value(t, raw):
    if t == "boolean":
        return raw == "true"
    if t in NUMBERS:
        try:
            return int(raw) if t != "decimal" else (int(raw) if raw.lstrip("-").isdigit() else float(raw))
        except ValueError:
            return raw
    return raw


def convert(el, type_name, path):
    """An element whose definition is `path` in `type_name`: returns its JSON value."""
    out = {}
    if el.get("id") is not None and not is_resource(type_name):
        out["id"] = el.get("id")
    if el.get("url") is not None:
        out["url"] = el.get("url")
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = child.tag.replace(NS, "")
        if child.tag == XHTML + "div":
            child.tail = None
            out["div"] = ET.tostring(child, encoding="unicode")
            continue
        e, t, jname = find(type_name, path, name)
        if e is None:
            print(f"  unknown element {path}.{name}", file=sys.stderr)
            continue
        many = e.get("max") != "1"
        if isinstance(t, tuple):  # contentReference: same definition as another path
            ref = t[1]
            root = ref.split(".")[0]
            value = convert(child, root, ref)
        elif t in ("Resource", "DomainResource") or (t and is_resource(t) and t != type_name):
            inner = [c for c in child if isinstance(c.tag, str)]
            if not inner:
                continue
            rt = inner[0].tag.replace(NS, "")
            value = convert(inner[0], rt, rt)
            value = {"resourceType": rt, **value}
        elif t and (t[0].islower() or t.startswith("http://hl7.org/fhirpath")):
            raw = child.get("value")
            ext = {}
            if child.get("id") is not None:
                ext["id"] = child.get("id")
            exts = [convert(x, "Extension", "Extension") for x in child if isinstance(x.tag, str) and x.tag == NS + "extension"]
            if exts:
                ext["extension"] = exts
            value = primitive_value(t, raw) if raw is not None else None
            if many:
                out.setdefault(jname, []).append(value)
                if ext:
                    arr = out.setdefault("_" + jname, [])
                    arr.extend([None] * (len(out[jname]) - 1 - len(arr)))
                    arr.append(ext)
            else:
                if value is not None:
                    out[jname] = value
                if ext:
                    out["_" + jname] = ext
            continue
        elif t in ("BackboneElement", "Element") or (e.get("path", "").startswith(path) and any(
                p.startswith(e["path"] + ".") for p in SDS.get(type_name, {}))):
            value = convert(child, type_name, e["path"])
        else:
            value = convert(child, t, t)
        if many:
            out.setdefault(jname, []).append(value)
        else:
            out[jname] = value
    # Pad primitive companions to their arrays' length.
    for k in list(out):
        if k.startswith("_") and isinstance(out[k], list) and isinstance(out.get(k[1:]), list):
            out[k].extend([None] * (len(out[k[1:]]) - len(out[k])))
            out[k[1:]] = [v for v in out[k[1:]]]
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for f in sys.argv[2:]:
        try:
            root = ET.parse(f).getroot()
        except ET.ParseError as err:
            print(f"{f}: not XML ({err})", file=sys.stderr)
            continue
        if not root.tag.startswith(NS):
            print(f"{f}: not FHIR XML", file=sys.stderr)
            continue
        rt = root.tag.replace(NS, "")
        res = {"resourceType": rt}
        idel = root.find(NS + "id")
        res.update(convert(root, rt, rt))
        name = f"{rt}-{idel.get('value')}.json" if idel is not None else os.path.basename(f)[:-4] + ".json"
        with open(os.path.join(outdir, name), "w") as fh:
            json.dump(res, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
