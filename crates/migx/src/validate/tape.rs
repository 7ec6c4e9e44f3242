//! One bundle entry as a flat *tape*, for the per-entry validation net of `migx convert`
//! ([`super::BundleCheck::entry_of`]): made by a `serde::Serializer` straight from the typed
//! entry, with no tree of `serde_json::Value` and no allocation per node (the nodes in one
//! reused `Vec`, in document order; the strings in one reused buffer; an object's keys are the
//! `&'static str` field names serde gives). The compiled schemas read it through
//! [`TapeJson`], the same schemas that judge a tree.
//!
//! The tape holds exactly the tree `serde_json::to_value` makes of the entry: the same
//! members in the same order, the same numbers (`serde_json::Number` made as its value
//! serializer makes them: an integer type as an integer, a float as a float, a non-finite
//! float as `null`). What it cannot hold exactly (a raw JSON value, a map key that is not a
//! string, an integer wider than 64 bits, an object with a key twice: the tree keeps the
//! first place and the last value) and an array longer than the recorder's bound make
//! [`Tape::record`] fail, and the caller checks the entry's tree instead.

use std::borrow::Cow;

use jsonschema::json::{cmp, Array, Json, Node, NodeIdentity, Object};
use jsonschema::types::JsonType;
use serde::ser::{self, Serialize};
use serde_json::{Number, Value};

/// A string of the tape: a field name serde gives, or text copied into [`Tape::text`].
#[derive(Clone, Copy, Debug)]
enum Text {
    Static(&'static str),
    Copied { start: u32, len: u32 },
}

/// What one node is. A container counts its members and knows where its last descendant
/// ends, so that a walk steps over it without reading it.
#[derive(Clone, Debug)]
enum Datum {
    Null,
    Bool(bool),
    Number(Number),
    Str(Text),
    Array { len: u32, end: u32 },
    Object { len: u32, end: u32 },
}

/// One node: its name in the enclosing object (unread in an array) and what it is.
#[derive(Clone, Debug)]
struct Slot {
    key: Text,
    datum: Datum,
}

/// The tape of one value (its root is node 0), reused from entry to entry.
#[derive(Default, Debug)]
pub(crate) struct Tape {
    slots: Vec<Slot>,
    text: String,
}

/// Why a value was not recorded (the caller checks its tree instead).
#[derive(Debug)]
pub(crate) struct NotRecorded;

impl std::fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the value is not recorded on the tape")
    }
}

impl std::error::Error for NotRecorded {}

impl ser::Error for NotRecorded {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotRecorded
    }
}

fn u32_of(n: usize) -> Result<u32, NotRecorded> {
    u32::try_from(n).map_err(|_| NotRecorded)
}

impl Tape {
    fn clear(&mut self) {
        self.slots.clear();
        self.text.clear();
    }

    /// Record `value`, as the tree `serde_json::to_value` makes of it, with no array of more
    /// than `max_items` items.
    pub(crate) fn record<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        max_items: usize,
    ) -> Result<(), NotRecorded> {
        self.clear();
        let mut recorder = Recorder {
            tape: self,
            key: Text::Static(""),
            max_items,
        };
        value.serialize(&mut recorder)
    }

    /// The root node (the tape must hold a recorded value).
    pub(crate) fn root(&self) -> At<'_> {
        At { tape: self, i: 0 }
    }

    /// The heap the tape holds (to drop one grown by an unusually big entry).
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.text.capacity()
    }

    fn str_of(&self, t: Text) -> &str {
        match t {
            Text::Static(s) => s,
            Text::Copied { start, len } => {
                let start = start as usize;
                self.text
                    .get(start..start + len as usize)
                    .unwrap_or_default()
            }
        }
    }

    fn copy(&mut self, s: &str) -> Result<Text, NotRecorded> {
        let start = u32_of(self.text.len())?;
        self.text.push_str(s);
        Ok(Text::Copied {
            start,
            len: u32_of(s.len())?,
        })
    }

    /// The node after node `i` and all its descendants.
    fn after(&self, i: u32) -> u32 {
        match self.slots[i as usize].datum {
            Datum::Array { end, .. } | Datum::Object { end, .. } => end,
            _ => i + 1,
        }
    }
}

