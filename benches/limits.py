#!/usr/bin/env python3
"""Resource-limit bench (issue 24.12): time and peak RSS of `migx convert` on large and
hostile inputs, generated here (synthetic data; nothing copied from any corpus).

    python3 benches/limits.py                      # every case, release build
    python3 benches/limits.py --cases stu3-items,chain-stu3
    MIGX=/path/to/migx python3 benches/limits.py   # another build
    python3 benches/limits.py --keep DIR           # keep the generated inputs in DIR

Cases (each one input file, converted alone with `--jobs 1`):
  stu3-items   a GP Connect STU3 bundle with N small Observations (default 100,000, ~24 MB)
  xml-items    a GP2GP EhrExtract with N small ObservationStatements (same N)
  chain-stu3   Observation hasMember chains of 10k, 20k, 40k, 80k (each links the next)
  chain-report the same chain as a DiagnosticReport's result (nested test groups)
  chain-xml    the XML equivalent: CompoundStatements nested 10k deep
  deep-json    a GP Connect bundle whose one extension nests arrays 100,000 deep

Prints one line per case: input MB, wall and CPU (user + sys) seconds, peak RSS MB, the budget (64 MB + 3 x
input), and the outcome (converted / withheld / rejected with its code). Figures are taken
with GNU time (`/usr/bin/time -v`); run on a quiet machine, they are still noisy.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NHS = "9000000009"  # the NHS test number (passes modulus 11)
PROFILE = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"


def uid(prefix, i):
    """A deterministic UUID-shaped id."""
    return "%08x-0000-4000-8000-%012x" % (prefix, i)


def stu3_head():
    return [
        {
            "fullUrl": "Patient/p1",
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [
                    {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS}
                ],
                "managingOrganization": {"reference": "Organization/org1"},
            },
        },
        {
            "fullUrl": "Organization/org1",
            "resource": {
                "resourceType": "Organization",
                "id": "org1",
                "identifier": [
                    {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": "A12345",
                    }
                ],
            },
        },
    ]


def stu3_bundle(entries):
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [PROFILE], "lastUpdated": "2024-03-05T09:00:00+00:00"},
        "id": "f0f0f0f0-0000-4000-8000-000000000001",
        "type": "collection",
        "entry": stu3_head() + entries,
    }


def stu3_observation(i, related=None):
    r = {
        "resourceType": "Observation",
        "id": uid(0x33, i),
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "271649006"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        "valueQuantity": {"value": 100 + i % 50, "unit": "mm[Hg]"},
    }
    if related is not None:
        r["related"] = [
            {"type": "has-member", "target": {"reference": "Observation/" + uid(0x33, related)}}
        ]
    return {"fullUrl": "Observation/" + r["id"], "resource": r}


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


def gen_stu3_items(path, n):
    write_json(path, stu3_bundle([stu3_observation(i) for i in range(n)]))


def gen_chain_stu3(path, n):
    # Observation i has-member i+1: one chain n long.
    entries = [stu3_observation(i, i + 1 if i + 1 < n else None) for i in range(n)]
    write_json(path, stu3_bundle(entries))


def gen_chain_report(path, n):
    # The same chain as the result of a DiagnosticReport: there has-member builds nested
    # test groups, so the chain is a nesting migx refuses past its limit.
    entries = [stu3_observation(i, i + 1 if i + 1 < n else None) for i in range(n)]
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "15220000"}]},
        "subject": {"reference": "Patient/p1"},
        "issued": "2024-03-01T10:00:00+00:00",
        "result": [{"reference": "Observation/" + uid(0x33, 0)}],
    }
    entries.insert(0, {"fullUrl": "DiagnosticReport/r1", "resource": report})
    write_json(path, stu3_bundle(entries))


def gen_deep_json(path, depth):
    bundle = stu3_bundle([])
    text = json.dumps(bundle, separators=(",", ":"))
    deep = "[" * depth + "]" * depth
    ext = ',"extension":[{"url":"x","valueString":' + deep + "}]"
    with open(path, "w") as f:
        f.write(text[:-1] + ext + "}")


XML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3">
<id root="11063F59-A118-5364-8E9E-BA816309E1AC"/>
<creationTime value="20260314100000"/>
<interactionId root="2.16.840.1.113883.2.1.3.2.4.12" extension="RCMR_IN030000UK06"/>
<ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ">
<EhrExtract classCode="EXTRACT" moodCode="EVN">
<id root="68BC2F56-FADD-5255-BA66-5ECEF52E2B5C"/>
<statusCode code="COMPLETE"/>
<availabilityTime value="20260314100000"/>
<recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="%s"/></patient></recordTarget>
<author typeCode="AUT"><time value="20260314100000"/><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="A12345"/></agentOrganizationSDS></AgentOrgSDS></author>
<destination typeCode="DST"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="B86041"/></agentOrganizationSDS></AgentOrgSDS></destination>
<component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN">
<id root="A8DEEA46-7D8F-508A-9C0C-F8627552EF70"/>
<statusCode code="COMPLETE"/>
<component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN">
<id root="1D2C70F2-D0F4-5778-ACEE-D8B8D1F40496"/>
<code code="24591000000103" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="Other report"/>
<statusCode code="COMPLETE"/>
<effectiveTime><center value="20250610093000"/></effectiveTime>
<availabilityTime value="20250610093000"/>
""" % NHS

