//! The reader's serde `Deserializer` over one value at one path, with the table, array and
//! enum accesses it hands to visitors.

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer};
use serde_json::{Map, Value};

use super::error::{Error, Site, alternatives, at, value_kind};
use super::{Ctx, Path, Seg, child};

#[derive(Clone, Copy)]
pub(super) enum Node<'de> {
    Value(&'de Value),
    /// Stands for a missing or bad value: the emptiest value of whatever type is asked for.
    Placeholder,
}

/// The deserializer of one value at one path.
pub(super) struct De<'de> {
    pub(super) node: Node<'de>,
    pub(super) path: Path,
    pub(super) cx: &'de Ctx<'de>,
    /// The keys of the struct this value is a field of; `None` when it is not a field.
    pub(super) known: Option<&'static [&'static str]>,
}

impl<'de> De<'de> {
    fn value(&self) -> Option<&'de Value> {
        match self.node {
            Node::Value(v) => Some(v),
            Node::Placeholder => None,
        }
    }

    /// The value, when it is of the kind `want` accepts; else the error saying so.
    fn want(&self, want: &str, ok: impl Fn(&Value) -> bool) -> Result<Option<&'de Value>, Error> {
        match self.value() {
            Some(v) if !ok(v) => Err(Error::problem(format!(
                "expected {want}, found {}",
                value_kind(v)
            ))),
            other => Ok(other),
        }
    }

    fn entries(
        &self,
        table: Option<&'de Map<String, Value>>,
        known: Option<&'static [&'static str]>,
    ) -> Entries<'de> {
        let mut items: Vec<(String, Node<'de>)> = Vec::new();
        for (key, value) in table.into_iter().flatten() {
            if self.path.is_empty() && self.cx.host_keys.contains(key) {
                continue;
            }
            let path = child(&self.path, Seg::Key(key.clone()));
            if self.cx.placeholders.contains(&path) {
                items.push((key.clone(), Node::Placeholder));
            } else if !self.cx.skip.contains(&path) {
                items.push((key.clone(), Node::Value(value)));
            }
        }
        for path in self.cx.placeholders {
            if let Some((Seg::Key(key), parent)) = path.split_last()
                && parent == self.path.as_slice()
                && !table.is_some_and(|t| t.contains_key(key))
            {
                items.push((key.clone(), Node::Placeholder));
            }
        }
        Entries {
            items: items.into_iter(),
            value: None,
            path: self.path.clone(),
            cx: self.cx,
            known,
        }
    }

    fn elements(&self, items: &'de [Value]) -> Elements<'de> {
        Elements {
            items: items.iter().enumerate(),
            path: self.path.clone(),
            cx: self.cx,
        }
    }
}

fn is_integer(v: &Value) -> bool {
    v.as_i64().is_some() || v.as_u64().is_some()
}

