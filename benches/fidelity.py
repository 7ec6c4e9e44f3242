#!/usr/bin/env python3
"""The fidelity report (issue 17): for each construct and field, how many source items carry
the field, how many of them are shared, and how many of those shared resources carry it.

Usage: python3 benches/fidelity.py [path/to/migx] > report.md
Converts the fixtures and, when present, both corpora (../shared/corpus) into a temporary
folder with the same flags as the tests, then reads the sources itself (XML with ElementTree,
GP Connect JSON) and matches each shared resource to its source item by migx's id rule
(`source_uuid`, crates/migx/src/fhir/ids.rs). Prints Markdown. Nothing from the sources is printed: only
construct and field names and counts.
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
NS = "{urn:hl7-org:v3}"
UK = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"
DEGRADED = {"196461000000101", "196471000000108"}


# ---- migx's id rule ---------------------------------------------------------------------
def is_uuid(s):
    return len(s) == 36 and all(
        (c == "-") if i in (8, 13, 18, 23) else c in "0123456789abcdefABCDEF"
        for i, c in enumerate(s)
    )


def derived_uuid(parts):
    h = hashlib.sha256(b"migx:v1")
    for p in parts:
        h.update(b"\0" + p.encode())
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[0:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"


def source_uuid(i):
    if is_uuid(i) and i[14] != "8":
        return i.lower()
    if is_uuid(i):
        return derived_uuid(["source-uuid", i.lower()])
    return derived_uuid(["source-id", i])


# ---- the fields measured ------------------------------------------------------------------
# (construct, field, output predicate). Source predicates are per format, below.
def has(path):
    def f(r):
        v = r
        for k in path.split("."):
            if isinstance(v, list):
                v = v[0] if v else None
            if not isinstance(v, dict):
                return False
            v = v.get(k)
        return v not in (None, [], {}, "")
    return f


def ext(name):
    return lambda r: any(e.get("url") == UK + name for e in r.get("extension", []))


def sub_ext(name, sub):
    return lambda r: any(
        x.get("url") == sub
        for e in r.get("extension", [])
        if e.get("url") == UK + name
        for x in e.get("extension", [])
    )


OUT = {
    ("Condition", "onset"): has("onsetDateTime"),
    ("Condition", "recorded date"): has("recordedDate"),
    ("Condition", "abatement"): has("abatementDateTime"),
    ("Condition", "asserter"): has("asserter.reference"),
    ("Condition", "recorder"): has("recorder.reference"),
    ("Condition", "related problem"): lambda r: any(
        x.get("url") == "http://hl7.org/fhir/StructureDefinition/condition-related" for x in r.get("extension", [])
    ),
    ("AllergyIntolerance", "onset"): has("onsetDateTime"),
    ("AllergyIntolerance", "recorded date"): has("recordedDate"),
    ("AllergyIntolerance", "degraded allergen text"): has("code.text"),
    ("AllergyIntolerance", "reaction"): has("reaction"),
    ("AllergyIntolerance", "reaction severity"): lambda r: any("severity" in x for x in r.get("reaction", [])),
    ("AllergyIntolerance", "recorder"): has("recorder.reference"),
    ("AllergyIntolerance", "asserter"): has("asserter.reference"),
    ("Observation", "value unit"): has("valueQuantity.unit"),
    ("Observation", "UCUM code"): has("valueQuantity.code"),
    ("Observation", "reference range"): has("referenceRange"),
    ("Observation", "issued"): has("issued"),
    ("Observation", "performer"): has("performer"),
    ("DiagnosticReport", "issued"): has("issued"),
    ("DiagnosticReport", "performer"): has("performer"),
    ("MedicationStatement", "dose text"): has("dosage.text"),
    ("MedicationStatement", "last issue date"): ext("MedicationStatementLastIssueDate"),
    ("MedicationRequest plan", "dose text"): has("dosageInstruction.text"),
    ("MedicationRequest plan", "structured dose"): lambda r: any(
        d.get("doseAndRate") or d.get("timing") or d.get("route") or d.get("additionalInstruction") for d in r.get("dosageInstruction", [])
    ),
    ("MedicationRequest plan", "quantity unit"): has("dispenseRequest.quantity.unit"),
    ("MedicationRequest plan", "acute/repeat"): has("courseOfTherapyType"),
    ("MedicationRequest plan", "repeats allowed"): lambda r: "numberOfRepeatsAllowed"
    in r.get("dispenseRequest", {}),
    ("MedicationRequest plan", "prescriptions issued"): sub_ext(
        "MedicationRepeatInformation", "numberOfPrescriptionsIssued"
    ),
    ("MedicationRequest plan", "authorisation expiry"): sub_ext(
        "MedicationRepeatInformation", "authorisationExpiryDate"
    ),
    ("MedicationRequest plan", "requester"): has("requester.reference"),
    ("MedicationRequest plan", "recorder"): has("recorder.reference"),
    ("MedicationRequest order", "dose text"): has("dosageInstruction.text"),
    ("MedicationRequest order", "quantity unit"): has("dispenseRequest.quantity.unit"),
    ("MedicationRequest order", "requester"): has("requester.reference"),
    ("MedicationRequest order", "recorder"): has("recorder.reference"),
}


def construct_of(r):
    t = r["resourceType"]
    if t == "MedicationRequest":
        return f"{t} {r.get('intent')}"
    return t


# ---- GP2GP XML sources ----------------------------------------------------------------------
def xml_id(e):
    i = e.find(NS + "id")
    if i is None or i.get("root") is None:
        return None
    v = i.get("root").lower()
    if i.get("extension"):
        v += ":" + i.get("extension")
    return v


def _p(path):
    return "/".join(NS + s for s in path.split("/"))


def val(e, path):
    x = e.find(_p(path))
    return x is not None and x.get("value") and x.get("nullFlavor") is None


def xml_sources(path):
    """Source id (as migx's resource id) -> (construct, set of fields the source carries)."""
    root = ET.parse(path).getroot()
    parent = {c: p for p in root.iter() for c in p}
    by_id = {}
    for e in root.iter():
        i = xml_id(e)
        if i:
            by_id[i] = e
    out = {}

    def composition(e):
        while e is not None and e.tag != NS + "ehrComposition":
            e = parent.get(e)
        return e

    def author_time(e):
        c = composition(e)
        return c is not None and val(c, "author/time")

    # A participation names someone only when its agentRef has an id root (an id with a
    # nullFlavor names nobody).
    def names_someone(p, path="agentRef/id"):
        i = p.find(_p(path))
        return i is not None and bool(i.get("root"))

    def participant(e, kinds=("PPRF", "PRF")):
        return any(p.get("typeCode") in kinds and names_someone(p) for p in e.findall(NS + "Participant"))

    def performer(e):
        c = composition(e)
        return participant(e) or (c is not None and any(names_someone(p) for p in c.findall(NS + "Participant2")))

    def author(e):
        c = composition(e)
        return c is not None and any(names_someone(a) for a in c.findall(NS + "author"))

    # Authorisation id -> its issues, wherever they sit (EMIS writes each issue in a
    # MedicationStatement of its own, linked by inFulfillmentOf).
    issues_of = {}
    for p in root.iter(NS + "ehrSupplyPrescribe"):
        ref = p.find(_p("inFulfillmentOf/priorMedicationRef/id"))
        if ref is not None and ref.get("root"):
            issues_of.setdefault(ref.get("root").lower(), []).append(p)

    for e in root.iter():
        tag = e.tag[len(NS):] if e.tag.startswith(NS) else e.tag
        i = xml_id(e)
        if not i:
            continue
        f = set()
        if tag == "LinkSet":
            named = e.find(_p("conditionNamed/namedStatementRef/id"))
            n = by_id.get(named.get("root").lower()) if named is not None else None
            if val(e, "effectiveTime/low") or (n is not None and (val(n, "effectiveTime/center") or val(n, "effectiveTime/low"))):
                f.add("onset")
            if val(e, "availabilityTime"):
                f.add("recorded date")
            if val(e, "effectiveTime/high"):
                f.add("abatement")
            if participant(e) or performer(e):
                f.add("asserter")
            if author(e):
                f.add("recorder")
            for ref in e.findall(_p("component/statementRef/id")):
                t = by_id.get((ref.get("root") or "").lower())
                if t is not None and t is not e and t.tag == NS + "LinkSet":
                    f.add("related problem")
            out[source_uuid(i)] = ("Condition", f)
        elif tag == "CompoundStatement" and e.find(_p("code")) is not None and (e.find(_p("code")).get("code") or "").startswith(("14L", "SN53")):
            o = e.find(_p("component/ObservationStatement"))
            if o is None:
                continue
            if val(o, "effectiveTime/center") or val(o, "effectiveTime/low") or val(e, "effectiveTime/center") or val(e, "effectiveTime/low"):
                f.add("onset")
            if val(e, "availabilityTime"):
                f.add("recorded date")
            code = o.find(_p("code"))
            if code is not None and code.get("code") in DEGRADED and (code.findtext(NS + "originalText") or "").strip():
                f.add("degraded allergen text")
            if author(e):
                f.add("recorder")
            if participant(o) or participant(e) or performer(e):
                f.add("asserter")
            out[source_uuid(i)] = ("AllergyIntolerance", f)
        elif tag == "ObservationStatement":
            v = e.find(NS + "value")
            if v is not None and v.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "PQ":
                u = v.get("unit")
                if (u and u != "1") or (v.findtext(_p("translation/originalText")) or "").strip():
                    f.add("value unit")
                    f.add("UCUM code")
            if e.find(NS + "referenceRange") is not None:
                f.add("reference range")
            if author_time(e):
                f.add("issued")
            if performer(e):
                f.add("performer")
            out[source_uuid(i)] = ("Observation", f)
        elif tag == "CompoundStatement":
            if author_time(e):
                f.add("issued")
            if performer(e):
                f.add("performer")
            out.setdefault(source_uuid(i), ("DiagnosticReport", f))
        elif tag == "MedicationStatement":
            dose = (e.findtext(_p("pertinentInformation/pertinentMedicationDosage/text")) or "").strip()
            auths = [a for a in e.findall(_p("component/ehrSupplyAuthorise"))]
            issues = e.findall(_p("component/ehrSupplyPrescribe"))
            ms = {"dose text"} if dose else set()
            if any(issues_of.get(xml_id(a) or "") for a in auths):
                ms.add("last issue date")
            out[source_uuid(i)] = ("MedicationStatement", ms)
            for a in auths:
                ai = xml_id(a)
                if not ai:
                    continue
                pf = {"acute/repeat"} if val(a, "repeatNumber") else set()
                if dose:
                    pf.add("dose text")
                if val(a, "repeatNumber"):
                    pf.add("repeats allowed")
                q = a.find(NS + "quantity")
                if q is not None and ((q.get("unit") and q.get("unit") != "1") or (q.findtext(_p("translation/originalText")) or "").strip()):
                    pf.add("quantity unit")
                pf.add("prescriptions issued")
                if val(a, "effectiveTime/high"):
                    pf.add("authorisation expiry")
                if participant(a) or performer(a):
                    pf.add("requester")
                if author(a):
                    pf.add("recorder")
                out[source_uuid(ai)] = ("MedicationRequest plan", pf)
            for p in issues:
                pi = xml_id(p)
                if not pi:
                    continue
                of = {"dose text"} if dose else set()
                q = p.find(NS + "quantity")
                if q is not None and ((q.get("unit") and q.get("unit") != "1") or (q.findtext(_p("translation/originalText")) or "").strip()):
                    of.add("quantity unit")
                if participant(p) or performer(p):
                    of.add("requester")
                if author(p):
                    of.add("recorder")
                out[source_uuid(pi)] = ("MedicationRequest order", of)
    return out


# ---- GP Connect STU3 sources ------------------------------------------------------------------
def stu3_sources(path):
    b = json.load(open(path))
    res = [e["resource"] for e in b.get("entry", []) if "resource" in e]
    out = {}
    ms_of_plan = {}
    for r in res:
        if r["resourceType"] == "MedicationStatement":
            for ref in r.get("basedOn", []):
                ms_of_plan[ref.get("reference", "").split("/")[-1].lower()] = r

    def e(r, name):
        return [x for x in r.get("extension", []) if x.get("url", "").rsplit("/", 1)[-1] == name]

    for r in res:
        ty = r["resourceType"]
        i = r.get("id", "").lower()
        f = set()
        if ty == "Condition":
            for k, name in (("onsetDateTime", "onset"), ("assertedDate", "recorded date"), ("abatementDateTime", "abatement"), ("asserter", "asserter")):
                if r.get(k):
                    f.add(name)
            if e(r, "Extension-CareConnect-RelatedProblemHeader-1"):
                f.add("related problem")
            out[source_uuid(i)] = ("Condition", f)
        elif ty == "AllergyIntolerance":
            for k, name in (("onsetDateTime", "onset"), ("assertedDate", "recorded date"), ("reaction", "reaction"), ("recorder", "recorder"), ("asserter", "asserter")):
                if r.get(k):
                    f.add(name)
            if any(x.get("severity") for x in r.get("reaction", [])):
                f.add("reaction severity")
            code = r.get("code", {})
            if any(c.get("code") in DEGRADED for c in code.get("coding", [])) and code.get("text"):
                f.add("degraded allergen text")
            out[source_uuid(i)] = ("AllergyIntolerance", f)
        elif ty == "Observation":
            q = r.get("valueQuantity")
            if q and q.get("unit"):
                f |= {"value unit", "UCUM code"}
            if r.get("referenceRange"):
                f.add("reference range")
            if r.get("issued"):
                f.add("issued")
            if r.get("performer"):
                f.add("performer")
            out[source_uuid(i)] = ("Observation", f)
        elif ty == "DiagnosticReport":
            if r.get("issued"):
                f.add("issued")
            if r.get("performer"):
                f.add("performer")
            out[source_uuid(i)] = ("DiagnosticReport", f)
        elif ty == "MedicationRequest":
            intent = r.get("intent")
            dose = [d for d in r.get("dosageInstruction", []) if d.get("text")]
            if dose:
                f.add("dose text")
            if any(d.get("doseQuantity") or d.get("doseRange") or d.get("timing") or d.get("route") or d.get("additionalInstruction") for d in r.get("dosageInstruction", [])):
                f.add("structured dose")
            q = r.get("dispenseRequest", {}).get("quantity", {})
            if q.get("unit"):
                f.add("quantity unit")
            if r.get("recorder"):
                f.add("recorder")
            if r.get("requester"):
                f.add("requester")
            if intent == "plan":
                f |= {"acute/repeat", "repeats allowed"}
                info = e(r, "Extension-CareConnect-GPC-MedicationRepeatInformation-1")
                if any(x.get("url") == "numberOfRepeatPrescriptionsIssued" for ri in info for x in ri.get("extension", [])):
                    f.add("prescriptions issued")
                if r.get("dispenseRequest", {}).get("validityPeriod", {}).get("end"):
                    f.add("authorisation expiry")
                out[source_uuid(i)] = ("MedicationRequest plan", f)
                ms = ms_of_plan.get(i)
                mf = {"dose text"} if dose else set()
                if ms is not None:
                    if e(ms, "Extension-CareConnect-GPC-MedicationStatementLastIssueDate-1"):
                        mf.add("last issue date")
                    out[source_uuid(ms.get("id", "").lower())] = ("MedicationStatement", mf)
                out[source_uuid(f"{i}-ms")] = ("MedicationStatement", mf)
            else:
                out[source_uuid(i)] = ("MedicationRequest order", f)
    return out


# ---- the run ---------------------------------------------------------------------------------
def convert(migx, inp, out, fixtures):
    args = [migx, "-q", "convert", inp, "--without-official-refsets", "--out", out]
    if fixtures:
        args += ["--consent", os.path.join(ROOT, "fixtures/consent.csv"), "--permit-requester", "Y02345"]
    else:
        args += ["--consent-all", "permit", "--requester", "Y02345", "--permit-requester", "Y02345", "--allow-test-identities"]
    subprocess.run(args, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(migx, label, inp, pattern, reader, fixtures=False):
    tmp = tempfile.mkdtemp(prefix="migx-fidelity-")
    out = os.path.join(tmp, "out")
    convert(migx, inp, out, fixtures)
    counts = {k: [0, 0, 0] for k in OUT}  # source carries, shared with source field, shared carrying
    for src in sorted(glob.glob(os.path.join(inp, pattern))):
        stem = os.path.splitext(os.path.basename(src))[0]
        try:
            sources = reader(src)
        except Exception as err:  # a reader bug must not pass as "no source"
            print(f"{label}: {os.path.basename(src)}: source not read ({type(err).__name__})", file=sys.stderr)
            continue
        for construct, fields in sources.values():
            for f in fields:
                if (construct, f) in counts:
                    counts[(construct, f)][0] += 1
        bp = os.path.join(out, "bundles", stem + ".json")
        if not os.path.exists(bp):
            continue
        for entry in json.load(open(bp))["entry"]:
            r = entry["resource"]
            c = construct_of(r)
            s = sources.get(r.get("id"))
            if s is None or s[0] != c:
                continue
            for (k, f), pred in OUT.items():
                if k == c and f in s[1]:
                    counts[(k, f)][1] += 1
                    counts[(k, f)][2] += bool(pred(r))
    return label, counts


def any_sources(path):
    return xml_sources(path) if path.endswith(".xml") else stu3_sources(path)


def main():
    migx = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/migx")
    runs = [measure(migx, "fixtures", os.path.join(ROOT, "fixtures/extracts"), "*.xml", xml_sources, fixtures=True)]
    runs.append(measure(migx, "staff fixtures", os.path.join(ROOT, "fixtures/staff/extracts"), "*.*", any_sources))
    runs.append(measure(migx, "detail fixtures", os.path.join(ROOT, "fixtures/detail/extracts"), "*.*", any_sources))
    if os.path.isdir(CORPUS):
        runs.append(measure(migx, "GP2GP corpus", os.path.join(CORPUS, "gp2gp-ehrextract"), "*.xml", xml_sources))
        runs.append(measure(migx, "GP Connect corpus", os.path.join(CORPUS, "gpconnect-stu3"), "*.json", stu3_sources))
    else:
        print("corpus absent: fixtures only", file=sys.stderr)
    print("| construct | field | " + " | ".join(f"{l}: source / shared / carried" for l, _ in runs) + " |")
    print("|---|---|" + "---:|" * len(runs))
    for k in OUT:
        cells = []
        for _, c in runs:
            s, n, m = c[k]
            cells.append(f"{s} / {n} / {m}" + (f" ({100 * m // n}%)" if n else ""))
        print(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
