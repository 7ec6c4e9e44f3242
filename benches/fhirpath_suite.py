#!/usr/bin/env python3
"""Turn the official FHIRPath test suite (HL7 FHIRPath repository, tests-fhir-r4.xml, its
inputs converted to JSON with benches/fhir_xml_to_json.py) into one JSON list of cases for
the ignored test `validate::profile::fhirpath::tests::official_suite`:

    python3 benches/fhirpath_suite.py tests-fhir-r4.xml INPUT_JSON_DIR > cases.json
    MIGX_FHIRPATH_CASES=cases.json cargo test --lib official_suite -- --ignored --nocapture
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

tests_xml, input_dir = sys.argv[1], sys.argv[2]
inputs = {}
for f in os.listdir(input_dir):
    d = json.load(open(os.path.join(input_dir, f)))
    inputs[d["resourceType"].lower()] = d
cases = []
text = open(tests_xml, encoding="utf-8").read()
text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
# The file is not well-formed XML (unescaped operators, duplicate attributes): read it
# by pattern.
unesc = lambda t: t.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"').replace("&apos;", "'")
for m in re.finditer(r"<test\s([^>]*?)>(.*?)</test>", text, flags=re.S):
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    body = m.group(2)
    e = re.search(r"<expression([^>]*)>(.*?)</expression>", body, flags=re.S)
    src = attrs.get("inputfile", "").replace(".xml", "")
    key = src.split("-")[0] if src else None
    cases.append({
        "name": attrs.get("name"),
        "input": inputs.get(key) if key else None,
        "expression": unesc(e.group(2)) if e else "",
        "invalid": bool(e and "invalid" in e.group(1)),
        "predicate": attrs.get("predicate") == "true",
        "outputs": [[t, unesc(v)] for t, v in re.findall(r'<output type="(\w+)"\s*>(.*?)</output>', body, flags=re.S)],
    })
json.dump(cases, sys.stdout)
