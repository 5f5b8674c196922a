//! The type graph: every type is a node, named or anonymous, and children are node
//! indices. Building a [`TypeGraph`] checks the nodes, computes each node's 64-byte
//! identity (see [`crate::hash`]) and the layout facts the recognizer relies on.
//!
//! A graph may borrow its nodes from `static` data (generated code does) or own them
//! (the ETN parser does). Nothing here may panic on any node list: out-of-range
//! indices, recursion without indirection and size overflow are [`GraphError`]s, and
//! the checks run without recursion.

use alloc::borrow::Cow;
use alloc::vec;
use alloc::vec::Vec;

use crate::hash::{self, TypeHash};
use crate::layout::{self, Layout};
use crate::program::Operation;

/// Index of a node in its graph.
pub type NodeIndex = u32;

/// The most nodes a graph may have; the recognizer packs a node index in 23 bits.
pub const MAXIMUM_NODES: usize = 1 << 23;

/// The largest nesting bound a graph may be given; the recognizer keeps a fixed stack
/// of this many entries, so it never allocates.
pub const DEPTH_CAPACITY: usize = 64;

/// The nesting bound of a new graph.
pub const DEFAULT_MAXIMUM_DEPTH: usize = DEPTH_CAPACITY;

/// Fixed-width scalar kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint8` (also written `byte`)
    Uint8,
    /// `uint16`
    Uint16,
    /// `uint32`
    Uint32,
    /// `uint64`
    Uint64,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `bool`: one byte, 0 or 1.
    Bool,
}

impl Scalar {
    /// Every scalar, in kind-tag order.
    pub const ALL: [Scalar; 11] = [
        Scalar::Int8,
        Scalar::Int16,
        Scalar::Int32,
        Scalar::Int64,
        Scalar::Uint8,
        Scalar::Uint16,
        Scalar::Uint32,
        Scalar::Uint64,
        Scalar::Float32,
        Scalar::Float64,
        Scalar::Bool,
    ];

    /// Encoded width in bytes.
    pub const fn width(self) -> u64 {
        match self {
            Scalar::Int8 | Scalar::Uint8 | Scalar::Bool => 1,
            Scalar::Int16 | Scalar::Uint16 => 2,
            Scalar::Int32 | Scalar::Uint32 | Scalar::Float32 => 4,
            Scalar::Int64 | Scalar::Uint64 | Scalar::Float64 => 8,
        }
    }

    /// The ETN name.
    pub const fn name(self) -> &'static str {
        match self {
            Scalar::Int8 => "int8",
            Scalar::Int16 => "int16",
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::Uint8 => "uint8",
            Scalar::Uint16 => "uint16",
            Scalar::Uint32 => "uint32",
            Scalar::Uint64 => "uint64",
            Scalar::Float32 => "float32",
            Scalar::Float64 => "float64",
            Scalar::Bool => "bool",
        }
    }
}

/// A named child: a struct field, a union variant or a method parameter list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// The member's name as declared.
    pub name: Cow<'a, str>,
    /// The member's type.
    pub node: NodeIndex,
}

/// An interface method: its arguments and results are each one struct node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method<'a> {
    /// The method's name as declared.
    pub name: Cow<'a, str>,
    /// A struct node holding the arguments in order.
    pub arguments: NodeIndex,
    /// A struct node holding the results in order.
    pub results: NodeIndex,
}

/// What kind of type a node is, with its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A fixed-width scalar.
    Scalar(Scalar),
    /// UTF-8 text.
    String,
    /// A value of any named type of the graph, carried with its hash.
    Any,
    /// `[length]element`
    Array {
        /// Number of elements.
        length: u64,
        /// Element type.
        element: NodeIndex,
    },
    /// `[]element`
    Tuple {
        /// Element type.
        element: NodeIndex,
    },
    /// `*element`: nil or a value.
    Optional {
        /// The type of the value when present.
        element: NodeIndex,
    },
    /// A named type defined as another named type; encoded as its target.
    Alias {
        /// The type named in the definition.
        target: NodeIndex,
    },
    /// Fields in order.
    Struct {
        /// The fields.
        fields: Cow<'a, [Member<'a>]>,
    },
    /// Exactly one of the variants.
    Union {
        /// The variants; a value's tag is an index into this list.
        variants: Cow<'a, [Member<'a>]>,
    },
    /// A connection type: a message is a method index and that method's struct.
    Interface {
        /// The methods; a message's tag is an index into this list.
        methods: Cow<'a, [Method<'a>]>,
    },
}

/// A type: an optional name (empty for anonymous types) and its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    /// The declared name, or empty.
    pub name: Cow<'a, str>,
    /// The kind and children.
    pub kind: Kind<'a>,
}

