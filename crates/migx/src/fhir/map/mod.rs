//! The mapping: one module per source construct, each turning what the policy decided into
//! typed R4 resources ([`crate::fhir::r4`]), and [`build_bundle`], which assembles them.
//! Mappers decide nothing: what is shared, in which category, under which label, with which
//! codings (the screen), is decided in [`crate::policy`] before mapping.

mod allergy;
mod condition;
mod consent;
mod diagnostic_report;
mod flag;
pub mod lists;
mod medication;
mod observation;
mod organizations;
mod patient;
mod procedure;
mod provenance;
mod staff;

use super::ids::{derived_uuid, source_uuid, EntryIds};
use super::r4::{
    Base, Bundle, BundleEntry, CodeableConcept, Coding, Decimal, EntryRefs, Extension,
    ExtensionValue, Identifier, ListEntries, Meta, Quantity, Reference, Resource,
};
use super::{SharingContext, SCT_DESC_ID_URL, URI_SYSTEM, V3_ACT_CODE};
use crate::codes::Coding as SourceCoding;
use crate::ehr::model::{Extract, Item};
use crate::policy::decide::{Category, Decisions, Outcome, Role, Withholding};
use crate::policy::detail::{KnownUnit, UCUM_SYSTEM};
use crate::policy::screen::{Screen, ScreenedCoding};
use crate::policy::Policy;
use hashbrown::HashMap;
use staff::Staff;
use std::cell::RefCell;
use std::sync::Arc;

/// Build the disclosed Bundle, every entry in memory (tests, benches and library callers;
/// `migx convert` writes the same entries as they are made, [`BundleStream`]).
pub fn build_bundle(ex: &Extract, d: &Decisions, rc: &SharingContext<'_>) -> Bundle {
    let stream = BundleStream::new(ex, d, rc);
    let mut bundle = stream.head().clone();
    // A changed entry (a bug: mapping is a function of the extract and its decisions) ends
    // the bundle early; the validation that follows rejects it (its Provenance targets
    // entries it does not hold).
    let _ = stream.entries(&mut |e| {
        bundle.entry.push(e);
        Ok(())
    });
    bundle
}

/// Why [`BundleStream::entries`] stopped.
#[derive(Debug)]
pub enum EntriesError {
    /// What the entries were given to failed.
    Sink(std::io::Error),
    /// An entry is not the one planned (a bug): the Provenance and Lists written before it
    /// name other entries.
    Changed {
        /// The entry's index.
        index: usize,
    },
}

/// Every entry of a bundle, before any is made: its id (its `fullUrl` is `urn:uuid:<id>`)
/// and its resource type, in entry order, compactly ([`EntryIds`]: 16 bytes for a UUID, and
/// two for the type, per entry, instead of a `String` each: issue 24.12). The Provenance's
/// targets, the Lists' members and the access audit's ids are all read from it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    ids: Arc<EntryIds>,
    types: Vec<u16>,
    names: Vec<&'static str>,
}

impl Plan {
    /// Append an entry.
    fn push(&mut self, id: &str, ty: &'static str) {
        let t = match self.names.iter().position(|&n| n == ty) {
            Some(t) => t,
            None => {
                self.names.push(ty);
                self.names.len() - 1
            }
        };
        Arc::make_mut(&mut self.ids).push(id);
        // Resource types are a few dozen: never near the bound (a type past it reads as
        // no type, and the plan then differs from the bundle).
        self.types.push(u16::try_from(t).unwrap_or(u16::MAX));
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Entry `k`'s `fullUrl`.
    pub fn full_url(&self, k: usize) -> Option<String> {
        self.ids.full_url(k)
    }

    /// Entry `k`'s resource type.
    pub fn resource_type(&self, k: usize) -> Option<&'static str> {
        let t = *self.types.get(k)?;
        self.names.get(usize::from(t)).copied()
    }

    /// Every entry's `fullUrl` and resource type, in entry order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &'static str)> + '_ {
        (0..self.len()).filter_map(|k| Some((self.full_url(k)?, self.resource_type(k)?)))
    }

    /// The `fullUrl` of the first entry of type `ty`.
    pub fn first_of(&self, ty: &str) -> Option<String> {
        (0..self.len())
            .find(|&k| self.resource_type(k) == Some(ty))
            .and_then(|k| self.full_url(k))
    }
}

