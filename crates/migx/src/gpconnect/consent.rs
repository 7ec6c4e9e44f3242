//! GP Connect `Consent`s, wherever they sit: one classifier ([`consent_reading`]) read over
//! one enumeration (`json::resources_in`).

use super::bundle::{ConsentFacts, Reader};
use super::json::{arr, date, resources_in, str_at, MAX_JSON_DEPTH};
use serde_json::Value as Json;

/// How migx reads one STU3 `Consent` (<https://hl7.org/fhir/STU3/consent.html>) for direct
/// care, by its structure; its codings are screened for dissent as every coding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentReading {
    /// A clear permission: status `active`; a policy (`policyRule`, `policy[].uri`) and every
    /// one of them an opt-in; every exception (`except`, or R4-style `provision` at any
    /// depth) of type `permit`; `purpose` absent or naming treatment (`TREAT`, `ETREAT`).
    Permits,
    /// A refusal, whatever its codes and other fields say: status `rejected`, an exception
    /// of type `deny` anywhere, or an opt-out policy.
    Refuses,
    /// Anything else (draft, proposed, inactive, entered in error, no policy, a policy or
    /// exception migx cannot read, another purpose, a malformed shape): never grants.
    Unclear,
}

/// The last word of a policy URI or code, lower case, letters and digits only:
/// `http://hl7.org/fhir/ConsentPolicy/opt-out` and `OPTOUT` both read `optout`.
fn policy_word(s: &str) -> String {
    let s = s.trim().trim_end_matches(['/', '#']);
    let last = s.rsplit(['/', '#', ':', '|', '=']).next().unwrap_or(s);
    last.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// See [`ConsentReading`]. One classifier for every Consent, wherever it sits.
pub fn consent_reading(v: &Json) -> ConsentReading {
    let status = v.get("status").and_then(Json::as_str).map(str::trim);
    let mut refuses = status.is_some_and(|s| s.eq_ignore_ascii_case("rejected"));
    let mut unclear = !status.is_some_and(|s| s.eq_ignore_ascii_case("active"));
    // Policies: STU3 `policyRule` (a uri), R4-style `policyRule` (a CodeableConcept), and
    // `policy[].uri`.
    let mut policies: Vec<String> = Vec::new();
    match v.get("policyRule") {
        None => {}
        Some(Json::String(s)) => policies.push(policy_word(s)),
        Some(cc @ Json::Object(_)) => {
            let codes: Vec<String> = arr(Some(cc), "coding")
                .filter_map(|c| str_at(c, "code"))
                .map(policy_word)
                .collect();
            unclear |= codes.is_empty();
            policies.extend(codes);
        }
        Some(_) => unclear = true,
    }
    match v.get("policy") {
        None => {}
        Some(Json::Array(a)) => {
            for p in a {
                match str_at(p, "uri") {
                    Some(u) => policies.push(policy_word(u)),
                    None => unclear = true,
                }
            }
        }
        Some(_) => unclear = true,
    }
    unclear |= policies.is_empty();
    for p in &policies {
        if p.starts_with("optout") {
            refuses = true;
        } else if !p.starts_with("optin") {
            unclear = true;
        }
    }
    // Exceptions, at every depth R4's nested `provision` allows (STU3 `except` is flat).
    fn exceptions(v: &Json, refuses: &mut bool, unclear: &mut bool, depth: usize) {
        if depth > MAX_JSON_DEPTH {
            *unclear = true;
            return;
        }
        let Json::Object(o) = v else { return };
        for (k, x) in o {
            if k == "contained" {
                continue; // a contained resource is read as a resource of its own
            }
            if k == "except" || k == "provision" {
                let list: Vec<&Json> = match x {
                    Json::Array(a) => a.iter().collect(),
                    o @ Json::Object(_) => vec![o],
                    _ => {
                        *unclear = true;
                        Vec::new()
                    }
                };
                for e in list {
                    match e.get("type").and_then(Json::as_str).map(str::trim) {
                        Some(t) if t.eq_ignore_ascii_case("deny") => *refuses = true,
                        Some(t) if t.eq_ignore_ascii_case("permit") => {}
                        _ => *unclear = true,
                    }
                }
            }
            match x {
                Json::Object(_) => exceptions(x, refuses, unclear, depth + 1),
                Json::Array(a) => {
                    for y in a {
                        exceptions(y, refuses, unclear, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }
    exceptions(v, &mut refuses, &mut unclear, 0);
    // Purpose of use (v3 PurposeOfUse): absent, or treatment among them.
    match v.get("purpose") {
        None => {}
        Some(p) => {
            let list: Vec<&Json> = match p {
                Json::Array(a) => a.iter().collect(),
                o => vec![o],
            };
            let treat = list.iter().any(|c| {
                str_at(c, "code").map(str::trim).is_some_and(|c| {
                    c.eq_ignore_ascii_case("TREAT") || c.eq_ignore_ascii_case("ETREAT")
                })
            });
            unclear |= !treat;
        }
    }
    if refuses {
        ConsentReading::Refuses
    } else if unclear {
        ConsentReading::Unclear
    } else {
        ConsentReading::Permits
    }
}

fn is_consent(v: &Json) -> bool {
    str_at(v, "resourceType").is_some_and(|t| t.trim().eq_ignore_ascii_case("Consent"))
}

/// What the Consents in resource `v` say (itself, contained or nested at any depth: one
/// enumeration, [`resources_in`]), read by one classifier ([`consent_reading`]); `None`
/// when there is none. Read once, when the resource is first parsed.
pub(super) fn consent_facts(v: &Json) -> Option<ConsentFacts> {
    let mut facts: Option<ConsentFacts> = None;
    for c in resources_in(v).into_iter().filter(|c| is_consent(c)) {
        let f = facts.get_or_insert(ConsentFacts {
            refusals: Vec::new(),
            grants: true,
        });
        match consent_reading(c) {
            ConsentReading::Permits => {}
            ConsentReading::Refuses => {
                f.refusals.push(date(c.get("dateTime")));
                f.grants = false;
            }
            ConsentReading::Unclear => f.grants = false,
        }
    }
    facts
}

impl<'a> Reader<'a> {
    /// Every STU3 `Consent` of the record, top-level, contained or nested at any depth (one
    /// enumeration, [`resources_in`](super::json::resources_in)), read by one classifier ([`consent_reading`]): one that
    /// refuses is a practice dissent (dated by its `dateTime`); one that is not a clear
    /// permission makes the items of the resource holding it grant nothing.
    pub(super) fn consents(&mut self) {
        for r in 0..self.res.len() {
            let Some(facts) = self.res[r].consent.take() else {
                continue;
            };
            self.ex.consent_refusals.extend(facts.refusals);
            if !facts.grants {
                for idx in self.items_of(r) {
                    self.ex.items[idx].grants_nothing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpconnect::testing::*;
    /// Issue 24.2: a STU3 Consent that refuses only by its structure withholds the patient,
    /// at every position the structure allows a refusal and wherever the Consent sits;
    /// one migx cannot read as a clear permission never grants; a clear one withholds
    /// nothing and, top-level, lifts an earlier dissent.
    #[test]
    fn a_consent_refusing_by_its_structure_withholds_wherever_it_sits() {
        use crate::policy::decide::practice_dissent;
        use serde_json::json;
        let policy = Policy::embedded_default().unwrap();
        let dissent = |entries: &[String]| {
            let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
            let ex = read_gpconnect(&bundle("", &refs)).expect("reads");
            assert!(ex.identity_problem.is_none(), "{:?}", ex.identity_problem);
            practice_dissent(&ex, &policy, ex.created.value().unwrap())
        };
        let clear = json!({
            "resourceType": "Consent", "id": "c", "status": "active",
            "patient": { "reference": "Patient/p" }, "dateTime": "2026-03-01",
            "category": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "417528008" }] }],
            "policyRule": "http://hl7.org/fhir/ConsentPolicy/opt-in",
            "purpose": [{ "system": "http://hl7.org/fhir/v3/ActReason", "code": "TREAT" }],
            "except": [{ "type": "permit" }]
        });
        type Change = fn(&mut Json);
        let refusals: [(&str, Change); 10] = [
            ("status rejected", |c| c["status"] = json!("rejected")),
            ("first exception deny", |c| {
                c["except"][0]["type"] = json!("deny")
            }),
            ("second exception deny", |c| {
                c["except"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "type": " DENY " }))
            }),
            ("exception as an object", |c| {
                c["except"] = json!({ "type": "deny" })
            }),
            ("R4 provision deny", |c| {
                c["provision"] = json!({ "type": "deny" })
            }),
            (
                "nested provision deny",
                |c| c["provision"] = json!({ "type": "permit", "provision": [{ "type": "permit" }, { "type": "deny" }] }),
            ),
            ("opt-out policyRule", |c| {
                c["policyRule"] = json!("http://hl7.org/fhir/ConsentPolicy/opt-out")
            }),
            (
                "coded opt-out policyRule",
                |c| c["policyRule"] = json!({ "coding": [{ "system": "http://hl7.org/fhir/v3/ActCode", "code": "OPTOUT" }] }),
            ),
            ("opt-out policy uri", |c| {
                c["policy"] = json!([{ "uri": "urn:example:policy#OPTOUTE" }])
            }),
            ("a deny exception on a Consent entered in error", |c| {
                c["status"] = json!("entered-in-error");
                c["except"][0]["type"] = json!("deny");
            }),
        ];
        let unclear: [(&str, Change); 10] = [
            ("draft", |c| c["status"] = json!("draft")),
            ("proposed", |c| c["status"] = json!("proposed")),
            ("inactive", |c| c["status"] = json!("inactive")),
            ("entered in error", |c| {
                c["status"] = json!("entered-in-error")
            }),
            ("no status", |c| {
                c.as_object_mut().unwrap().remove("status");
            }),
            ("no policy", |c| {
                c.as_object_mut().unwrap().remove("policyRule");
            }),
            ("a policy migx cannot read", |c| {
                c["policyRule"] = json!("https://example.org/local-sharing-policy")
            }),
            ("an exception of no known type", |c| {
                c["except"][0]["type"] = json!("maybe")
            }),
            ("an exception that is a string", |c| {
                c["except"] = json!("permit")
            }),
            (
                "another purpose",
                |c| {
                    c["purpose"] =
                        json!([{ "system": "http://hl7.org/fhir/v3/ActReason", "code": "HRESCH" }])
                },
            ),
        ];
        // Every position a Consent can sit in a GP Connect bundle.
        type Place = fn(&str) -> String;
        let positions: [(&str, Place); 5] = [
            ("top-level", |c| c.to_string()),
            ("contained in an observation", |c| {
                format!(r#"{{"resourceType":"Observation","id":"o","contained":[{c}],{OBS}}}"#)
            }),
            ("contained in a List", |c| {
                format!(
                    r#"{{"resourceType":"List","id":"l","status":"current","mode":"snapshot","contained":[{c}]}}"#
                )
            }),
            ("in a nested Bundle", |c| {
                format!(
                    r#"{{"resourceType":"Bundle","id":"n","type":"collection","entry":[{{"resource":{c}}}]}}"#
                )
            }),
            ("in a Parameters resource", |c| {
                format!(
                    r#"{{"resourceType":"Parameters","id":"q","parameter":[{{"name":"consent","resource":{c}}}]}}"#
                )
            }),
        ];
        // A practice dissent before the Consent, and an observation recording a permit code
        // on the Consent's date (which lifts it unless something says it grants nothing).
        let earlier_dissent = r#"{"resourceType":"Observation","id":"d","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"416409005"}]},"effectiveDateTime":"2026-01-01"}"#.to_string();
        let permit_obs = |contained: &str| {
            format!(
                r#"{{"resourceType":"Observation","id":"g","status":"final","contained":[{contained}],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"417528008"}}]}},"effectiveDateTime":"2026-03-01"}}"#
            )
        };
        assert_eq!(consent_reading(&clear), ConsentReading::Permits);
        for (pos, place) in positions {
            assert!(
                !dissent(&[place(&clear.to_string())]),
                "clear consent {pos}"
            );
            for (what, change) in refusals {
                let mut c = clear.clone();
                change(&mut c);
                assert_eq!(consent_reading(&c), ConsentReading::Refuses, "{what}");
                assert!(dissent(&[place(&c.to_string())]), "{what} {pos}");
            }
            for (what, change) in unclear {
                let mut c = clear.clone();
                change(&mut c);
                assert_eq!(consent_reading(&c), ConsentReading::Unclear, "{what}");
                assert!(!dissent(&[place(&c.to_string())]), "{what} {pos}");
            }
        }
        // Granting: the clear top-level Consent lifts the earlier dissent; an unclear one, or
        // a permit around an unclear contained one, grants nothing.
        assert!(!dissent(&[earlier_dissent.clone(), clear.to_string()]));
        assert!(!dissent(&[
            earlier_dissent.clone(),
            permit_obs(&clear.to_string())
        ]));
        for (what, change) in unclear {
            let mut c = clear.clone();
            change(&mut c);
            assert!(dissent(&[earlier_dissent.clone(), c.to_string()]), "{what}");
            assert!(
                dissent(&[earlier_dissent.clone(), permit_obs(&c.to_string())]),
                "contained {what}"
            );
        }
        // A refusal dated after a permit still stands; an undated one always does.
        let mut late = clear.clone();
        late["except"][0]["type"] = json!("deny");
        late["dateTime"] = json!("2026-03-10");
        assert!(dissent(&[
            permit_obs(r#"{"resourceType":"Basic","id":"b"}"#),
            late.to_string()
        ]));
        late.as_object_mut().unwrap().remove("dateTime");
        assert!(dissent(&[late.to_string()]));
    }
}
