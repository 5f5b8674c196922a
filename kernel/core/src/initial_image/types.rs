//! The image's `/types`: each ETN file parsed on its own, then every file's nodes
//! joined into one type graph.
//!
//! Each file stands alone: it may use the built-in types and the types it declares,
//! not those of another file, so that a parse error always points into the file that
//! holds it. A type name may be declared in one file only. Joining changes no type's
//! identity: a hash depends only on the type's structure and names, never on where
//! its node sits in the graph.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_typesys::TypeGraph;
use ethos_typesys::etn;
use ethos_typesys::graph::GraphError;
use ethos_typesys::graph::{Kind, MAXIMUM_NODES, Member, Method, Node, NodeIndex};

use super::ImageError;

/// Parses every `(entry, source)` pair and joins the types into one graph.
pub(super) fn type_graph(files: &[(String, &[u8])]) -> Result<TypeGraph<'static>, ImageError> {
    let mut nodes: Vec<Node<'static>> = Vec::new();
    let mut declared_in: BTreeMap<String, String> = BTreeMap::new();
    for (entry, bytes) in files {
        let source = core::str::from_utf8(bytes).map_err(|error| ImageError::EtnNotUtf8 {
            entry: entry.clone(),
            valid_up_to: error.valid_up_to(),
        })?;
        let schema = etn::parse(entry, source).map_err(ImageError::Etn)?;
        for declaration in &schema.declarations {
            if let Some(first) = declared_in.insert(declaration.name.clone(), entry.clone()) {
                return Err(ImageError::DuplicateType {
                    name: declaration.name.clone(),
                    first,
                    second: entry.clone(),
                });
            }
        }
        let total = nodes.len() + schema.graph.nodes().len();
        if total > MAXIMUM_NODES {
            return Err(ImageError::TypeGraph(GraphError::TooManyNodes));
        }
        // Below MAXIMUM_NODES (2^23), so it fits a node index.
        let offset = nodes.len() as NodeIndex;
        nodes.extend(
            schema
                .graph
                .nodes()
                .iter()
                .map(|node| shifted(node, offset)),
        );
    }
    TypeGraph::new(Cow::Owned(nodes)).map_err(ImageError::TypeGraph)
}

/// `node` with every child index moved up by `offset`.
fn shifted(node: &Node<'static>, offset: NodeIndex) -> Node<'static> {
    let members = |members: &[Member<'static>]| -> Vec<Member<'static>> {
        members
            .iter()
            .map(|member| Member {
                name: member.name.clone(),
                node: member.node + offset,
            })
            .collect()
    };
    let kind = match &node.kind {
        Kind::Scalar(scalar) => Kind::Scalar(*scalar),
        Kind::String => Kind::String,
        Kind::Any => Kind::Any,
        Kind::Array { length, element } => Kind::Array {
            length: *length,
            element: element + offset,
        },
        Kind::Tuple { element } => Kind::Tuple {
            element: element + offset,
        },
        Kind::Optional { element } => Kind::Optional {
            element: element + offset,
        },
        Kind::Alias { target } => Kind::Alias {
            target: target + offset,
        },
        Kind::Struct { fields } => Kind::Struct {
            fields: Cow::Owned(members(fields)),
        },
        Kind::Union { variants } => Kind::Union {
            variants: Cow::Owned(members(variants)),
        },
        Kind::Interface { methods } => Kind::Interface {
            methods: Cow::Owned(
                methods
                    .iter()
                    .map(|method| Method {
                        name: method.name.clone(),
                        arguments: method.arguments + offset,
                        results: method.results + offset,
                    })
                    .collect(),
            ),
        },
    };
    Node {
        name: node.name.clone(),
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Result<TypeGraph<'static>, ImageError> {
        let files: Vec<(String, &[u8])> = files
            .iter()
            .map(|(name, source)| (String::from(*name), source.as_bytes()))
            .collect();
        type_graph(&files)
    }

    #[test]
    fn joining_keeps_every_identity() {
        let first = "Point struct { X int32; Y int32 }\nNames []string";
        let second = "Counter interface { Increment(By uint64) (Count uint64) }\n\
                      List struct { Value int32; Next *List }";
        let joined = graph(&[("types/a.etn", first), ("types/b.etn", second)]).unwrap();
        for (file, source) in [("a", first), ("b", second)] {
            let alone = etn::parse(file, source).unwrap();
            for declaration in &alone.declarations {
                let hash = alone.graph.hash(declaration.node).unwrap();
                let index = joined.find_by_name(&declaration.name).unwrap();
                assert_eq!(joined.hash(index), Some(hash), "{}", declaration.name);
            }
        }
    }

    #[test]
    fn a_name_declared_in_two_files_is_refused() {
        let error = graph(&[
            ("types/a.etn", "Status uint32"),
            ("types/b.etn", "Status uint32"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "type `Status` is declared in both `types/a.etn` and `types/b.etn`"
        );
    }

    #[test]
    fn files_stand_alone() {
        let error = graph(&[
            ("types/a.etn", "Point struct { X int32 }"),
            ("types/b.etn", "Line struct { From Point; To Point }"),
        ])
        .unwrap_err();
        assert!(error.to_string().starts_with("types/b.etn:1:"), "{error}");
    }
}
