//! Emits the Rust type of every declared value type, its `TYPE_HASH`, and `AnyValue`.
//! Must never emit a type whose `serde` encoding differs from the ETE layout.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;

use super::{CodegenError, DERIVES, Names, field_attribute, hash_literal, identifier, snake_case};
use crate::etn::Schema;
use crate::graph::{Kind, Member, NodeIndex};

pub(super) fn emit(
    schema: &Schema,
    names: &Names,
    output: &mut String,
) -> Result<(), CodegenError> {
    for declaration in &schema.declarations {
        let node = declaration.node;
        let Some(entry) = schema.graph.node(node) else {
            continue;
        };
        let name = names.of(node).unwrap_or_default();
        match &entry.kind {
            Kind::Interface { .. } => continue,
            Kind::Struct { fields } => emit_struct(schema, names, name, fields, output)?,
            Kind::Union { variants } => {
                output.push_str(&format!("/// ETN union `{}`.\n", declaration.name));
                output.push_str(DERIVES);
                output.push_str(&format!("pub enum {name} {{\n"));
                let mut seen = BTreeSet::new();
                for variant in variants.iter() {
                    let variant_name = identifier(&variant.name)?;
                    if !seen.insert(variant_name.clone()) {
                        return Err(CodegenError::NameCollision(variant_name));
                    }
                    let payload = names.rust_type(schema, variant.node);
                    let attribute = field_attribute(&payload);
                    output.push_str(&format!("    {variant_name}({attribute}{payload}),\n"));
                }
                output.push_str("}\n\n");
            }
            _ => {
                // Scalars, strings, `any`, arrays, tuples, optionals and aliases get a
                // newtype: `serde` encodes a newtype exactly as its content.
                let inner = names.kind_type(schema, node);
                output.push_str(&format!("/// ETN type `{}`.\n", declaration.name));
                output.push_str(DERIVES);
                let attribute = field_attribute(&inner);
                output.push_str(&format!("pub struct {name}({attribute}pub {inner});\n\n"));
            }
        }
        emit_hash(schema, name, node, output);
    }
    emit_any(schema, names, output);
    Ok(())
}

