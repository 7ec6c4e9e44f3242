//! Identifiers with check digits: NHS numbers (the library's check digit) and synthetic
//! SNOMED CT description ids (the library's Verhoeff digit).

use migx::codes::snomed::verhoeff_check_digit as verhoeff_digit;

use crate::rng::Rng;

/// A valid NHS number in the 9xx test range.
pub(crate) fn gen_nhs(rng: &mut Rng) -> String {
    loop {
        let mut nine = [0u8; 9];
        nine[0] = 9;
        for d in nine.iter_mut().skip(1) {
            *d = rng.below(10) as u8;
        }
        if let Some(c) = migx::nhs::check_digit(&nine) {
            let mut s = String::with_capacity(10);
            for d in nine.iter().chain(std::iter::once(&c)) {
                s.push((b'0' + d) as char);
            }
            return s;
        }
    }
}

/// A synthetic SNOMED CT description id (partition `01`, Verhoeff check digit) for an item,
/// as (id without check digit, check digit).
pub(crate) fn description_id(item: u64) -> (u64, u8) {
    let body = item * 100 + 1;
    (body, verhoeff_digit(body))
}
