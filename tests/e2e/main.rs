//! migx end to end: one integration test binary for the command line (issue 15), one
//! module per area, sharing the helpers in `common/` (every conversion goes through
//! `common::convert_fixtures`, `convert_permit_all` or `run`).

mod common;

mod access;
mod as_of;
mod cli_conventions;
mod clinical_detail;
mod code_systems_policy;
mod coding_positions;
mod coding_property;
mod consent_dates;
mod consent_rows;
mod convert_fixtures;
mod corpus;
mod fidelity;
mod first_run;
mod gpconnect_corpus;
mod honest_lists;
mod hostile;
mod identity;
mod input_names;
mod module_graph;
mod nopat_label;
mod operator_view;
mod policy_property;
mod readme_walkthrough;
mod report_browser;
mod run_folder;
mod safety_case;
mod sensitive_sets;
mod shards;
mod snomed_e2e;
mod snomed_subtypes;
mod staff;
mod statuses;
mod validate_package;
mod validation_net;
