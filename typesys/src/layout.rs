//! What the recognizer needs from a graph, computed once when the graph is built: one
//! compact [`Operation`] per node, struct fields grouped into [`StructStep`]s (a run
//! of plain fields is one skip), and open-addressing tables from hash to node.
//!
//! A value is *plain* when its size is fixed and every byte pattern of that size is
//! valid (integers, floats, and arrays and structs of them); the recognizer skips it
//! without looking. Building a layout never recurses and never panics; sizes that
//! overflow 64 bits are [`GraphError::SizeOverflow`].

use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{GraphError, Kind, Node, NodeIndex, Scalar};
use crate::hash::TypeHash;

/// What recognizing one value of a node takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// A plain value of this many bytes.
    Skip(u64),
    /// One byte, 0 or 1.
    Bool,
    /// A `u64` length, then UTF-8.
    String,
    /// A 64-byte hash, then a value of the named type it names.
    Any,
    /// Exactly a value of the target.
    Alias(NodeIndex),
    /// A tag, 0 or 1, then a value of the element when 1.
    Optional(NodeIndex),
    /// A `u32` tag below `count`, then a value of `targets[first + tag]`.
    Union { first: u32, count: u32 },
    /// A `u32` method index below `count`, then the struct at
    /// `targets[first + 2 × index]` (arguments) or the one after it (results).
    Interface { first: u32, count: u32 },
    /// `length` values of `element`.
    Array { length: u64, element: NodeIndex },
    /// A `u64` count, then that many values of `element`.
    Tuple { element: NodeIndex },
    /// The steps `steps[first .. first + count]`.
    Struct { first: u32, count: u32 },
}

/// Skip `skip` bytes of plain fields, then recognize `field`, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StructStep {
    pub(crate) skip: u64,
    pub(crate) field: Option<NodeIndex>,
}

const EMPTY_SLOT: NodeIndex = NodeIndex::MAX;

/// Hash to node, by linear probing on the hash's first 8 bytes; a match is confirmed
/// on the whole hash, so equal prefixes cannot confuse two types.
#[derive(Clone, Debug)]
pub(crate) struct HashTable {
    slots: Vec<NodeIndex>,
}

impl HashTable {
    fn new(hashes: &[TypeHash], members: impl Iterator<Item = NodeIndex> + Clone) -> Self {
        let count = members.clone().count();
        // At least one slot always stays empty, which ends every probe.
        let capacity = (count * 2 + 1).next_power_of_two();
        let mut table = HashTable {
            slots: vec![EMPTY_SLOT; capacity],
        };
        for node in members {
            let Some(hash) = hashes.get(node as usize) else {
                continue;
            };
            if table.find(hashes, hash).is_some() {
                continue;
            }
            let mask = capacity - 1;
            let mut slot = hash.prefix() as usize & mask;
            while table.slots[slot] != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            table.slots[slot] = node;
        }
        table
    }