/// The serializer writing one value onto a tape.
struct Recorder<'t> {
    tape: &'t mut Tape,
    /// The name the next node takes (the field or key being serialised).
    key: Text,
    max_items: usize,
}

impl<'t> Recorder<'t> {
    fn push(&mut self, datum: Datum) -> Result<(), NotRecorded> {
        let key = std::mem::replace(&mut self.key, Text::Static(""));
        self.tape.slots.push(Slot { key, datum });
        Ok(())
    }

    fn string(&mut self, s: &str) -> Result<(), NotRecorded> {
        let t = self.tape.copy(s)?;
        self.push(Datum::Str(t))
    }

    fn open(&mut self, object: bool) -> Result<Open<'_, 't>, NotRecorded> {
        let at = self.tape.slots.len();
        self.push(match object {
            true => Datum::Object { len: 0, end: 0 },
            false => Datum::Array { len: 0, end: 0 },
        })?;
        Ok(Open {
            rec: self,
            at,
            len: 0,
        })
    }

    /// `{variant: <what follows>}`, as serde_json writes an enum's newtype, tuple and struct
    /// variants; the member is opened by the caller.
    fn variant(&mut self, variant: &'static str) -> Result<usize, NotRecorded> {
        let at = self.tape.slots.len();
        self.push(Datum::Object { len: 1, end: 0 })?;
        self.key = Text::Static(variant);
        Ok(at)
    }

    fn close_variant(&mut self, at: usize) -> Result<(), NotRecorded> {
        let end = u32_of(self.tape.slots.len())?;
        if let Datum::Object { end: e, .. } = &mut self.tape.slots[at].datum {
            *e = end;
        }
        Ok(())
    }
}

/// An array or object being recorded: its node and how many members it has so far.
struct Open<'r, 't> {
    rec: &'r mut Recorder<'t>,
    at: usize,
    len: usize,
}

impl Open<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.len += 1;
        if self.len > self.rec.max_items {
            return Err(NotRecorded);
        }
        value.serialize(&mut *self.rec)
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotRecorded> {
        self.rec.key = Text::Static(key);
        self.len += 1;
        value.serialize(&mut *self.rec)
    }

    fn close(self) -> Result<(), NotRecorded> {
        close(self.rec, self.at, self.len)
    }
}

/// The end of the container at `at` with `members` members.
fn close(rec: &mut Recorder<'_>, at: usize, members: usize) -> Result<(), NotRecorded> {
    let tape = &mut *rec.tape;
    let end = u32_of(tape.slots.len())?;
    let len = u32_of(members)?;
    let object = matches!(tape.slots[at].datum, Datum::Object { .. });
    if object && members > 1 {
        // A key twice: the tree keeps one member (the first place, the last value).
        // Pairwise, without a set: an entry's objects have a few members each.
        let mut i = u32_of(at + 1)?;
        while i < end {
            let k = tape.str_of(tape.slots[i as usize].key);
            let mut j = tape.after(i);
            while j < end {
                if tape.str_of(tape.slots[j as usize].key) == k {
                    return Err(NotRecorded);
                }
                j = tape.after(j);
            }
            i = tape.after(i);
        }
    }
    tape.slots[at].datum = match object {
        true => Datum::Object { len, end },
        false => Datum::Array { len, end },
    };
    Ok(())
}

/// The variant forms whose member is closed after the inner container.
struct Variant<'r, 't> {
    open: Open<'r, 't>,
    outer: usize,
}

impl<'r, 't> ser::Serializer for &'r mut Recorder<'t> {
    type Ok = ();
    type Error = NotRecorded;
    type SerializeSeq = Open<'r, 't>;
    type SerializeTuple = Open<'r, 't>;
    type SerializeTupleStruct = Open<'r, 't>;
    type SerializeTupleVariant = Variant<'r, 't>;
    type SerializeMap = Open<'r, 't>;
    type SerializeStruct = Open<'r, 't>;
    type SerializeStructVariant = Variant<'r, 't>;

