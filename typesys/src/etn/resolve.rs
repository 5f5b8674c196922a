//! Name resolution: turns parsed declarations into graph nodes and checks them.
//!
//! Declared types take node indices in source order; anonymous types (`[]T`, `*T`,
//! `[N]T`, built-ins used inside other types, method argument and result structs)
//! follow. Every error points at the declaration or expression at fault. Recursion
//! here follows the syntax tree, whose depth the parser bounds.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec::Vec;

use super::parser::{Declaration, MemberSyntax, MethodSyntax, TypeExpression, TypeExpressionKind};
use super::{CompoundKeyword, NamedType, ParseErrorKind, Position, Schema};
use crate::graph::{GraphError, Kind, Member, Method, Node, NodeIndex, Scalar, TypeGraph};

type ResolveResult<T> = Result<T, (Position, ParseErrorKind)>;

/// Names that may not be declared: built-in types and keywords.
const RESERVED: &[&str] = &[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "byte",
    "float32",
    "float64",
    "bool",
    "string",
    "any",
    "struct",
    "union",
    "interface",
    "dict",
];

fn builtin_kind(name: &str) -> Option<Kind<'static>> {
    if name == "byte" {
        return Some(Kind::Scalar(Scalar::Uint8));
    }
    if name == "string" {
        return Some(Kind::String);
    }
    if name == "any" {
        return Some(Kind::Any);
    }
    Scalar::ALL
        .iter()
        .find(|scalar| scalar.name() == name)
        .map(|scalar| Kind::Scalar(*scalar))
}

struct Resolver<'syntax> {
    declared: BTreeMap<&'syntax str, (NodeIndex, Position)>,
    interfaces: BTreeMap<&'syntax str, ()>,
    nodes: Vec<Node<'static>>,
    positions: Vec<Position>,
    builtins: BTreeMap<&'syntax str, NodeIndex>,
}

/// Resolves names and builds the checked graph.
pub(crate) fn resolve(declarations: &[Declaration]) -> ResolveResult<Schema> {
    let mut resolver = Resolver {
        declared: BTreeMap::new(),
        interfaces: BTreeMap::new(),
        nodes: Vec::new(),
        positions: Vec::new(),
        builtins: BTreeMap::new(),
    };
    for (index, declaration) in declarations.iter().enumerate() {
        let name = declaration.name.as_str();
        if RESERVED.contains(&name) {
            return Err((
                declaration.position,
                ParseErrorKind::ReservedName(name.to_string()),
            ));
        }
        if let Some((_, first)) = resolver.declared.get(name) {
            return Err((
                declaration.position,
                ParseErrorKind::DuplicateType {
                    name: name.to_string(),
                    first: *first,
                },
            ));
        }
        let node = NodeIndex::try_from(index).map_err(|_| {
            (
                declaration.position,
                ParseErrorKind::Graph(GraphError::TooManyNodes),
            )
        })?;
        resolver.declared.insert(name, (node, declaration.position));
        if matches!(
            declaration.definition.kind,
            TypeExpressionKind::Interface(_)
        ) {
            resolver.interfaces.insert(name, ());
        }
        // Placeholder until the definition is resolved below.
        resolver.nodes.push(Node {
            name: Cow::Owned(declaration.name.clone()),
            kind: Kind::String,
        });
        resolver.positions.push(declaration.position);
    }
    for (index, declaration) in declarations.iter().enumerate() {
        let kind = resolver.definition(&declaration.definition)?;
        resolver.nodes[index].kind = kind;
    }
    let Resolver {
        nodes, positions, ..
    } = resolver;
    let graph = TypeGraph::new(Cow::Owned(nodes)).map_err(|error| {
        let node = match &error {
            GraphError::ChildOutOfRange { node, .. }
            | GraphError::MethodNotStruct { node }
            | GraphError::InterfaceAsValue { node }
            | GraphError::RecursiveWithoutIndirection { node }
            | GraphError::ZeroSizedTupleElement { node }
            | GraphError::SizeOverflow { node } => Some(*node),
            GraphError::TooManyNodes | GraphError::DepthAboveCapacity { .. } => None,
        };
        let position = node
            .and_then(|node| positions.get(node as usize).copied())
            .unwrap_or_default();
        (position, ParseErrorKind::Graph(error))
    })?;
    let declarations = declarations
        .iter()
        .enumerate()
        .map(|(index, declaration)| NamedType {
            name: declaration.name.clone(),
            node: index as NodeIndex,
        })
        .collect();
    Ok(Schema {
        graph,
        declarations,
    })
}