/// The disclosed Bundle, made entry by entry: nothing holds every resource at once.
///
/// What must be known before the first entry is found first ([`BundleStream::new`]): every
/// entry's `fullUrl` and resource type (the Provenance, entry 4, targets all the others) and
/// each category List's members. For that every shared item is mapped once and only its id
/// kept (the staff resources, few, are kept: they are written last, in the order items first
/// named them). [`BundleStream::entries`] then maps each item again as its entry is made.
pub struct BundleStream<'a> {
    ex: &'a Extract,
    rc: &'a SharingContext<'a>,
    m: Mapper<'a>,
    practice_id: String,
    provenance_id: String,
    /// The Patient, the practice, the requester and the Consent (small; made once).
    fixed: Vec<Resource>,
    /// The Bundle's own fields, `entry` empty.
    head: Bundle,
    /// Every entry's `fullUrl` and resource type, in entry order.
    plan: Plan,
    /// Per category: its shared items in document order, and the entries its List names.
    items: Vec<Vec<(usize, Role)>>,
    members: Vec<Vec<u32>>,
    /// Where the Lists start in `plan`.
    first_list: usize,
    withholding: [Withholding; Category::ALL.len()],
    incomplete: bool,
}

impl<'a> BundleStream<'a> {
    /// Plan the bundle of what `d` shares: every entry's `fullUrl` and type, ids only.
    pub fn new(ex: &'a Extract, d: &'a Decisions, rc: &'a SharingContext<'a>) -> BundleStream<'a> {
        let key = ex
            .message_id
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", rc.source_sha256));
        let patient_id = derived_uuid(&["patient", &key]);
        let practice_id = derived_uuid(&["practice", &key]);
        let requester_id = derived_uuid(&["requester", &key, &rc.consent.requester_ods]);
        let consent_id = derived_uuid(&["consent", &key, &rc.consent.requester_ods]);
        let provenance_id = derived_uuid(&["provenance", &key]);
        let bundle_id = derived_uuid(&["bundle", &key, &rc.consent.requester_ods]);
        let m = Mapper::new(ex, d, rc.policy, &key, &patient_id, &practice_id);

        // Clinical resources per category, in document order (their ids, each with whether
        // its category List names it).
        let mut items: Vec<Vec<(usize, Role)>> = vec![Vec::new(); Category::ALL.len()];
        let mut per_cat: Vec<(Plan, Vec<bool>)> = vec![Default::default(); Category::ALL.len()];
        for (i, dec) in d.items.iter().enumerate() {
            let Outcome::Shared(role) = dec.outcome else {
                continue;
            };
            let Some(cat) = dec.category else { continue };
            items[cat as usize].push((i, role));
            let (part, member) = &mut per_cat[cat as usize];
            for (r, named) in m.map(i, role, cat) {
                part.push(r.id(), r.resource_type());
                member.push(named);
            }
        }