/// Why a list of nodes is not a valid type graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphError {
    /// More than [`MAXIMUM_NODES`] nodes.
    TooManyNodes,
    /// A child index past the end of the node list.
    ChildOutOfRange {
        /// The node holding the index.
        node: NodeIndex,
        /// The bad index.
        child: NodeIndex,
    },
    /// A method's arguments or results node is not a struct.
    MethodNotStruct {
        /// The interface node.
        node: NodeIndex,
    },
    /// An interface node used as a child of another node.
    InterfaceAsValue {
        /// The node that uses it.
        node: NodeIndex,
    },
    /// A cycle through arrays, structs, unions and aliases only: no finite value.
    RecursiveWithoutIndirection {
        /// A node on the cycle.
        node: NodeIndex,
    },
    /// A tuple whose elements encode to zero bytes: a short message could claim an
    /// unbounded count.
    ZeroSizedTupleElement {
        /// The tuple node.
        node: NodeIndex,
    },
    /// A fixed-size type bigger than 2^64 bytes.
    SizeOverflow {
        /// The node whose size overflows.
        node: NodeIndex,
    },
    /// A nesting bound above [`DEPTH_CAPACITY`].
    DepthAboveCapacity {
        /// The requested bound.
        requested: usize,
    },
}

impl core::fmt::Display for GraphError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GraphError::TooManyNodes => formatter.write_str("too many types in one graph"),
            GraphError::ChildOutOfRange { node, child } => {
                write!(formatter, "type node {node} refers to missing node {child}")
            }
            GraphError::MethodNotStruct { node } => write!(
                formatter,
                "interface node {node} has a method whose arguments or results are not a struct"
            ),
            GraphError::InterfaceAsValue { node } => write!(
                formatter,
                "type node {node} contains an interface, which is not a value type"
            ),
            GraphError::RecursiveWithoutIndirection { node } => write!(
                formatter,
                "type node {node} contains itself without `*` or `[]` between: it has no finite value"
            ),
            GraphError::ZeroSizedTupleElement { node } => write!(
                formatter,
                "tuple node {node} has elements that encode to zero bytes"
            ),
            GraphError::SizeOverflow { node } => {
                write!(formatter, "type node {node} is larger than 2^64 bytes")
            }
            GraphError::DepthAboveCapacity { requested } => write!(
                formatter,
                "nesting bound {requested} is above the recognizer's capacity {DEPTH_CAPACITY}"
            ),
        }
    }
}

impl core::error::Error for GraphError {}

/// The `position`-th child of a node, following every edge (`indirect` = true) or only
/// the edges that embed the child in the parent's encoding without `*` or `[]`.
pub(crate) fn child(kind: &Kind<'_>, position: usize, indirect: bool) -> Option<NodeIndex> {
    match kind {
        Kind::Scalar(_) | Kind::String | Kind::Any => None,
        Kind::Array { element, .. } => (position == 0).then_some(*element),
        Kind::Alias { target } => (position == 0).then_some(*target),
        Kind::Tuple { element } | Kind::Optional { element } => {
            (indirect && position == 0).then_some(*element)
        }
        Kind::Struct { fields: members } | Kind::Union { variants: members } => {
            members.get(position).map(|member| member.node)
        }
        Kind::Interface { methods } => methods.get(position / 2).map(|method| {
            if position.is_multiple_of(2) {
                method.arguments
            } else {
                method.results
            }
        }),
    }
}

/// A checked type graph with identities and layout facts.
#[derive(Clone, Debug)]
pub struct TypeGraph<'a> {
    nodes: Cow<'a, [Node<'a>]>,
    hashes: Vec<TypeHash>,
    /// What the recognizer does for each node, and the hash lookup tables.
    layout: Layout,
    maximum_depth: usize,
}