impl<'syntax> Resolver<'syntax> {
    fn push(&mut self, kind: Kind<'static>, position: Position) -> ResolveResult<NodeIndex> {
        let index = NodeIndex::try_from(self.nodes.len())
            .map_err(|_| (position, ParseErrorKind::Graph(GraphError::TooManyNodes)))?;
        self.nodes.push(Node {
            name: Cow::Borrowed(""),
            kind,
        });
        self.positions.push(position);
        Ok(index)
    }

    /// The kind of a declared type's own node.
    fn definition(&mut self, expression: &'syntax TypeExpression) -> ResolveResult<Kind<'static>> {
        let position = expression.position;
        Ok(match &expression.kind {
            TypeExpressionKind::Name(name) => match builtin_kind(name) {
                Some(kind) => kind,
                None => Kind::Alias {
                    target: self.declared_value(name, position)?,
                },
            },
            TypeExpressionKind::Array { length, element } => Kind::Array {
                length: *length,
                element: self.value(element)?,
            },
            TypeExpressionKind::Tuple(element) => Kind::Tuple {
                element: self.value(element)?,
            },
            TypeExpressionKind::Optional(element) => Kind::Optional {
                element: self.value(element)?,
            },
            TypeExpressionKind::Struct(members) => Kind::Struct {
                fields: Cow::Owned(self.members(members)?),
            },
            TypeExpressionKind::Union(members) => Kind::Union {
                variants: Cow::Owned(self.members(members)?),
            },
            TypeExpressionKind::Interface(methods) => Kind::Interface {
                methods: Cow::Owned(self.methods(methods)?),
            },
        })
    }

    fn declared_value(&self, name: &str, position: Position) -> ResolveResult<NodeIndex> {
        if self.interfaces.contains_key(name) {
            return Err((position, ParseErrorKind::InterfaceAsValue(name.to_string())));
        }
        match self.declared.get(name) {
            Some((node, _)) => Ok(*node),
            None => Err((position, ParseErrorKind::UnknownType(name.to_string()))),
        }
    }

    /// The node of a type used inside another type.
    fn value(&mut self, expression: &'syntax TypeExpression) -> ResolveResult<NodeIndex> {
        let position = expression.position;
        match &expression.kind {
            TypeExpressionKind::Name(name) => {
                if let Some(kind) = builtin_kind(name) {
                    if let Some(node) = self.builtins.get(name.as_str()) {
                        return Ok(*node);
                    }
                    let node = self.push(kind, position)?;
                    self.builtins.insert(name.as_str(), node);
                    Ok(node)
                } else {
                    self.declared_value(name, position)
                }
            }
            TypeExpressionKind::Array { .. }
            | TypeExpressionKind::Tuple(_)
            | TypeExpressionKind::Optional(_) => {
                let kind = self.definition(expression)?;
                self.push(kind, position)
            }
            TypeExpressionKind::Struct(_) => Err((
                position,
                ParseErrorKind::AnonymousCompound(CompoundKeyword::Struct),
            )),
            TypeExpressionKind::Union(_) => Err((
                position,
                ParseErrorKind::AnonymousCompound(CompoundKeyword::Union),
            )),
            TypeExpressionKind::Interface(_) => Err((
                position,
                ParseErrorKind::AnonymousCompound(CompoundKeyword::Interface),
            )),
        }
    }

    fn members(&mut self, members: &'syntax [MemberSyntax]) -> ResolveResult<Vec<Member<'static>>> {
        let mut resolved: Vec<Member<'static>> = Vec::with_capacity(members.len());
        for member in members {
            if resolved.iter().any(|existing| existing.name == member.name) {
                return Err((
                    member.position,
                    ParseErrorKind::DuplicateMember(member.name.clone()),
                ));
            }
            let node = self.value(&member.type_expression)?;
            resolved.push(Member {
                name: Cow::Owned(member.name.clone()),
                node,
            });
        }
        Ok(resolved)
    }

    fn methods(&mut self, methods: &'syntax [MethodSyntax]) -> ResolveResult<Vec<Method<'static>>> {
        let mut resolved: Vec<Method<'static>> = Vec::with_capacity(methods.len());
        for method in methods {
            if resolved.iter().any(|existing| existing.name == method.name) {
                return Err((
                    method.position,
                    ParseErrorKind::DuplicateMethod(method.name.clone()),
                ));
            }
            let arguments = Kind::Struct {
                fields: Cow::Owned(self.members(&method.arguments)?),
            };
            let arguments = self.push(arguments, method.position)?;
            let results = Kind::Struct {
                fields: Cow::Owned(self.members(&method.results)?),
            };
            let results = self.push(results, method.position)?;
            resolved.push(Method {
                name: Cow::Owned(method.name.clone()),
                arguments,
                results,
            });
        }
        Ok(resolved)
    }
}