        let fixed = vec![
            patient::patient(&patient_id, &practice_id, rc),
            organizations::practice(&practice_id, ex),
            organizations::requester(&requester_id, rc),
            consent::consent(&consent_id, &patient_id, &requester_id, rc),
        ];
        let mut plan = Plan::default();
        for r in &fixed {
            plan.push(r.id(), r.resource_type());
        }
        // Provenance sits after the Consent (index 4), before the lists.
        let provenance = provenance::provenance(
            &provenance_id,
            EntryRefs::default(),
            ex,
            rc,
            &urn(&practice_id),
            false,
        );
        plan.push(&provenance_id, provenance.resource_type());
        let first_list = plan.len();
        let withholding = d.lists.by_category;
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); Category::ALL.len()];
        for cat in Category::ALL {
            let list = lists::list(
                derived_uuid(&["list", &key, cat.as_str()]),
                cat,
                ListEntries::default(),
                withholding[cat as usize],
                &urn(&patient_id),
                rc,
            );
            plan.push(list.id(), list.resource_type());
        }
        for cat in Category::ALL {
            let (part, member) = std::mem::take(&mut per_cat[cat as usize]);
            for (k, named) in member.into_iter().enumerate() {
                let (Some(id), Some(ty)) = (part.ids.id(k), part.resource_type(k)) else {
                    continue;
                };
                if named {
                    // Past u32::MAX entries (never) a member names no entry and the List
                    // does not serialise: the bundle is not shared.
                    members[cat as usize].push(u32::try_from(plan.len()).unwrap_or(u32::MAX));
                }
                plan.push(&id, ty);
            }
        }
        // The staff the shared resources refer to, once each, after them.
        for r in &m.staff.borrow().resources {
            plan.push(r.id(), r.resource_type());
        }
        // Items withheld whose category could not be known: no List can warn about them, so
        // the whole Bundle is marked incomplete (its security label, and a removal in the
        // Provenance).
        let incomplete = d.lists.incomplete();
        let mut meta = Meta::ukcore("Bundle");
        if incomplete {
            meta.security.push(lists::incomplete_label());
        }
        BundleStream {
            ex,
            rc,
            m,
            practice_id,
            provenance_id,
            fixed,
            head: Bundle {
                resource_type: "Bundle",
                id: bundle_id,
                meta,
                r#type: "collection",
                timestamp: rc.as_of.fhir_instant(),
                entry: Vec::new(),
            },
            plan,
            items,
            members,
            first_list,
            withholding,
            incomplete,
        }
    }

    /// The Bundle's own fields (`entry` empty).
    pub fn head(&self) -> &Bundle {
        &self.head
    }

    /// Every entry's `fullUrl` and resource type, in entry order, before any is made.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Make the entries in order, giving each to `each` and dropping it.
    pub fn entries(
        self,
        each: &mut dyn FnMut(BundleEntry) -> std::io::Result<()>,
    ) -> Result<(), EntriesError> {
        let BundleStream {
            ex,
            rc,
            m,
            practice_id,
            provenance_id,
            fixed,
            plan,
            items,
            members,
            first_list,
            withholding,
            incomplete,
            ..
        } = self;
        let mut index = 0;
        let ids = Arc::clone(&plan.ids);
        let mut emit = |r: Resource| -> Result<(), EntriesError> {
            if !ids.is(index, r.id()) {
                return Err(EntriesError::Changed { index });
            }
            index += 1;
            each(BundleEntry {
                full_url: urn(r.id()),
                resource: r,
            })
            .map_err(EntriesError::Sink)
        };
        for r in fixed {
            emit(r)?;
        }
        // Every entry but the Provenance itself (past u32::MAX entries, never, a target
        // names no entry and the Provenance does not serialise: the bundle is not shared).
        let targets = (0..plan.len())
            .filter(|&k| k != first_list - 1)
            .map(|k| u32::try_from(k).unwrap_or(u32::MAX))
            .collect();
        emit(provenance::provenance(
            &provenance_id,
            EntryRefs::new(Arc::clone(&plan.ids), targets),
            ex,
            rc,
            &urn(&practice_id),
            incomplete,
        ))?;
        let patient_ref = m.patient_ref.clone();
        for (cat, members) in Category::ALL.into_iter().zip(members) {
            let list = lists::list(
                // Absent only if the plan were wrong: the entry then differs from it.
                plan.ids.id(first_list + cat as usize).unwrap_or_default(),
                cat,
                ListEntries::new(Arc::clone(&plan.ids), members),
                withholding[cat as usize],
                &patient_ref,
                rc,
            );
            emit(list)?;
        }
        for cat in Category::ALL {
            for &(i, role) in &items[cat as usize] {
                for (r, _) in m.map(i, role, cat) {
                    emit(r)?;
                }
            }
        }
        for r in m.staff.take().resources {
            emit(r)?;
        }
        if index != plan.len() {
            return Err(EntriesError::Changed { index });
        }
        Ok(())
    }
}

/// `urn:uuid:<id>`, the `fullUrl` of a bundle entry.
pub(crate) fn urn(id: &str) -> String {
    format!("urn:uuid:{id}")
}