/// A struct with one public field per member, in order.
pub(super) fn emit_struct(
    schema: &Schema,
    names: &Names,
    name: &str,
    fields: &[Member<'_>],
    output: &mut String,
) -> Result<(), CodegenError> {
    output.push_str(&format!("/// ETN struct `{name}`.\n"));
    output.push_str(DERIVES);
    output.push_str(&format!("pub struct {name} {{\n"));
    let mut seen = BTreeSet::new();
    for field in fields {
        let field_name = snake_case(&field.name)?;
        if !seen.insert(field_name.clone()) {
            return Err(CodegenError::NameCollision(format!("{name}::{field_name}")));
        }
        let field_type = names.rust_type(schema, field.node);
        let attribute = field_attribute(&field_type);
        output.push_str(&format!("    {attribute}pub {field_name}: {field_type},\n"));
    }
    output.push_str("}\n\n");
    Ok(())
}

pub(super) fn emit_hash(schema: &Schema, name: &str, node: NodeIndex, output: &mut String) {
    let literal = hash_literal(schema, node);
    output.push_str(&format!(
        "impl {name} {{\n    /// This type's 64-byte identity.\n    pub const TYPE_HASH: ::ethos_typesys::TypeHash = {literal};\n}}\n\n"
    ));
    output.push_str(&format!(
        "impl ::ethos_typesys::EtnType for {name} {{\n    const TYPE_HASH: ::ethos_typesys::TypeHash = {name}::TYPE_HASH;\n}}\n\n"
    ));
}

/// `AnyValue`: one variant per named value type, encoded as the type's hash then the
/// value, and decoded by looking the hash up among the variants.
fn emit_any(schema: &Schema, names: &Names, output: &mut String) {
    let variants: alloc::vec::Vec<&str> = schema
        .declarations
        .iter()
        .filter(|declaration| {
            !matches!(
                schema.graph.node(declaration.node).map(|node| &node.kind),
                Some(Kind::Interface { .. })
            )
        })
        .filter_map(|declaration| names.of(declaration.node))
        .collect();
    output.push_str("/// A value of any named type of this schema: ETN `any`.\n");
    output.push_str("#[derive(Clone, Debug, PartialEq)]\npub enum AnyValue {\n");
    for variant in &variants {
        output.push_str(&format!(
            "    {variant}(::ethos_typesys::__private::Box<{variant}>),\n"
        ));
    }
    output.push_str("}\n\n");
    output.push_str("impl AnyValue {\n    /// The hash of the carried value's type.\n    pub fn type_hash(&self) -> ::ethos_typesys::TypeHash {\n        match *self {\n");
    for variant in &variants {
        output.push_str(&format!(
            "            AnyValue::{variant}(_) => {variant}::TYPE_HASH,\n"
        ));
    }
    output.push_str("        }\n    }\n\n");
    output.push_str("    /// Decodes `bytes` as exactly one value of the named type `type_hash` (no hash\n    /// in front); `None` when no type of this schema has that hash.\n    pub fn decode_as(type_hash: &::ethos_typesys::TypeHash, bytes: &[u8]) -> ::ethos_typesys::__private::Option<::ethos_typesys::__private::Result<AnyValue, ::ethos_typesys::wire::WireError>> {\n");
    for variant in &variants {
        output.push_str(&format!(
            "        if *type_hash == {variant}::TYPE_HASH {{\n            return Some(::ethos_typesys::wire::decode::<{variant}>(bytes).map(|value| AnyValue::{variant}(::ethos_typesys::__private::Box::new(value))));\n        }}\n"
        ));
    }
    output.push_str("        None\n    }\n\n");
    output.push_str("    /// Encodes the carried value alone, without its hash.\n    pub fn encode_value(&self) -> ::ethos_typesys::__private::Result<::ethos_typesys::__private::Vec<u8>, ::ethos_typesys::wire::WireError> {\n        match self {\n");
    for variant in &variants {
        output.push_str(&format!(
            "            AnyValue::{variant}(value) => ::ethos_typesys::wire::encode(&**value),\n"
        ));
    }
    output.push_str("        }\n    }\n}\n\n");
    output.push_str("impl ::ethos_typesys::serde::Serialize for AnyValue {\n    fn serialize<S: ::ethos_typesys::serde::Serializer>(&self, serializer: S) -> ::ethos_typesys::__private::Result<S::Ok, S::Error> {\n        use ::ethos_typesys::serde::ser::SerializeTuple as _;\n        let mut tuple = serializer.serialize_tuple(2)?;\n        tuple.serialize_element(&self.type_hash())?;\n        match self {\n");
    for variant in &variants {
        output.push_str(&format!(
            "            AnyValue::{variant}(value) => tuple.serialize_element(&**value)?,\n"
        ));
    }
    output.push_str("        }\n        tuple.end()\n    }\n}\n\n");
    output.push_str("struct AnyValueVisitor;\n\nimpl<'de> ::ethos_typesys::serde::de::Visitor<'de> for AnyValueVisitor {\n    type Value = AnyValue;\n\n    fn expecting(&self, formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {\n        formatter.write_str(\"a type hash and a value of that type\")\n    }\n\n    fn visit_seq<A: ::ethos_typesys::serde::de::SeqAccess<'de>>(self, mut sequence: A) -> ::ethos_typesys::__private::Result<AnyValue, A::Error> {\n        use ::ethos_typesys::serde::de::Error as _;\n        let hash: ::ethos_typesys::TypeHash = sequence.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;\n");
    for variant in &variants {
        output.push_str(&format!(
            "        if hash == {variant}::TYPE_HASH {{\n            let value: {variant} = sequence.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;\n            return Ok(AnyValue::{variant}(::ethos_typesys::__private::Box::new(value)));\n        }}\n"
        ));
    }
    output.push_str("        Err(A::Error::custom(\"the type hash of an `any` names no known type\"))\n    }\n}\n\n");
    output.push_str("impl<'de> ::ethos_typesys::serde::Deserialize<'de> for AnyValue {\n    fn deserialize<D: ::ethos_typesys::serde::Deserializer<'de>>(deserializer: D) -> ::ethos_typesys::__private::Result<Self, D::Error> {\n        deserializer.deserialize_tuple(2, AnyValueVisitor)\n    }\n}\n\n");
}
