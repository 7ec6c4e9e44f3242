//! An entry with the big arrays of its resource cut into chunks ([`super::BundleCheck::entry_of`]):
//! read from the entry's compact JSON, each big array held as the JSON text of its items
//! (borrowed from the serialisation), only one chunk of them a tree at a time.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::super::{links::Links, schemas, Profile};

/// A JSON object's fields in order, each value as its JSON text.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(Each)
    }
}

/// One big array of the resource: its field and its items' JSON text.
struct Big<'a> {
    key: String,
    items: Vec<&'a RawValue>,
}

pub(super) struct Split<'a> {
    /// The entry, each big array of its resource holding its first chunk.
    stub: Value,
    bigs: Vec<Big<'a>>,
    chunk: usize,
}

fn parse(items: &[&RawValue]) -> Result<Vec<Value>, serde_json::Error> {
    items
        .iter()
        .map(|r| serde_json::from_str(r.get()))
        .collect()
}

impl<'a> Split<'a> {
    /// The entry in `bytes` (its compact JSON) split, when its resource (an object) has an
    /// array of more than `chunk` items and every such array may be checked in chunks under
    /// `profile`; else `None` (the entry is checked whole).
    pub(super) fn of(bytes: &'a [u8], chunk: usize, profile: Profile) -> Option<Split<'a>> {
        let entry: Fields<'a> = serde_json::from_slice(bytes).ok()?;
        let resource = entry.0.iter().find(|(k, _)| k == "resource")?.1;
        if !resource.get().starts_with('{') {
            return None;
        }
        let fields: Fields<'a> = serde_json::from_str(resource.get()).ok()?;
        let mut bigs = Vec::new();
        for (k, raw) in &fields.0 {
            if raw.get().starts_with('[') {
                let items: Vec<&'a RawValue> = serde_json::from_str(raw.get()).ok()?;
                if items.len() > chunk {
                    bigs.push(Big {
                        key: k.clone(),
                        items,
                    });
                }
            }
        }
        if bigs.is_empty() || !bigs.iter().all(|b| schemas::splittable(&b.key, profile)) {
            return None;
        }
        let mut res = Map::new();
        for (k, raw) in fields.0 {
            let v = match bigs.iter().find(|b| b.key == k) {
                Some(b) => Value::Array(parse(&b.items[..chunk]).ok()?),
                None => serde_json::from_str(raw.get()).ok()?,
            };
            res.insert(k, v);
        }
        let mut stub = Map::new();
        for (k, raw) in entry.0 {
            let v = match k.as_str() {
                "resource" => Value::Object(std::mem::take(&mut res)),
                _ => serde_json::from_str(raw.get()).ok()?,
            };
            stub.insert(k, v);
        }
        Some(Split {
            stub: Value::Object(stub),
            bigs,
            chunk,
        })
    }

    /// The entry with each big array at its first chunk.
    pub(super) fn first(&self) -> &Value {
        &self.stub
    }

    /// `check` on the entry with each chunk of each big array in turn (the others at their
    /// first chunk), the first call (`true`) on [`Split::first`]; `false` as soon as a call
    /// is.
    pub(super) fn each_chunk(
        &mut self,
        check: &mut dyn FnMut(&Value, bool) -> bool,
    ) -> Result<bool, serde_json::Error> {
        if !check(&self.stub, true) {
            return Ok(false);
        }
        let chunk = self.chunk;
        for b in &self.bigs {
            for part in b.items.chunks(chunk).skip(1) {
                let items = parse(part)?;
                let Some(slot) = self
                    .stub
                    .get_mut("resource")
                    .and_then(|r| r.get_mut(b.key.as_str()))
                else {
                    return Ok(false);
                };
                let first = std::mem::replace(slot, Value::Array(items));
                let clean = check(&self.stub, false);
                if let Some(slot) = self
                    .stub
                    .get_mut("resource")
                    .and_then(|r| r.get_mut(b.key.as_str()))
                {
                    *slot = first;
                }
                if !clean {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// What the whole entry gives [`Links`]: its fields in order, a big array chunk by chunk.
    pub(super) fn links(&self, links: &mut Links) -> Result<(), serde_json::Error> {
        let resource = links.begin(&self.stub).and_then(Value::as_object);
        for (k, v) in resource.into_iter().flatten() {
            match self.bigs.iter().find(|b| &b.key == k) {
                Some(b) => {
                    for (c, part) in b.items.chunks(self.chunk).enumerate() {
                        links.items(k, c * self.chunk, &parse(part)?);
                    }
                }
                None => links.field(k, v),
            }
        }
        links.end();
        Ok(())
    }
}