/// What maps one extract's shared items: the extract, its decisions and what is found once
/// for all of them.
struct Mapper<'a> {
    ex: &'a Extract,
    d: &'a Decisions,
    policy: &'a Policy,
    /// The policy's screen, remembering each code's verdict over the bundle (and, in a
    /// run, the worker thread's other files: `screen::remembering_shared`).
    screen: Screen<'a>,
    patient_ref: String,
    /// Authorisation source id -> every issue made under it in the source, in one pass.
    source_issues: HashMap<&'a str, Vec<usize>>,
    /// The bundle's key (source message id), for derived resource ids.
    key: String,
    /// Reference to the practice Organization (a staff organisation with the practice's
    /// ODS code is that one).
    practice_ref: String,
    /// Staff resources written so far, filled as shared items refer to them.
    staff: RefCell<Staff>,
}

impl<'a> Mapper<'a> {
    fn new(
        ex: &'a Extract,
        d: &'a Decisions,
        policy: &'a Policy,
        key: &str,
        patient_id: &str,
        practice_id: &str,
    ) -> Mapper<'a> {
        Mapper {
            ex,
            d,
            policy,
            screen: Screen::new(policy),
            patient_ref: urn(patient_id),
            source_issues: medication::source_issues(ex),
            key: key.to_string(),
            practice_ref: urn(practice_id),
            staff: RefCell::new(Staff::default()),
        }
    }

    fn item(&self, i: usize) -> &'a Item {
        &self.ex.items[i]
    }

    /// The reference to the patient.
    fn patient(&self) -> Reference {
        Reference::to(self.patient_ref.clone())
    }

    /// The reference to the resource of shared item `i`.
    fn item_ref(&self, i: usize) -> Reference {
        Reference::to(urn(&source_uuid(&self.item(i).id)))
    }

    /// Resources for one shared item (a medication gives several), each with whether the
    /// category List names it (results inside a report or group, and the plan and issues
    /// of a medication, hang off their parent instead).
    fn map(&self, i: usize, role: Role, cat: Category) -> Vec<(Resource, bool)> {
        let one = |r: Resource| vec![(r, true)];
        match role {
            Role::Problem { named } => one(self.problem(i, named)),
            Role::Diagnosis => one(self.diagnosis(i)),
            Role::Procedure => one(self.procedure(i)),
            Role::Flag => one(self.flag(i)),
            Role::Allergy { observation } => one(self.allergy(i, observation)),
            Role::Medication { authorise } => self
                .medication(i, authorise)
                .into_iter()
                .enumerate()
                .map(|(k, r)| (r, k == 0))
                .collect(),
            Role::DiagnosticReport => one(self.report(i)),
            Role::ResultGroup { report } => {
                let member = report.is_none() && !self.d.members.in_group(i);
                vec![(self.group(i, cat), member)]
            }
            Role::Result { group } => vec![(self.result(i, cat), group.is_none())],
        }
    }

    /// `id`, `meta` and `identifier` of the resource of item `i`, with the `NOPAT` label
    /// when the policy decided the item is shared under one.
    fn base(&self, ty: &str, i: usize) -> Base {
        let id = source_uuid(&self.item(i).id);
        let mut meta = Meta::ukcore(ty);
        // Label what a restricting code covers when the policy labels instead of dropping
        // (NOSCRUB, say, restricts nothing).
        if self.d.labelled(i) {
            meta.security.push(Coding::fixed(V3_ACT_CODE, "NOPAT"));
        }
        let identifier = vec![Identifier::new(URI_SYSTEM, urn(&id))];
        Base {
            id,
            meta,
            identifier,
        }
    }

    /// The codings of `codes` that pass the screen, as a concept.
    fn concept(&self, codes: &[SourceCoding]) -> CodeableConcept {
        concept_of(self.screen.shareable(codes))
    }

    /// The concept of `codes` when any of them passes the screen.
    fn concept_if_any(&self, codes: &[SourceCoding]) -> Option<CodeableConcept> {
        let screened = self.screen.shareable(codes);
        (!screened.is_empty()).then(|| concept_of(screened))
    }
}

