use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::*;

const B: &str = "http://example.org/migx-rules/StructureDefinition/";

fn pkg(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("fixtures/packages")
        .join(name)
}

fn defs() -> &'static Definitions {
    static D: OnceLock<Definitions> = OnceLock::new();
    D.get_or_init(|| {
        Definitions::load(&[pkg("migx-rules"), pkg("migx-rules-derived")]).expect("packages load")
    })
}

fn with_profile(mut v: Value, profile: &str) -> Value {
    v["meta"] = json!({ "profile": [format!("{B}{profile}")] });
    v
}

fn run(v: &Value) -> Outcome {
    validate(defs(), v, &ProfileOptions::default())
}

fn brief(o: &Outcome) -> String {
    o.violations
        .iter()
        .map(|v| format!("{} [{}] {}", v.pointer, v.rule, v.message))
        .chain(o.notes.iter().map(|n| {
            format!(
                "{} {} [{}] {}",
                n.kind.as_str(),
                n.pointer,
                n.rule,
                n.message
            )
        }))
        .collect::<Vec<_>>()
        .join("\n")
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "gender": "female",
        "birthDate": "1970-01-01",
        "name": [{ "family": "Test" }],
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009" }]
    })
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"
        }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7" }] },
        "subject": { "reference": "Patient/p1" }
    })
}

fn bundle(resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| json!({ "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-00000000000{i}"), "resource": r }))
        .collect();
    json!({ "resourceType": "Bundle", "id": "b1", "type": "collection", "entry": entries })
}

/// One profile per rule kind: a valid instance passes; an invalid one fails with the rule,
/// at the pointer.
#[test]
fn each_rule_kind_has_a_valid_and_an_invalid_instance() {
    let mut no_telecom = patient();
    no_telecom["telecom"] = json!([{ "system": "phone", "value": "0" }]);
    let mut no_gender = patient();
    no_gender.as_object_mut().unwrap().remove("gender");
    let mut inactive = patient();
    inactive["active"] = json!(false);
    let mut other_code = observation();
    other_code["code"]["coding"][0]["code"] = json!("8867-4");
    let mut no_nhs = patient();
    no_nhs["identifier"][0]["system"] = json!("https://example.org/mrn");
    let mut other_category = observation();
    other_category["category"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "text": "x" }));
    let mut two_dated = patient();
    two_dated["identifier"] = json!([
        { "system": "a:b", "value": "1", "period": { "start": "2020" } },
        { "system": "a:c", "value": "2", "period": { "start": "2021" } }
    ]);
    let mut preliminary = observation();
    preliminary["status"] = json!("preliminary");
    let colour = |c: &str| json!([{ "url": format!("{B}ExtColour"), "valueCode": c }]);
    let mut coloured = patient();
    coloured["extension"] = colour("dark-green");
    let mut wrong_colour = patient();
    wrong_colour["extension"] = colour("blue");
    let mut to_group = observation();
    to_group["subject"] = json!({ "reference": "Group/g1" });
    let mut nameless = patient();
    nameless.as_object_mut().unwrap().remove("name");
    nameless.as_object_mut().unwrap().remove("identifier");
    let mut genderless = patient();
    genderless.as_object_mut().unwrap().remove("gender");

    // (profile, valid, invalid, rule, pointer)
    let cases: Vec<(&str, Value, Value, &str, &str)> = vec![
        (
            "RuleCardinality",
            patient(),
            no_gender,
            "cardinality",
            "/gender",
        ),
        (
            "RuleCardinality",
            patient(),
            no_telecom,
            "cardinality",
            "/telecom",
        ),
        ("RuleFixed", patient(), inactive, "fixed", "/active"),
        ("RulePattern", observation(), other_code, "pattern", "/code"),
        ("RuleSliceValue", patient(), no_nhs, "slice", "/identifier"),
        (
            "RuleSlicePattern",
            observation(),
            other_category,
            "slicing",
            "/category/1",
        ),
        (
            "RuleSliceExists",
            patient(),
            two_dated,
            "slice",
            "/identifier",
        ),
        (
            "RuleBinding",
            observation(),
            preliminary,
            "binding",
            "/status",
        ),
        (
            "RuleExtension",
            coloured,
            wrong_colour,
            "binding",
            "/extension/0/valueCode",
        ),
        (
            "RuleReference",
            observation(),
            to_group,
            "reference",
            "/subject",
        ),
        (
            "RuleDerived",
            patient(),
            genderless,
            "cardinality",
            "/gender",
        ),
    ];
    for (profile, valid, invalid, rule, pointer) in cases {
        let url = if profile == "RuleDerived" {
            "http://example.org/migx-derived/StructureDefinition/RuleDerived".to_string()
        } else {
            format!("{B}{profile}")
        };
        let mut valid = valid;
        valid["meta"] = json!({ "profile": [url.clone()] });
        let mut invalid = invalid;
        invalid["meta"] = json!({ "profile": [url] });
        let ok = run(&valid);
        assert!(ok.violations.is_empty(), "{profile} valid:\n{}", brief(&ok));
        assert!(
            !ok.notes.iter().any(|n| n.rule == "profile"),
            "{profile}: profile evaluated\n{}",
            brief(&ok)
        );
        let bad = run(&invalid);
        assert!(
            bad.violations
                .iter()
                .any(|v| v.rule == rule && v.pointer == pointer),
            "{profile} invalid: expected [{rule}] at {pointer:?}:\n{}",
            brief(&bad)
        );
    }
}