    fn serialize_bool(self, v: bool) -> Result<(), NotRecorded> {
        self.push(Datum::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), NotRecorded> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), NotRecorded> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), NotRecorded> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), NotRecorded> {
        self.push(Datum::Number(v.into()))
    }
    fn serialize_u8(self, v: u8) -> Result<(), NotRecorded> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), NotRecorded> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), NotRecorded> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), NotRecorded> {
        self.push(Datum::Number(v.into()))
    }
    fn serialize_f32(self, v: f32) -> Result<(), NotRecorded> {
        // As `Value::from(f32)`: the float widened, `null` when not finite.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), NotRecorded> {
        self.push(Number::from_f64(v).map_or(Datum::Null, Datum::Number))
    }
    fn serialize_char(self, v: char) -> Result<(), NotRecorded> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), NotRecorded> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), NotRecorded> {
        use ser::SerializeSeq as _;
        let mut seq = self.open(false)?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), NotRecorded> {
        self.push(Datum::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotRecorded> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), NotRecorded> {
        self.push(Datum::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotRecorded> {
        self.push(Datum::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotRecorded> {
        self.push(Datum::Str(Text::Static(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotRecorded> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), NotRecorded> {
        let at = self.variant(variant)?;
        value.serialize(&mut *self)?;
        self.close_variant(at)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Open<'r, 't>, NotRecorded> {
        self.open(false)
    }
    fn serialize_tuple(self, _: usize) -> Result<Open<'r, 't>, NotRecorded> {
        self.open(false)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Open<'r, 't>, NotRecorded> {
        self.open(false)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Variant<'r, 't>, NotRecorded> {
        let outer = self.variant(variant)?;
        Ok(Variant {
            open: self.open(false)?,
            outer,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Open<'r, 't>, NotRecorded> {
        self.open(true)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Open<'r, 't>, NotRecorded> {
        // serde_json's raw JSON text (`RawValue`) comes as a struct of this name: its tree is
        // the text parsed, which the tape does not do.
        if name == "$serde_json::private::RawValue" {
            return Err(NotRecorded);
        }
        self.open(true)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Variant<'r, 't>, NotRecorded> {
        let outer = self.variant(variant)?;
        Ok(Variant {
            open: self.open(true)?,
            outer,
        })
    }
}

impl ser::SerializeSeq for Open<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        self.close()
    }
}

impl ser::SerializeTuple for Open<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Open<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        self.close()
    }
}

impl ser::SerializeStruct for Open<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotRecorded> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        self.close()
    }
}

impl ser::SerializeMap for Open<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotRecorded> {
        self.rec.key = key.serialize(KeyName(&mut *self.rec.tape))?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.len += 1;
        value.serialize(&mut *self.rec)
    }
    fn end(self) -> Result<(), NotRecorded> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Variant<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRecorded> {
        self.open.element(value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        let Variant {
            open: Open { rec, at, len },
            outer,
        } = self;
        close(rec, at, len)?;
        rec.close_variant(outer)
    }
}

impl ser::SerializeStructVariant for Variant<'_, '_> {
    type Ok = ();
    type Error = NotRecorded;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotRecorded> {
        self.open.field(key, value)
    }
    fn end(self) -> Result<(), NotRecorded> {
        let Variant {
            open: Open { rec, at, len },
            outer,
        } = self;
        close(rec, at, len)?;
        rec.close_variant(outer)
    }
}

/// A map key: only a string (or a char) is taken as one; serde_json's other key forms (numbers,
/// booleans written as text) are left to the tree.
/// The key is copied onto the tape's text (a unit variant's name is kept as the `&'static
/// str` it is), with no `String` of its own.
struct KeyName<'t>(&'t mut Tape);

impl ser::Serializer for KeyName<'_> {
    type Ok = Text;
    type Error = NotRecorded;
    type SerializeSeq = ser::Impossible<Text, NotRecorded>;
    type SerializeTuple = ser::Impossible<Text, NotRecorded>;
    type SerializeTupleStruct = ser::Impossible<Text, NotRecorded>;
    type SerializeTupleVariant = ser::Impossible<Text, NotRecorded>;
    type SerializeMap = ser::Impossible<Text, NotRecorded>;
    type SerializeStruct = ser::Impossible<Text, NotRecorded>;
    type SerializeStructVariant = ser::Impossible<Text, NotRecorded>;

    fn serialize_str(self, v: &str) -> Result<Text, NotRecorded> {
        self.0.copy(v)
    }
    fn serialize_char(self, v: char) -> Result<Text, NotRecorded> {
        self.0.copy(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Text, NotRecorded> {
        Ok(Text::Static(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Text, NotRecorded> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_i8(self, _: i8) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_i16(self, _: i16) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_i32(self, _: i32) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_i64(self, _: i64) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_u8(self, _: u8) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_u16(self, _: u16) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_u32(self, _: u32) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_u64(self, _: u64) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_f32(self, _: f32) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_f64(self, _: f64) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_none(self) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_unit(self) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Text, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotRecorded> {
        Err(NotRecorded)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotRecorded> {
        Err(NotRecorded)
    }
}

/// The tape as the compiled schemas read it.
pub(crate) struct TapeJson;

/// One node of a tape.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    tape: &'a Tape,
    i: u32,
}

impl<'a> At<'a> {
    fn slot(&self) -> &'a Slot {
        &self.tape.slots[self.i as usize]
    }

    /// The node's members (an object's or an array's), each with its name.
    fn children(&self, len: u32) -> Children<'a> {
        Children {
            tape: self.tape,
            next: self.i + 1,
            left: len,
        }
    }

    /// The node as a tree (for error reports and the tests).
    pub(crate) fn to_tree(self) -> Value {
        match &self.slot().datum {
            Datum::Null => Value::Null,
            Datum::Bool(b) => Value::Bool(*b),
            Datum::Number(n) => Value::Number(n.clone()),
            Datum::Str(t) => Value::String(self.tape.str_of(*t).to_string()),
            Datum::Array { len, .. } => {
                Value::Array(self.children(*len).map(|(_, v)| v.to_tree()).collect())
            }
            Datum::Object { len, .. } => Value::Object(
                self.children(*len)
                    .map(|(k, v)| (k.to_string(), v.to_tree()))
                    .collect(),
            ),
        }
    }
}

/// The members of a container, in order.
pub(crate) struct Children<'a> {
    tape: &'a Tape,
    next: u32,
    left: u32,
}

impl<'a> Iterator for Children<'a> {
    type Item = (&'a str, At<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let i = self.next;
        self.next = self.tape.after(i);
        let key = self.tape.str_of(self.tape.slots[i as usize].key);
        Some((key, At { tape: self.tape, i }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// An object node.
#[derive(Clone, Copy)]
pub(crate) struct TapeObject<'a> {
    at: At<'a>,
    len: u32,
}

/// An array node.
#[derive(Clone, Copy)]
pub(crate) struct TapeArray<'a> {
    at: At<'a>,
    len: u32,
}

/// An array's items.
pub(crate) struct Items<'a>(Children<'a>);

impl<'a> Iterator for Items<'a> {
    type Item = At<'a>;
    fn next(&mut self) -> Option<At<'a>> {
        self.0.next().map(|(_, v)| v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl Json for TapeJson {
    type Node<'a> = At<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = Tape;

    // A lookup scans the members, as serde_json's small ordered maps do.
    const KEYS_PER_LOOKUP: usize = 2;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> Box<str> {
        key.into()
    }

    fn with_string_node<T>(buffer: &mut Tape, string: &str, f: impl FnOnce(At<'_>) -> T) -> T {
        buffer.clear();
        buffer.text.push_str(string);
        let datum = match u32::try_from(string.len()) {
            Ok(len) => Datum::Str(Text::Copied { start: 0, len }),
            Err(_) => Datum::Null,
        };
        buffer.slots.push(Slot {
            key: Text::Static(""),
            datum,
        });
        f(buffer.root())
    }
}

impl<'a> Node<'a, TapeJson> for At<'a> {
    type Object = TapeObject<'a>;
    type Array = TapeArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<TapeObject<'a>> {
        match self.slot().datum {
            Datum::Object { len, .. } => Some(TapeObject { at: *self, len }),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<TapeArray<'a>> {
        match self.slot().datum {
            Datum::Array { len, .. } => Some(TapeArray { at: *self, len }),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self.slot().datum {
            Datum::Str(t) => Some(Cow::Borrowed(self.tape.str_of(t))),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match &self.slot().datum {
            Datum::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.slot().datum {
            Datum::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.slot().datum, Datum::Null)
    }

    fn is_number(&self) -> bool {
        matches!(self.slot().datum, Datum::Number(_))
    }

    fn is_string(&self) -> bool {
        matches!(self.slot().datum, Datum::Str(_))
    }

    fn json_type(&self) -> JsonType {
        match self.slot().datum {
            Datum::Null => JsonType::Null,
            Datum::Bool(_) => JsonType::Boolean,
            Datum::Number(_) => JsonType::Number,
            Datum::Str(_) => JsonType::String,
            Datum::Array { .. } => JsonType::Array,
            Datum::Object { .. } => JsonType::Object,
        }
    }

    fn string_length(&self) -> Option<u64> {
        self.as_string().map(|s| s.chars().count() as u64)
    }

    fn string_length_within(&self, min: u64, max: u64) -> Option<bool> {
        let s = self.as_string()?;
        // A code point takes one to four bytes: the count lies in `ceil(bytes / 4)..=bytes`.
        let bytes = s.len() as u64;
        let fewest = bytes.div_ceil(4);
        if bytes < min || fewest > max {
            return Some(false);
        }
        if min <= fewest && bytes <= max {
            return Some(true);
        }
        Some((min..=max).contains(&(s.chars().count() as u64)))
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (&self.slot().datum, expected) {
            (Datum::Str(t), Value::String(e)) => self.tape.str_of(*t) == e.as_str(),
            (Datum::Number(n), Value::Number(e)) => cmp::equal_numbers(n, e),
            (Datum::Bool(b), Value::Bool(e)) => b == e,
            (Datum::Null, Value::Null) => true,
            (Datum::Array { .. } | Datum::Object { .. }, Value::Array(_) | Value::Object(_)) => {
                cmp::equal(&self.to_tree(), expected)
            }
            _ => false,
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.to_tree())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::tagged(
            std::ptr::from_ref::<Tape>(self.tape) as usize,
            self.i,
        ))
    }
}

impl<'a> Object<'a, TapeJson> for TapeObject<'a> {
    type Node = At<'a>;
    type MemberName = &'a str;
    type MembersIter = Children<'a>;

    fn len(&self) -> usize {
        self.len as usize
    }

    fn get(&self, key: &Box<str>) -> Option<At<'a>> {
        self.members().find(|(k, _)| *k == &**key).map(|(_, v)| v)
    }

    fn members(&self) -> Children<'a> {
        self.at.children(self.len)
    }
}

impl<'a> Array<'a, TapeJson> for TapeArray<'a> {
    type Node = At<'a>;
    type ElementsIter = Items<'a>;

    fn len(&self) -> usize {
        self.len as usize
    }

    fn elements(&self) -> Items<'a> {
        Items(self.at.children(self.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree_of<T: Serialize>(v: &T) -> Option<Value> {
        let mut tape = Tape::default();
        tape.record(v, usize::MAX).ok()?;
        Some(tape.root().to_tree())
    }

    /// Every serde form the tape records gives back the tree `serde_json::to_value` makes,
    /// numbers of every kind included; what it cannot hold exactly is refused.
    #[test]
    fn the_tape_holds_the_tree_to_value_makes() {
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(i32, String),
            Struct { a: Option<f32>, b: () },
        }
        #[derive(serde::Serialize)]
        struct S<'a> {
            text: &'a str,
            ch: char,
            n: [i64; 4],
            u: u64,
            f: [f64; 5],
            e: Vec<E>,
            m: std::collections::BTreeMap<&'a str, Vec<bool>>,
            none: Option<u8>,
            nested: Vec<Vec<serde_json::Value>>,
            bytes: serde_json::Value,
        }
        let s = S {
            text: "héllo \"quoted\" \u{1F980}",
            ch: 'é',
            n: [0, -1, i64::MIN, i64::MAX],
            u: u64::MAX,
            f: [1.5, 3.0, 1e300, f64::NAN, -0.0],
            e: vec![
                E::Unit,
                E::New(7),
                E::Tuple(-3, "x".into()),
                E::Struct {
                    a: Some(0.1),
                    b: (),
                },
                E::Struct { a: None, b: () },
            ],
            m: [("z", vec![true]), ("a", vec![]), ("", vec![false, true])]
                .into_iter()
                .collect(),
            none: None,
            nested: vec![vec![], vec![json!({"k": [1, {"x": null}]}), json!("s")]],
            bytes: json!([1, 2.5, -7, "t", {"": {}}]),
        };
        assert_eq!(tree_of(&s), Some(serde_json::to_value(&s).unwrap()));
        for v in [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({}),
            json!(2.5e-8),
        ] {
            assert_eq!(tree_of(&v), Some(v.clone()));
        }
        // A key twice, a number key, a 128-bit integer, raw JSON text: left to the tree.
        let twice: Vec<(&str, u8)> = vec![("a", 1), ("b", 2), ("a", 3)];
        struct Pairs(Vec<(&'static str, u8)>);
        impl Serialize for Pairs {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        assert!(tree_of(&Pairs(twice)).is_none());
        let number_key: std::collections::BTreeMap<u8, u8> = [(1, 2)].into_iter().collect();
        assert!(tree_of(&number_key).is_none());
        assert!(tree_of(&u128::MAX).is_none());
        let raw = serde_json::value::RawValue::from_string("[1]".into()).unwrap();
        assert!(tree_of(&raw).is_none());
        // An array past the bound.
        let mut tape = Tape::default();
        assert!(tape.record(&vec![0u8; 9], 8).is_err());
        assert!(tape.record(&vec![vec![0u8; 8]; 8], 8).is_ok());
    }

    /// The accessors the validator relies on (`jsonschema`'s own contract, read from its
    /// conformance document): types, strings, numbers, members in order, lookups, equality,
    /// identity.
    #[test]
    fn the_tape_reads_as_the_tree() {
        let doc = json!({
            "string": "héllo",
            "integer": 42,
            "float": 1.5,
            "boolean": true,
            "null": null,
            "array": [10, 20, 30],
            "duplicates": [1, {"a": 1}, {"a": 1}],
            "object": {"nested": "value"}
        });
        let mut tape = Tape::default();
        tape.record(&doc, usize::MAX).unwrap();
        let root = tape.root();
        let object = root.as_object().unwrap();
        assert_eq!(Object::len(&object), 8);
        let names: Vec<&str> = object.members().map(|(k, _)| k).collect();
        let tree_names: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(names, tree_names);
        let get = |k: &str| object.get(&TapeJson::prepare_key(k));
        assert!(get("missing").is_none());
        assert_eq!(get("string").unwrap().as_string().as_deref(), Some("héllo"));
        assert_eq!(get("string").unwrap().string_length(), Some(5));
        assert_eq!(
            get("string").unwrap().string_length_within(5, 5),
            Some(true)
        );
        assert_eq!(
            get("string").unwrap().string_length_within(6, 9),
            Some(false)
        );
        assert_eq!(
            get("integer").unwrap().as_number().unwrap().as_u64(),
            Some(42)
        );
        assert_eq!(
            get("float").unwrap().as_number().unwrap().as_f64(),
            Some(1.5)
        );
        assert_eq!(get("boolean").unwrap().as_boolean(), Some(true));
        assert!(get("null").unwrap().is_null());
        let array = get("array").unwrap().as_array().unwrap();
        let items: Vec<Option<u64>> = array
            .elements()
            .map(|n| n.as_number().and_then(|n| n.as_u64()))
            .collect();
        assert_eq!(items, [Some(10), Some(20), Some(30)]);
        assert_eq!(
            get("object")
                .unwrap()
                .as_object()
                .unwrap()
                .get(&TapeJson::prepare_key("nested"))
                .unwrap()
                .as_string()
                .as_deref(),
            Some("value")
        );
        assert!(get("integer").unwrap().equals_value(&json!(42.0)));
        assert!(!get("integer").unwrap().equals_value(&json!("42")));
        assert!(get("duplicates").unwrap().equals_value(&doc["duplicates"]));
        assert!(get("object")
            .unwrap()
            .equals_value(&json!({"nested": "value"})));
        assert_eq!(root.identity(), root.identity());
        assert_ne!(root.identity(), get("object").unwrap().identity());
        let mut buffer = Tape::default();
        for s in ["héllo", "", "second"] {
            TapeJson::with_string_node(&mut buffer, s, |n| {
                assert_eq!(n.json_type(), JsonType::String);
                assert_eq!(n.as_string().as_deref(), Some(s));
            });
        }
        assert_eq!(root.to_tree(), doc);
    }
}
