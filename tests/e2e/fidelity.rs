//! What a clinician acts on survives the conversion (issue 17): dose, units, certainty, who
//! and when; and what the policy turns off does not.

use crate::common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn bundle(out: &Path, stem: &str) -> Value {
    let p = out.join("bundles").join(format!("{stem}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"))).unwrap()
}

fn resources<'a>(b: &'a Value, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == ty)
}

/// A site policy: the embedded default with `clinical_detail` replaced.
fn policy_with_detail(dir: &Path, detail: Value) -> std::path::PathBuf {
    let mut v: Value = serde_json::from_str(migx::policy::config::DEFAULT_POLICY_JSON).unwrap();
    v.as_object_mut().unwrap().remove("code_lists");
    v["clinical_detail"] = detail;
    let p = dir.join("policy.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p
}

#[test]
fn dose_and_quantity_text_are_shared_by_default_and_the_policy_turns_them_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("on");
    convert_fixtures(&out, &[]);
    assert_bundles_valid(&out);
    let b = bundle(&out, "03-medications");
    let ms: Vec<&Value> = resources(&b, "MedicationStatement").collect();
    assert!(!ms.is_empty());
    for m in &ms {
        assert_eq!(m["dosage"][0]["text"], "One daily", "{m}");
    }
    let requests: Vec<&Value> = resources(&b, "MedicationRequest").collect();
    assert!(requests.len() >= 2, "a plan and an order");
    for r in &requests {
        assert_eq!(r["dosageInstruction"][0]["text"], "One daily", "{r}");
        let q = &r["dispenseRequest"]["quantity"];
        assert_eq!(
            (q["value"].as_i64(), q["unit"].as_str()),
            (Some(28), Some("tablet"))
        );
        // "tablet" is a known unit string but not UCUM: no system or code is claimed.
        assert!(q.get("system").is_none() && q.get("code").is_none(), "{q}");
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let text_lines = |audit: &[Value]| {
        audit
            .iter()
            .filter(|l| {
                l["kind"] == "text" && l["input"].as_str().unwrap_or("").contains("03-medications")
            })
            .count()
    };
    let before = text_lines(&audit);

    let policy = policy_with_detail(
        dir.path(),
        serde_json::json!({ "dose_instructions": false, "quantity_text": false }),
    );
    let off = dir.path().join("off");
    convert_fixtures(&off, &["--policy", policy.to_str().unwrap()]);
    assert_bundles_valid(&off);
    let b = bundle(&off, "03-medications");
    let text = b.to_string();
    assert!(
        !text.contains("One daily") && !text.contains("\"unit\":\"tablet\""),
        "{text}"
    );
    for r in resources(&b, "MedicationRequest") {
        let q = &r["dispenseRequest"]["quantity"];
        assert_eq!(q["value"].as_i64(), Some(28), "the number stays: {q}");
        assert!(q.get("unit").is_none(), "{q}");
    }
    // What was removed is audited as free text removed, never silently.
    let audit = read_ndjson(&off.join("audit.ndjson"));
    assert!(text_lines(&audit) > before, "{before}");
}

/// Every plan's repeat information agrees with the orders shared under it, and every
/// statement's last issue date is no earlier than any of them (one rule, every bundle).
fn assert_issue_facts(b: &Value) {
    let orders: Vec<&Value> = resources(b, "MedicationRequest")
        .filter(|r| r["intent"] == "order")
        .collect();
    for plan in resources(b, "MedicationRequest").filter(|r| r["intent"] == "plan") {
        let urn = format!("urn:uuid:{}", plan["id"].as_str().unwrap());
        let under: Vec<&&Value> = orders
            .iter()
            .filter(|o| o["basedOn"][0]["reference"] == urn.as_str())
            .collect();
        let info = plan["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["url"]
                    .as_str()
                    .unwrap()
                    .ends_with("MedicationRepeatInformation")
            });
        if let Some(info) = info {
            let issued = info["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["url"] == "numberOfPrescriptionsIssued")
                .and_then(|e| e["valueUnsignedInt"].as_u64());
            // A repeat-dispensing prescription is issued once and dispensed in batches: the
            // source counts prescriptions, not the batch issues.
            let batches = plan["courseOfTherapyType"]["coding"][0]["code"]
                == "continuous-repeating-dispensing";
            if let Some(n) = issued.filter(|_| !batches) {
                assert!(
                    n as usize >= under.len(),
                    "{n} < {} orders: {plan}",
                    under.len()
                );
            }
        } else {
            assert!(under.is_empty(), "orders but no repeat information: {plan}");
        }
        let course = &plan["courseOfTherapyType"]["coding"][0]["code"];
        let repeats = plan["dispenseRequest"]["numberOfRepeatsAllowed"].as_u64();
        assert_eq!(course == "acute", repeats == Some(0), "{plan}");
        for ms in resources(b, "MedicationStatement")
            .filter(|m| m["basedOn"][0]["reference"] == urn.as_str())
        {
            let last = ms["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["url"].as_str().unwrap().ends_with("LastIssueDate"))
                .and_then(|e| e["valueDateTime"].as_str());
            for o in &under {
                let day = &o["authoredOn"].as_str().unwrap()[..10];
                let last = last.unwrap_or_else(|| panic!("issued, no last issue date: {ms}"));
                assert!(
                    last[..10.min(last.len())] >= day[..10.min(last.len())],
                    "{last} < {day}"
                );
            }
        }
    }
}

#[test]
fn results_and_reports_say_when_they_were_issued_and_plans_how_often() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fx");
    convert_fixtures(&out, &[]);
    let b = bundle(&out, "02-pathology-report");
    let mut n = 0;
    for ty in ["Observation", "DiagnosticReport"] {
        for r in resources(&b, ty) {
            // The composition's author/time (a minute-precision instant), as the translator.
            assert_eq!(r["issued"], "2026-02-11T12:00:00+00:00", "{r}");
            n += 1;
        }
    }
    assert!(n >= 2, "a report and its results");
    let b = bundle(&out, "03-medications");
    let plan = resources(&b, "MedicationRequest")
        .find(|r| r["intent"] == "plan")
        .expect("a plan");
    let info = &plan["extension"][0];
    assert_eq!(
        info["url"],
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation"
    );
    assert_eq!(info["extension"][0]["url"], "numberOfPrescriptionsIssued");
    assert_eq!(info["extension"][0]["valueUnsignedInt"], 1);
    let ms = resources(&b, "MedicationStatement").next().unwrap();
    assert!(ms["extension"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("Extension-UKCore-MedicationStatementLastIssueDate"));
    for b in bundles_of(&out) {
        assert_issue_facts(&b);
    }
    // The corpora, both formats: the same rules on every bundle, and the GP Connect
    // prescription types survive (repeat dispensing is UK Core's own course of therapy).
    let Some(corpus) = corpus() else {
        eprintln!("SKIP corpus part: ../shared/corpus absent");
        return;
    };
    let mut courses = std::collections::BTreeSet::new();
    for sub in ["gp2gp-ehrextract", "gpconnect-stu3"] {
        let o = dir.path().join(sub);
        convert_permit_all(&corpus.join(sub), &o, &[]);
        for b in bundles_of(&o) {
            assert_issue_facts(&b);
            for r in resources(&b, "MedicationRequest") {
                if let Some(c) = r["courseOfTherapyType"]["coding"][0]["code"].as_str() {
                    courses.insert(c.to_string());
                }
                assert!(r["issued"].is_null());
            }
            for r in resources(&b, "Observation").chain(resources(&b, "DiagnosticReport")) {
                if let Some(t) = r["issued"].as_str() {
                    assert!(t.len() >= 20 && t.contains('T'), "an instant: {t}");
                }
            }
        }
    }
    assert!(
        courses.contains("continuous-repeating-dispensing") && courses.contains("acute"),
        "{courses:?}"
    );
}

fn bundles_of(out: &Path) -> Vec<Value> {
    let mut v: Vec<_> = std::fs::read_dir(out.join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

/// The allergen of a transfer-degraded allergy is named only in its code's text: shared as
/// `code.text` by default, in both formats; the policy turns it off, and then it is removed
/// and audited as free text. No other code text ever appears.
#[test]
fn degraded_allergies_keep_their_allergen_unless_the_policy_says_not() {
    let Some(corpus) = corpus() else {
        eprintln!("SKIP: ../shared/corpus absent (the fixtures hold no degraded allergy)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_with_detail(
        dir.path(),
        serde_json::json!({ "degraded_allergy_text": false }),
    );
    for sub in ["gp2gp-ehrextract", "gpconnect-stu3"] {
        let (on, off) = (dir.path().join(format!("{sub}-on")), dir.path().join(sub));
        convert_permit_all(&corpus.join(sub), &on, &[]);
        convert_permit_all(
            &corpus.join(sub),
            &off,
            &["--policy", policy.to_str().unwrap()],
        );
        let (mut degraded, mut named) = (0, 0);
        for b in bundles_of(&on) {
            for r in resources(&b, "AllergyIntolerance") {
                let code = &r["code"];
                let is_degraded = code["coding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["code"] == "196461000000101" || c["code"] == "196471000000108");
                degraded += usize::from(is_degraded);
                named += usize::from(code["text"].is_string());
                assert_eq!(is_degraded, code["text"].is_string(), "{sub}: {r}");
            }
            for ty in ["Condition", "Observation", "Procedure", "MedicationRequest"] {
                for r in resources(&b, ty) {
                    assert!(r["code"]["text"].is_null(), "{sub}: {r}");
                }
            }
        }
        assert!(
            degraded >= 4 && named == degraded,
            "{sub}: {degraded} {named}"
        );
        let texts = |out: &Path| {
            read_ndjson(&out.join("audit.ndjson"))
                .iter()
                .filter(|l| l["kind"] == "text" && l["category"] == "allergies")
                .count()
        };
        for b in bundles_of(&off) {
            for r in resources(&b, "AllergyIntolerance") {
                assert!(r["code"]["text"].is_null(), "{sub}: {r}");
            }
        }
        // Audited once per item: the GP2GP statements also carry annotations (already
        // audited), the GP Connect ones only the code text.
        assert!(texts(&off) >= texts(&on), "{sub}: removal is audited");
        if sub == "gpconnect-stu3" {
            assert!(
                texts(&off) >= texts(&on) + degraded,
                "{sub}: removal is audited"
            );
        }
    }
}