impl<'a> TypeGraph<'a> {
    /// Checks `nodes` and computes hashes and layout.
    pub fn new(nodes: Cow<'a, [Node<'a>]>) -> Result<Self, GraphError> {
        let count = nodes.len();
        if count > MAXIMUM_NODES {
            return Err(GraphError::TooManyNodes);
        }
        check_children(&nodes)?;
        let post_order = embedded_post_order(&nodes)?;
        let plain_sizes = layout::plain_sizes(&nodes, &post_order)?;
        for (index, node) in nodes.iter().enumerate() {
            if let Kind::Tuple { element } = node.kind
                && plain_sizes.get(element as usize).copied().flatten() == Some(0)
            {
                return Err(GraphError::ZeroSizedTupleElement {
                    node: index as NodeIndex,
                });
            }
        }
        let hashes = hash::compute_hashes(&nodes);
        let layout = Layout::new(&nodes, plain_sizes, &post_order, &hashes)?;
        Ok(TypeGraph {
            nodes,
            hashes,
            layout,
            maximum_depth: DEFAULT_MAXIMUM_DEPTH,
        })
    }

    /// The same graph with a different nesting bound for the recognizer.
    pub fn with_maximum_depth(mut self, maximum_depth: usize) -> Result<Self, GraphError> {
        if maximum_depth > DEPTH_CAPACITY {
            return Err(GraphError::DepthAboveCapacity {
                requested: maximum_depth,
            });
        }
        self.maximum_depth = maximum_depth;
        self.layout.set_roots_allowed(maximum_depth >= 1);
        Ok(self)
    }

    /// The recognizer's nesting bound.
    pub fn maximum_depth(&self) -> usize {
        self.maximum_depth
    }

    /// All nodes, indexed by [`NodeIndex`].
    pub fn nodes(&self) -> &[Node<'a>] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, index: NodeIndex) -> Option<&Node<'a>> {
        self.nodes.get(index as usize)
    }

    /// The identity of a node.
    pub fn hash(&self, index: NodeIndex) -> Option<&TypeHash> {
        self.hashes.get(index as usize)
    }

    /// The encoded size of a node when it is fixed and every byte pattern is valid.
    pub fn plain_size(&self, index: NodeIndex) -> Option<u64> {
        self.layout.plain_size(index)
    }

    /// Whether the recognizer reads nothing of a value of this node but its counts:
    /// the value is fixed-width numbers, and tuples of them, every byte pattern of which
    /// is valid. Such a value is checked by comparing lengths, in a time that does not
    /// grow with its size (a `Point`, a `[]byte`, a struct of an integer and a
    /// `[]uint32`).
    pub fn is_length_only(&self, index: NodeIndex) -> bool {
        index < self.nodes.len() as NodeIndex
            && self.layout.code.program(index).iter().all(|instruction| {
                matches!(
                    instruction.operation,
                    Operation::Skip(_) | Operation::PlainTuple(_)
                )
            })
    }

    /// A node with this identity, if any.
    #[inline]
    pub fn find(&self, hash: &TypeHash) -> Option<NodeIndex> {
        self.layout.all.find(hash)
    }

    /// A named, non-interface node with this identity: what an `any` may carry.
    #[inline]
    pub fn find_named(&self, hash: &TypeHash) -> Option<NodeIndex> {
        self.layout.named.find(hash)
    }

    /// What the recognizer does for each node.
    #[inline]
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The node declared with this name; anonymous nodes have none.
    pub fn find_by_name(&self, name: &str) -> Option<NodeIndex> {
        if name.is_empty() {
            return None;
        }
        self.nodes
            .iter()
            .position(|node| node.name == name)
            .map(|index| index as NodeIndex)
    }
}

fn check_children(nodes: &[Node<'_>]) -> Result<(), GraphError> {
    for (index, node) in nodes.iter().enumerate() {
        let index = index as NodeIndex;
        let mut position = 0;
        while let Some(child_index) = child(&node.kind, position, true) {
            position += 1;
            let Some(child_node) = nodes.get(child_index as usize) else {
                return Err(GraphError::ChildOutOfRange {
                    node: index,
                    child: child_index,
                });
            };
            match (&node.kind, &child_node.kind) {
                (Kind::Interface { .. }, Kind::Struct { .. }) => {}
                (Kind::Interface { .. }, _) => {
                    return Err(GraphError::MethodNotStruct { node: index });
                }
                (_, Kind::Interface { .. }) => {
                    return Err(GraphError::InterfaceAsValue { node: index });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Orders nodes so that every embedded child comes before its parent, and fails on a
/// cycle of embedded edges. Iterative depth-first search.
fn embedded_post_order(nodes: &[Node<'_>]) -> Result<Vec<NodeIndex>, GraphError> {
    const UNSEEN: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![UNSEEN; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(NodeIndex, usize)> = Vec::new();
    for root in 0..nodes.len() {
        if state[root] != UNSEEN {
            continue;
        }
        state[root] = OPEN;
        stack.push((root as NodeIndex, 0));
        while let Some((node, position)) = stack.last_mut() {
            let current = *node;
            let next = nodes
                .get(current as usize)
                .and_then(|entry| child(&entry.kind, *position, false));
            *position += 1;
            match next {
                Some(child_index) => match state.get(child_index as usize) {
                    Some(&UNSEEN) => {
                        state[child_index as usize] = OPEN;
                        stack.push((child_index, 0));
                    }
                    Some(&OPEN) => {
                        return Err(GraphError::RecursiveWithoutIndirection { node: child_index });
                    }
                    Some(_) => {}
                    None => {
                        return Err(GraphError::ChildOutOfRange {
                            node: current,
                            child: child_index,
                        });
                    }
                },
                None => {
                    state[current as usize] = DONE;
                    order.push(current);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}