#[test]
fn bundle_slices_by_type_and_by_profile() {
    let good = with_profile(bundle(vec![patient(), observation()]), "RuleSliceType");
    let o = run(&good);
    assert!(o.violations.is_empty(), "{}", brief(&o));
    let bad = with_profile(bundle(vec![observation()]), "RuleSliceType");
    let o = run(&bad);
    assert!(
        o.violations
            .iter()
            .any(|v| v.rule == "slice" && v.pointer == "/entry"),
        "{}",
        brief(&o)
    );
    let good = with_profile(bundle(vec![patient()]), "RuleSliceProfile");
    let o = run(&good);
    assert!(o.violations.is_empty(), "{}", brief(&o));
    // A Patient without gender does not conform to RuleCardinality: no entry fills the slice.
    let mut p = patient();
    p.as_object_mut().unwrap().remove("gender");
    let bad = with_profile(bundle(vec![p]), "RuleSliceProfile");
    let o = run(&bad);
    assert!(
        o.violations
            .iter()
            .any(|v| v.rule == "slice" && v.message.contains("slice patient")),
        "{}",
        brief(&o)
    );
}

#[test]
fn extension_context_is_checked() {
    let mut obs = observation();
    obs["extension"] = json!([{ "url": format!("{B}ExtColour"), "valueCode": "red" }]);
    let o = run(&obs);
    assert!(
        o.violations
            .iter()
            .any(|v| v.rule == "extension-context" && v.pointer == "/extension/0"),
        "{}",
        brief(&o)
    );
    let mut p = patient();
    p["extension"] = json!([{ "url": format!("{B}ExtColour"), "valueCode": "red" }]);
    assert!(run(&p).violations.is_empty());
}

#[test]
fn what_cannot_be_evaluated_is_listed() {
    // A filter-defined ValueSet, an unknown extension, an unknown profile.
    let mut obs = with_profile(observation(), "RuleBinding");
    obs["method"] = json!({ "coding": [{ "system": "http://snomed.info/sct", "code": "1" }] });
    obs["extension"] = json!([{ "url": "http://example.org/unknown", "valueString": "x" }]);
    obs["meta"]["profile"]
        .as_array_mut()
        .unwrap()
        .push(json!("http://example.org/nowhere"));
    let o = run(&obs);
    assert!(o.violations.is_empty(), "{}", brief(&o));
    let has = |rule: &str, text: &str| {
        o.notes
            .iter()
            .any(|n| n.kind == NoteKind::NotEvaluated && n.rule == rule && n.message.contains(text))
    };
    assert!(has("binding", "by-filter"), "{}", brief(&o));
    assert!(
        has("extension", "http://example.org/unknown"),
        "{}",
        brief(&o)
    );
    assert!(
        has("profile", "http://example.org/nowhere"),
        "{}",
        brief(&o)
    );
}

#[test]
fn missing_dependency_is_reported_and_its_profiles_not_evaluated() {
    let d = Definitions::load(&[pkg("migx-rules-derived")]).unwrap();
    assert_eq!(
        d.packages[0].missing_dependencies,
        vec!["migx.test.rules#0.1.0".to_string()]
    );
    let mut p = patient();
    p["meta"] =
        json!({ "profile": ["http://example.org/migx-derived/StructureDefinition/RuleDerived"] });
    let o = validate(&d, &p, &ProfileOptions::default());
    assert!(
        o.notes
            .iter()
            .any(|n| n.rule == "profile" && n.message.contains("RuleCardinality")),
        "{}",
        brief(&o)
    );
    // Resolved when the dependency is given.
    assert!(defs()
        .packages
        .iter()
        .all(|p| p.missing_dependencies.is_empty()));
}