/// A FHIR Quantity from a decimal string, with its unit when the policy's unit list knows
/// it (and UCUM `system`/`code` when the list gives one); `None` when the value is not a
/// plain number.
fn quantity(value: &str, unit: Option<KnownUnit<'_>>) -> Option<Quantity> {
    let value = Decimal::parse(value)?;
    let (unit, system, code) = match unit {
        Some(u) => (
            Some(u.text.to_string()),
            u.ucum.map(|_| UCUM_SYSTEM),
            u.ucum.map(str::to_string),
        ),
        None => (None, None, None),
    };
    Some(Quantity {
        value,
        unit,
        system,
        code,
    })
}

/// One screened coding as FHIR, its strings moved (not copied). A resolved description id
/// is emitted as its concept id, with the description id kept in the core
/// `coding-sctdescid` extension.
fn coding(c: ScreenedCoding) -> Coding {
    let c = c.into_parts();
    let extension = c
        .description_id
        .map(|d| Extension::value(SCT_DESC_ID_URL, ExtensionValue::Id(d)))
        .into_iter()
        .collect();
    Coding {
        extension,
        system: c.system,
        code: c.code,
        display: c.display,
    }
}

/// A CodeableConcept from screened codings.
pub fn concept_of(codes: Vec<ScreenedCoding>) -> CodeableConcept {
    CodeableConcept::of(codes.into_iter().map(coding).collect())
}