XML_TAIL = """</ehrComposition></component>
</ehrFolder></component>
</EhrExtract></subject></ControlActEvent>
</RCMR_IN030000UK06>
"""


def xml_statement(i):
    return (
        '<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN">'
        '<id root="%08X-0000-4000-8000-%012X"/>'
        '<code code="271649006" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="BP"/>'
        '<statusCode code="COMPLETE"/><effectiveTime><center value="20250610"/></effectiveTime>'
        '<availabilityTime value="20250610"/></ObservationStatement></component>\n' % (0x44, i)
    )


def gen_xml_items(path, n):
    with open(path, "w") as f:
        f.write(XML_HEAD)
        for i in range(n):
            f.write(xml_statement(i))
        f.write(XML_TAIL)


def gen_chain_xml(path, n):
    with open(path, "w") as f:
        f.write(XML_HEAD)
        for i in range(n):
            f.write(
                '<component typeCode="COMP"><CompoundStatement classCode="CATEGORY" moodCode="EVN">'
                '<id root="%08X-0000-4000-8000-%012X"/><statusCode code="COMPLETE"/>\n' % (0x55, i)
            )
        f.write(xml_statement(n))
        f.write("</CompoundStatement></component>\n" * n)
        f.write(XML_TAIL)


def migx_binary():
    if os.environ.get("MIGX"):
        return os.environ["MIGX"]
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "--bin", "migx"], cwd=ROOT, check=True
    )
    return os.path.join(ROOT, "target", "release", "migx")


def measure(migx, path, work):
    out = os.path.join(work, "out-" + os.path.basename(path))
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        "/usr/bin/time", "-v", migx, "-q", "convert", path,
        "--consent-all", "permit", "--permit-requester", "Y02345",
        "--requester", "Y02345", "--allow-test-identities",
        "--without-official-refsets", "--jobs", "1", "--out", out,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    err = p.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", err)
    secs = 0.0
    if wall:
        h = int(wall.group(1) or 0)
        secs = h * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    cpu = sum(
        float(m.group(1))
        for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", err)
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    rss_mb = int(rss.group(1)) / 1000 if rss else float("nan")
    outcome = "?"
    audit = os.path.join(out, "audit.ndjson")
    if os.path.exists(audit):
        for line in open(audit):
            rec = json.loads(line)
            if rec.get("kind") == "file":
                outcome = rec["status"]
                if rec.get("reason"):
                    outcome += " " + rec["reason"]
    shutil.rmtree(out, ignore_errors=True)
    return secs, cpu, rss_mb, outcome, p.returncode


CASES = {
    "stu3-items": lambda a: [("stu3-items-%d.json" % a.items, gen_stu3_items, a.items)],
    "xml-items": lambda a: [("xml-items-%d.xml" % a.items, gen_xml_items, a.items)],
    "chain-stu3": lambda a: [
        ("chain-stu3-%d.json" % n, gen_chain_stu3, n) for n in (10000, 20000, 40000, 80000)
    ],
    "chain-report": lambda a: [
        ("chain-report-%d.json" % n, gen_chain_report, n) for n in (10000, 80000)
    ],
    "chain-xml": lambda a: [("chain-xml-%d.xml" % n, gen_chain_xml, n) for n in (10000,)],
    "deep-json": lambda a: [("deep-json-%d.json" % n, gen_deep_json, n) for n in (100000,)],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--keep", help="write the inputs here and keep them")
    a = ap.parse_args()
    migx = migx_binary()
    work = a.keep or tempfile.mkdtemp(prefix="migx-limits-")
    os.makedirs(work, exist_ok=True)
    print(
        "%-26s %9s %8s %8s %9s %10s  %s"
        % ("case", "input MB", "wall s", "CPU s", "peak MB", "budget MB", "outcome")
    )
    try:
        for name in a.cases.split(","):
            for fname, gen, n in CASES[name](a):
                path = os.path.join(work, fname)
                if not os.path.exists(path):
                    gen(path, n)
                mb = os.path.getsize(path) / 1e6
                secs, cpu, rss, outcome, rc = measure(migx, path, work)
                print(
                    "%-26s %9.1f %8.2f %8.2f %9.1f %10.1f  %s (exit %d)"
                    % (fname, mb, secs, cpu, rss, 64 + 3 * mb, outcome, rc)
                )
                sys.stdout.flush()
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