/// Pack a package folder as a registry `.tgz` (ustar, `package/` prefix).
fn pack(dir: &Path, out: &Path) {
    use std::io::Write as _;
    let mut tar = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let data = std::fs::read(&path).unwrap();
        let name = format!("package/{}", path.file_name().unwrap().to_string_lossy());
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[156] = b'0';
        h[257..262].copy_from_slice(b"ustar");
        tar.extend(h);
        let mut d = data.clone();
        d.resize(data.len().div_ceil(512) * 512, 0);
        tar.extend(d);
    }
    tar.extend(vec![0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(out, gz.finish().unwrap()).unwrap();
}

#[test]
fn tgz_and_folder_give_the_same_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("rules.tgz");
    pack(&pkg("migx-rules"), &tgz);
    let a = Definitions::load(&[tgz]).unwrap();
    let b = Definitions::load(&[pkg("migx-rules")]).unwrap();
    assert_eq!(a.packages[0].name, "migx.test.rules");
    assert_eq!(a.packages[0].resources, b.packages[0].resources);
    assert_eq!(a.packages[0].resources, 17);
    let mut p = with_profile(patient(), "RuleCardinality");
    p.as_object_mut().unwrap().remove("gender");
    let va = validate(&a, &p, &ProfileOptions::default()).violations;
    let vb = validate(&b, &p, &ProfileOptions::default()).violations;
    assert_eq!(va, vb);
    assert_eq!(va.len(), 1);
    // Not a package.
    let junk = tmp.path().join("junk.tgz");
    std::fs::write(&junk, b"not gzip").unwrap();
    assert!(matches!(
        Definitions::load(&[junk]),
        Err(LoadError::Format { .. })
    ));
}

#[test]
fn profile_urls_replace_meta_profile() {
    let mut p = patient();
    p.as_object_mut().unwrap().remove("gender");
    let opts = ProfileOptions {
        profile_urls: vec![format!("{B}RuleCardinality")],
    };
    let o = validate(defs(), &p, &opts);
    assert!(o.violations.iter().any(|v| v.rule == "cardinality"));
    // A profile of another type is not applied to this resource.
    let o = validate(defs(), &observation(), &opts);
    assert!(o.violations.is_empty(), "{}", brief(&o));
}

/// Every element of every core resource type whose maximum is 1 and whose type is a
/// primitive: given twice, it is reported at exactly its own location (one mechanism,
/// every position).
#[test]
fn cardinality_holds_at_every_position_of_every_resource() {
    let d = defs();
    let mut checked = 0;
    let types: Vec<String> = d
        .index
        .sds
        .values()
        .filter(|sd| {
            sd.get("kind").and_then(Value::as_str) == Some("resource")
                && sd.get("derivation").and_then(Value::as_str) == Some("specialization")
                && sd.get("abstract").and_then(Value::as_bool) == Some(false)
        })
        .filter_map(|sd| sd.get("type").and_then(Value::as_str).map(str::to_string))
        .collect();
    assert!(types.len() > 140, "{}", types.len());
    for rt in types {
        let tree = d.core_tree(&rt);
        let tree = tree.as_ref().as_ref().unwrap();
        for child in &tree.root.children {
            let [t] = child.types.as_slice() else {
                continue;
            };
            if child.max != Some(1)
                || child.is_choice()
                || t.code != "boolean" && t.code != "string"
            {
                continue;
            }
            let value = if t.code == "boolean" {
                json!(true)
            } else {
                json!("x")
            };
            let doc = json!({ "resourceType": rt, child.name.clone(): [value.clone(), value] });
            let o = validate(d, &doc, &ProfileOptions::default());
            let pointer = format!("/{}", child.name);
            assert!(
                o.violations
                    .iter()
                    .any(|v| v.rule == "cardinality" && v.pointer == pointer),
                "{rt}.{}:\n{}",
                child.name,
                brief(&o)
            );
            checked += 1;
        }
    }
    assert!(checked > 250, "{checked}");
}

#[test]
fn fhirpath_locations_name_the_element() {
    let doc = bundle(vec![observation()]);
    assert_eq!(
        crate::validate::fhirpath_location(&doc, "/entry/0/resource/code/coding/0"),
        "Bundle.entry[0].resource.code.coding[0]"
    );
    assert_eq!(crate::validate::fhirpath_location(&doc, ""), "Bundle");
}

/// A primitive choice known only by its extensions (`_valueBoolean`) counts as present.
#[test]
fn primitive_choice_present_only_by_extensions_counts() {
    let mut obs = observation();
    obs["_valueBoolean"] = json!({ "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown" }] });
    assert!(run(&obs).violations.is_empty(), "{}", brief(&run(&obs)));
    obs["valueString"] = json!("x");
    let o = run(&obs);
    assert!(
        o.violations
            .iter()
            .any(|v| v.rule == "cardinality" && v.pointer == "/value"),
        "{}",
        brief(&o)
    );
}
