use std::io::BufReader;
fn main() {
    for p in std::env::args().skip(1) {
        let f = std::fs::File::open(&p).unwrap();
        let len = f.metadata().unwrap().len();
        let t = std::time::Instant::now();
        let r = migx::ehr::read_extract(
            BufReader::with_capacity(1 << 16, f),
            &Default::default(),
            len,
        );
        let el = t.elapsed();
        match r {
            Ok(ex) => {
                let mut counts = std::collections::BTreeMap::new();
                for it in &ex.items {
                    *counts.entry(it.element.unwrap().name()).or_insert(0) += 1;
                }
                println!("{p}: {:?} msg={:?} nhs={:?} ods={:?} created={:?} items={} dups={} {:?} {:.1}MB/s", ex.kind, ex.message_id, ex.nhs_numbers.len(), ex.practice_ods, ex.created.value().map(|t|t.fhir()), ex.items.len(), ex.duplicate_ids.len(), counts, len as f64/el.as_secs_f64()/1e6);
            }
            Err(e) => println!("{p}: ERR {e}"),
        }
    }
}