    #[inline]
    pub(crate) fn find(&self, hashes: &[TypeHash], hash: &TypeHash) -> Option<NodeIndex> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = hash.prefix() as usize & mask;
        for _ in 0..self.slots.len() {
            let node = *self.slots.get(slot)?;
            if node == EMPTY_SLOT {
                return None;
            }
            if hashes.get(node as usize) == Some(hash) {
                return Some(node);
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}

/// The recognizer's view of a graph.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    operations: Vec<Operation>,
    steps: Vec<StructStep>,
    targets: Vec<NodeIndex>,
    /// Every node.
    pub(crate) all: HashTable,
    /// Named non-interface nodes: what an `any` may carry.
    pub(crate) named: HashTable,
}

fn too_many(_: core::num::TryFromIntError) -> GraphError {
    GraphError::TooManyNodes
}

impl Layout {
    pub(crate) fn new(
        nodes: &[Node<'_>],
        plain_sizes: &[Option<u64>],
        hashes: &[TypeHash],
    ) -> Result<Self, GraphError> {
        let mut operations = Vec::with_capacity(nodes.len());
        let mut steps = Vec::new();
        let mut targets = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let plain = plain_sizes.get(index).copied().flatten();
            let operation = match (&node.kind, plain) {
                (_, Some(size)) => Operation::Skip(size),
                (Kind::Scalar(_), None) => Operation::Bool,
                (Kind::String, None) => Operation::String,
                (Kind::Any, None) => Operation::Any,
                (Kind::Alias { target }, None) => Operation::Alias(*target),
                (Kind::Optional { element }, None) => Operation::Optional(*element),
                (Kind::Array { length, element }, None) => Operation::Array {
                    length: *length,
                    element: *element,
                },
                (Kind::Tuple { element }, None) => Operation::Tuple { element: *element },
                (Kind::Union { variants }, None) => {
                    let first = u32::try_from(targets.len()).map_err(too_many)?;
                    targets.extend(variants.iter().map(|variant| variant.node));
                    let count = u32::try_from(variants.len()).map_err(too_many)?;
                    Operation::Union { first, count }
                }
                (Kind::Interface { methods }, None) => {
                    let first = u32::try_from(targets.len()).map_err(too_many)?;
                    for method in methods.iter() {
                        targets.push(method.arguments);
                        targets.push(method.results);
                    }
                    let count = u32::try_from(methods.len()).map_err(too_many)?;
                    Operation::Interface { first, count }
                }
                (Kind::Struct { fields }, None) => {
                    let first = u32::try_from(steps.len()).map_err(too_many)?;
                    let overflow = || GraphError::SizeOverflow {
                        node: index as NodeIndex,
                    };
                    let mut skip = 0u64;
                    for field in fields.iter() {
                        match plain_sizes.get(field.node as usize).copied().flatten() {
                            Some(size) => skip = skip.checked_add(size).ok_or_else(overflow)?,
                            None => {
                                steps.push(StructStep {
                                    skip,
                                    field: Some(field.node),
                                });
                                skip = 0;
                            }
                        }
                    }
                    if skip > 0 {
                        steps.push(StructStep { skip, field: None });
                    }
                    let count = u32::try_from(steps.len()).map_err(too_many)? - first;
                    Operation::Struct { first, count }
                }
            };
            operations.push(operation);
        }
        let all = HashTable::new(hashes, 0..nodes.len() as NodeIndex);
        let named_nodes = (0..nodes.len() as NodeIndex).filter(|&index| {
            nodes.get(index as usize).is_some_and(|node| {
                !node.name.is_empty() && !matches!(node.kind, Kind::Interface { .. })
            })
        });
        let named = HashTable::new(hashes, named_nodes);
        Ok(Layout {
            operations,
            steps,
            targets,
            all,
            named,
        })
    }

    #[inline(always)]
    pub(crate) fn operation(&self, node: NodeIndex) -> Option<Operation> {
        self.operations.get(node as usize).copied()
    }

    #[inline(always)]
    pub(crate) fn steps(&self, first: u32, count: u32) -> &[StructStep] {
        let first = first as usize;
        self.steps.get(first..first + count as usize).unwrap_or(&[])
    }

    #[inline(always)]
    pub(crate) fn target(&self, position: u64) -> Option<NodeIndex> {
        usize::try_from(position)
            .ok()
            .and_then(|position| self.targets.get(position))
            .copied()
    }
}

/// The plain size of every node (see the module documentation), children first as
/// `post_order` gives them.
pub(crate) fn plain_sizes(
    nodes: &[Node<'_>],
    post_order: &[NodeIndex],
) -> Result<Vec<Option<u64>>, GraphError> {
    let mut sizes: Vec<Option<u64>> = vec![None; nodes.len()];
    for &index in post_order {
        let Some(node) = nodes.get(index as usize) else {
            continue;
        };
        let size_of = |child: NodeIndex| sizes.get(child as usize).copied().flatten();
        let overflow = || GraphError::SizeOverflow { node: index };
        let size = match &node.kind {
            Kind::Scalar(Scalar::Bool) => None,
            Kind::Scalar(scalar) => Some(scalar.width()),
            Kind::String
            | Kind::Any
            | Kind::Tuple { .. }
            | Kind::Optional { .. }
            | Kind::Union { .. }
            | Kind::Interface { .. } => None,
            Kind::Alias { target } => size_of(*target),
            Kind::Array { length, element } => match size_of(*element) {
                Some(element_size) => Some(element_size.checked_mul(*length).ok_or_else(overflow)?),
                None => None,
            },
            Kind::Struct { fields } => {
                let mut total = Some(0u64);
                for field in fields.iter() {
                    total = match (total, size_of(field.node)) {
                        (Some(sum), Some(field_size)) => {
                            Some(sum.checked_add(field_size).ok_or_else(overflow)?)
                        }
                        _ => None,
                    };
                }
                total
            }
        };
        if let Some(slot) = sizes.get_mut(index as usize) {
            *slot = size;
        }
    }
    Ok(sizes)
}