/// The profile URL of a UK Core resource type (for the tests of the mapper modules).
#[cfg(test)]
fn profile(ty: &str) -> String {
    format!("{}{ty}", crate::fhir::UKCORE)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A tiny extract, decided by the real policy, for the mapper modules' tests.

    use super::*;
    use crate::codes::CodeSystem;
    use crate::ehr::model::{DateField, Element, ExtractBuilder, Item, ItemHead};
    use crate::ehr::ts::Ts;
    use crate::policy::decide::decide;

    /// The embedded default policy.
    pub(crate) fn policy() -> Policy {
        Policy::embedded_default().expect("the embedded policy loads")
    }

    /// The time decisions are judged at.
    pub(crate) fn as_of() -> Ts {
        Ts::parse("20260101").expect("a valid timestamp")
    }

    /// A SNOMED CT coding.
    pub(crate) fn sct(code: &str) -> SourceCoding {
        SourceCoding::new(CodeSystem::Snomed, code.to_string())
    }

    /// A Read v2 coding.
    pub(crate) fn read(code: &str) -> SourceCoding {
        SourceCoding::new(CodeSystem::ReadV2, code.to_string())
    }

    /// An item with an id, an element, a code and a recorded date.
    pub(crate) fn item(id: &str, element: Element, codes: Vec<SourceCoding>) -> Item {
        Item::of(ItemHead {
            id: id.into(),
            codes: codes.into(),
            availability: DateField::Value(Ts::parse("20250601").expect("a valid timestamp")),
            ..ItemHead::new(element)
        })
    }

    /// The extract of `items` (linked as `parent`/`children` say) and its decisions.
    pub(crate) fn decided(items: Vec<Item>, policy: &Policy) -> (Extract, Decisions) {
        let ex = ExtractBuilder {
            items,
            message_id: Some("m".into()),
            ..ExtractBuilder::default()
        }
        .finish();
        let d = decide(&ex, policy, as_of());
        (ex, d)
    }

    /// The resources the mapper makes of every shared item, in document order.
    pub(crate) fn mapped(ex: &Extract, d: &Decisions, policy: &Policy) -> Vec<(Resource, bool)> {
        let m = Mapper::new(ex, d, policy, "m", "patient", "practice");
        let mut out = Vec::new();
        for (i, dec) in d.items.iter().enumerate() {
            if let (Outcome::Shared(role), Some(cat)) = (dec.outcome, dec.category) {
                out.extend(m.map(i, role, cat));
            }
        }
        out
    }

    /// Run `f` with a disclosure context: an operator-asserted permit from Y02345 for direct
    /// care, under the embedded policy.
    pub(crate) fn context(f: impl FnOnce(&SharingContext<'_>)) {
        use crate::consent::{ConsentDecision, ConsentOrigin, ConsentRecord};
        let p = policy();
        let consent = ConsentRecord {
            decision: ConsentDecision::Permit,
            recorded_at: None,
            requester_ods: "Y02345".into(),
            requester_name: None,
            requester_person: None,
            purpose: "TREAT".into(),
            origin: ConsentOrigin::OperatorAssertion,
        };
        let exclusion = p.exclusion_basis(true);
        let rc = SharingContext {
            nhs_number: "9434765919",
            consent: &consent,
            consent_valid_until: None,
            as_of: as_of(),
            source_sha256: "00",
            policy: &p,
            run_permitted_requesters: &[],
            exclusion: &exclusion,
        };
        f(&rc);
    }

    /// Run `f` with the bundle of one shared procedure (an observation statement coded
    /// 80146002, appendicectomy) and its context.
    pub(crate) fn one_shared_procedure(
        f: impl FnOnce(&crate::fhir::r4::Bundle, &SharingContext<'_>),
    ) {
        let p = policy();
        let (ex, d) = decided(
            vec![item(
                "x1",
                Element::ObservationStatement,
                vec![sct("80146002")],
            )],
            &p,
        );
        context(|rc| f(&super::build_bundle(&ex, &d, rc), rc));
    }

    /// The serialised JSON of a resource.
    pub(crate) fn json(r: &Resource) -> serde_json::Value {
        serde_json::to_value(r).expect("a resource serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn a_base_carries_the_profile_the_source_id_and_a_label_only_when_decided() {
        let p = policy();
        let id = "8f3b744a-93d9-433c-8d46-6ef68ac95052";
        let (ex, d) = decided(
            vec![item(
                id,
                crate::ehr::model::Element::ObservationStatement,
                vec![sct("27113001")],
            )],
            &p,
        );
        let m = Mapper::new(&ex, &d, &p, "m", "patient", "practice");
        let b = m.base("Observation", 0);
        assert_eq!(b.id, id);
        assert_eq!(b.meta.profile, [profile("Observation")]);
        assert!(b.meta.security.is_empty());
        assert_eq!(b.identifier[0].value, format!("urn:uuid:{id}"));
        assert_eq!(b.identifier[0].system, URI_SYSTEM);
    }

    /// The bundle's fixed frame: Patient, practice, requester, Consent, Provenance, then one
    /// List per category; the Provenance targets every other entry.
    #[test]
    fn a_bundle_is_its_frame_then_its_lists_and_the_provenance_targets_the_rest() {
        let p = policy();
        let (ex, d) = decided(
            vec![item(
                "x1",
                crate::ehr::model::Element::ObservationStatement,
                vec![sct("80146002")],
            )],
            &p,
        );
        context(|rc| {
            let b = build_bundle(&ex, &d, rc);
            let types: Vec<&str> = b.entry.iter().map(|e| e.resource.resource_type()).collect();
            let lists = Category::ALL.len();
            assert_eq!(
                types[..5],
                [
                    "Patient",
                    "Organization",
                    "Organization",
                    "Consent",
                    "Provenance"
                ]
            );
            assert!(types[5..5 + lists].iter().all(|t| *t == "List"));
            assert_eq!(types[5 + lists..], ["Procedure"]);
            for e in &b.entry {
                assert_eq!(e.full_url, urn(e.resource.id()));
            }
            let Resource::Provenance(prov) = &b.entry[4].resource else {
                panic!("no Provenance at index 4");
            };
            let targets: Vec<String> = prov.target.full_urls().flatten().collect();
            let others: Vec<&str> = b
                .entry
                .iter()
                .filter(|e| e.resource.resource_type() != "Provenance")
                .map(|e| e.full_url.as_str())
                .collect();
            assert_eq!(targets, others);
            assert_eq!(b.full_url_of("Patient"), Some(b.entry[0].full_url.as_str()));
            assert!(b.meta.security.is_empty());
        });
    }

    #[test]
    fn quantities_keep_integers_and_take_only_known_units() {
        let q = quantity("5", None).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"value":5}"#);
        let known = KnownUnit {
            text: "mmol/L",
            ucum: Some("mmol/L"),
        };
        let q = quantity("5.5", Some(known)).unwrap();
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"value":5.5,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}"#
        );
        assert!(quantity("five", None).is_none());
    }
}
