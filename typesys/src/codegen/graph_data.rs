//! Emits the type graph as `static` data and `type_graph()`, which checks it and
//! computes the hashes the recognizer uses. Must emit exactly the parsed nodes.

use alloc::format;
use alloc::string::String;

use crate::etn::Schema;
use crate::graph::Kind;

pub(super) fn emit(schema: &Schema, output: &mut String) {
    let nodes = schema.graph.nodes();
    for (index, node) in nodes.iter().enumerate() {
        match &node.kind {
            Kind::Struct { fields: members } | Kind::Union { variants: members } => {
                output.push_str(&format!(
                    "static TYPE_NODE_{index}_MEMBERS: [::ethos_typesys::graph::Member<'static>; {}] = [\n",
                    members.len()
                ));
                for member in members.iter() {
                    output.push_str(&format!(
                        "    ::ethos_typesys::graph::Member {{ name: ::ethos_typesys::__private::Cow::Borrowed({:?}), node: {} }},\n",
                        member.name, member.node
                    ));
                }
                output.push_str("];\n");
            }
            Kind::Interface { methods } => {
                output.push_str(&format!(
                    "static TYPE_NODE_{index}_METHODS: [::ethos_typesys::graph::Method<'static>; {}] = [\n",
                    methods.len()
                ));
                for method in methods.iter() {
                    output.push_str(&format!(
                        "    ::ethos_typesys::graph::Method {{ name: ::ethos_typesys::__private::Cow::Borrowed({:?}), arguments: {}, results: {} }},\n",
                        method.name, method.arguments, method.results
                    ));
                }
                output.push_str("];\n");
            }
            _ => {}
        }
    }
    output.push_str(&format!(
        "\n/// Every type of this schema as graph nodes; children are indices into this array.\npub static TYPE_NODES: [::ethos_typesys::graph::Node<'static>; {}] = [\n",
        nodes.len()
    ));
    for (index, node) in nodes.iter().enumerate() {
        let kind = match &node.kind {
            Kind::Scalar(scalar) => format!("Scalar(::ethos_typesys::graph::Scalar::{scalar:?})"),
            Kind::String => String::from("String"),
            Kind::Any => String::from("Any"),
            Kind::Array { length, element } => {
                format!("Array {{ length: {length}, element: {element} }}")
            }
            Kind::Tuple { element } => format!("Tuple {{ element: {element} }}"),
            Kind::Optional { element } => format!("Optional {{ element: {element} }}"),
            Kind::Alias { target } => format!("Alias {{ target: {target} }}"),
            Kind::Struct { .. } => format!(
                "Struct {{ fields: ::ethos_typesys::__private::Cow::Borrowed(&TYPE_NODE_{index}_MEMBERS) }}"
            ),
            Kind::Union { .. } => format!(
                "Union {{ variants: ::ethos_typesys::__private::Cow::Borrowed(&TYPE_NODE_{index}_MEMBERS) }}"
            ),
            Kind::Interface { .. } => format!(
                "Interface {{ methods: ::ethos_typesys::__private::Cow::Borrowed(&TYPE_NODE_{index}_METHODS) }}"
            ),
        };
        output.push_str(&format!(
            "    ::ethos_typesys::graph::Node {{ name: ::ethos_typesys::__private::Cow::Borrowed({:?}), kind: ::ethos_typesys::graph::Kind::{kind} }},\n",
            node.name
        ));
    }
    output.push_str("];\n\n");
    output.push_str("/// The checked type graph of this schema, with hashes computed from `TYPE_NODES`.\npub fn type_graph() -> ::ethos_typesys::__private::Result<::ethos_typesys::TypeGraph<'static>, ::ethos_typesys::graph::GraphError> {\n    ::ethos_typesys::TypeGraph::new(::ethos_typesys::__private::Cow::Borrowed(&TYPE_NODES))\n}\n");
}