impl<'de> de::Deserializer<'de> for De<'de> {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Some(value) = self.value() else {
            return visitor.visit_unit();
        };
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (_, Some(i), _) => visitor.visit_i64(i),
                (_, _, f) => visitor.visit_f64(f.unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(self.elements(items)),
            Value::Object(table) => visitor.visit_map(self.entries(Some(table), None)),
        }
    }

    fn deserialize_bool<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.want("true or false", Value::is_boolean)? {
            None => visitor.visit_bool(false),
            Some(_) => self.deserialize_any(visitor),
        }
    }

    fn deserialize_i64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.want("an integer", is_integer)? {
            None => visitor.visit_u64(0),
            Some(_) => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.want("a number", Value::is_number)? {
            None => visitor.visit_f64(0.0),
            Some(v) => visitor.visit_f64(v.as_f64().unwrap_or(f64::NAN)),
        }
    }

    fn deserialize_str<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.want("a string", Value::is_string)? {
            Some(Value::String(s)) => visitor.visit_borrowed_str(s),
            _ => visitor.visit_str(""),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            None | Some(Value::Null) => visitor.visit_none(),
            Some(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.want("nothing", Value::is_null)?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.want("an array", Value::is_array)? {
            Some(Value::Array(items)) => visitor.visit_seq(self.elements(items)),
            _ => visitor.visit_seq(self.elements(&[])),
        }
    }

    fn deserialize_tuple<V: de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let table = self
            .want("a table", Value::is_object)?
            .and_then(Value::as_object);
        visitor.visit_map(self.entries(table, None))
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let table = self
            .want("a table", Value::is_object)?
            .and_then(Value::as_object);
        visitor.visit_map(self.entries(table, Some(fields)))
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value() {
            None => {
                let first = variants.first().copied().unwrap_or_default();
                visitor.visit_enum(first.into_deserializer())
            }
            Some(Value::String(s)) => visitor.visit_enum(s.as_str().into_deserializer()),
            Some(Value::Object(t)) if t.len() == 1 => match t.iter().next() {
                Some((variant, content)) => visitor.visit_enum(Variant {
                    variant: variant.clone(),
                    content: De {
                        node: Node::Value(content),
                        path: child(&self.path, Seg::Key(variant.clone())),
                        cx: self.cx,
                        known: None,
                    },
                }),
                None => Err(Error::problem("expected a variant")),
            },
            Some(v) => Err(Error::problem(format!(
                "expected {}, found {}",
                alternatives(variants),
                value_kind(v)
            ))),
        }
    }

    fn deserialize_ignored_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let (Some(known), Node::Value(_)) = (self.known, self.node) {
            self.cx
                .ignored
                .borrow_mut()
                .push((self.path.clone(), known));
        }
        visitor.visit_unit()
    }

    fn deserialize_i8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_f32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }
    fn deserialize_char<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_string<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_identifier<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_bytes<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
    fn deserialize_byte_buf<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

/// A table's keys, in order, as serde's `MapAccess`.
struct Entries<'de> {
    items: std::vec::IntoIter<(String, Node<'de>)>,
    value: Option<(Path, Node<'de>)>,
    path: Path,
    cx: &'de Ctx<'de>,
    known: Option<&'static [&'static str]>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = child(&self.path, Seg::Key(key.clone()));
        let key = at(
            seed.deserialize(StringDeserializer::<Error>::new(key)),
            &path,
            Site::Field,
        )?;
        self.value = Some((path, node));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((path, node)) = self.value.take() else {
            return Err(Error::problem("a value without its key"));
        };
        let de = De {
            node,
            path: path.clone(),
            cx: self.cx,
            known: self.known,
        };
        at(seed.deserialize(de), &path, Site::Field)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An array's elements, as serde's `SeqAccess`.
struct Elements<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: Path,
    cx: &'de Ctx<'de>,
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = child(&self.path, Seg::Index(i));
        let node = if self.cx.placeholders.contains(&path) {
            Node::Placeholder
        } else {
            Node::Value(value)
        };
        let de = De {
            node,
            path: path.clone(),
            cx: self.cx,
            known: None,
        };
        at(seed.deserialize(de), &path, Site::Element).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An enum written as a one-key table (`{ variant = content }`).
struct Variant<'de> {
    variant: String,
    content: De<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = De<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De<'de>), Error> {
        let variant = seed.deserialize(StringDeserializer::<Error>::new(self.variant))?;
        Ok((variant, self.content))
    }
}

impl<'de> de::VariantAccess<'de> for De<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Err(Error::problem(
            "expected the variant's name alone (a string)",
        ))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let path = self.path.clone();
        at(seed.deserialize(self), &path, Site::Other)
    }

    fn tuple_variant<V: de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path.clone();
        at(
            de::Deserializer::deserialize_seq(self, visitor),
            &path,
            Site::Other,
        )
    }

    fn struct_variant<V: de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path.clone();
        at(
            de::Deserializer::deserialize_struct(self, "", fields, visitor),
            &path,
            Site::Other,
        )
    }
}
