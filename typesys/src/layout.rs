//! What the recognizer needs from a graph, computed once when the graph is built: each
//! node's plain size, its compiled program (see [`crate::program`]), and
//! open-addressing tables from hash to node.
//!
//! A value is *plain* when its size is fixed and every byte pattern of that size is
//! valid (integers, floats, and arrays and structs of them); the recognizer skips it
//! without looking. Building a layout never recurses and never panics; sizes that
//! overflow 64 bits are [`GraphError::SizeOverflow`].

use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{GraphError, Kind, Node, NodeIndex, Scalar};
use crate::hash::TypeHash;
use crate::program::Code;

const EMPTY_SLOT: NodeIndex = NodeIndex::MAX;

/// Whether two hashes are equal, compared 16 bytes at a time without branching: `==`
/// on 64 bytes calls the C library's `bcmp`, whose call costs more than the comparison.
#[inline(always)]
fn same(left: &TypeHash, right: &TypeHash) -> bool {
    let (left, _) = left.0.as_chunks::<16>();
    let (right, _) = right.0.as_chunks::<16>();
    left.iter()
        .zip(right)
        .fold(0u128, |difference, (left, right)| {
            difference | (u128::from_ne_bytes(*left) ^ u128::from_ne_bytes(*right))
        })
        == 0
}

/// A slot of a [`HashTable`]: a node with its hash and plain size beside it, so a
/// lookup, and the check of a plain value, read one place.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    hash: TypeHash,
    pub(crate) node: NodeIndex,
    /// The node's plain size, or [`NOT_PLAIN`].
    pub(crate) plain_size: u64,
}

/// The plain size of a node that is not plain: no byte string is this long.
pub(crate) const NOT_PLAIN: u64 = u64::MAX;

const EMPTY: Slot = Slot {
    hash: TypeHash([0; 64]),
    node: EMPTY_SLOT,
    plain_size: NOT_PLAIN,
};

/// Hash to node, by linear probing on the hash's first 8 bytes; a match is confirmed
/// on the whole hash, so equal prefixes cannot confuse two types.
#[derive(Clone, Debug)]
pub(crate) struct HashTable {
    slots: Vec<Slot>,
}

impl HashTable {
    fn new(
        hashes: &[TypeHash],
        plain_sizes: &[Option<u64>],
        members: impl Iterator<Item = NodeIndex> + Clone,
    ) -> Self {
        let count = members.clone().count();
        // At least one slot always stays empty, which ends every probe.
        let capacity = (count * 2 + 1).next_power_of_two();
        let mut table = HashTable {
            slots: vec![EMPTY; capacity],
        };
        for node in members {
            let Some(hash) = hashes.get(node as usize) else {
                continue;
            };
            if table.find(hash).is_some() {
                continue;
            }
            let mask = capacity - 1;
            let mut slot = hash.prefix() as usize & mask;
            while table.slots[slot].node != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            table.slots[slot] = Slot {
                hash: *hash,
                node,
                plain_size: plain_sizes
                    .get(node as usize)
                    .copied()
                    .flatten()
                    .unwrap_or(NOT_PLAIN),
            };
        }
        table
    }

    #[inline(always)]
    pub(crate) fn find(&self, hash: &TypeHash) -> Option<NodeIndex> {
        self.slot(hash).map(|slot| slot.node)
    }

    /// The slot of the node with this hash.
    #[inline(always)]
    pub(crate) fn slot(&self, hash: &TypeHash) -> Option<&Slot> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = hash.prefix() as usize & mask;
        for _ in 0..self.slots.len() {
            let entry = self.slots.get(slot)?;
            // An empty slot's zero hash may equal the one sought: the node decides.
            if same(&entry.hash, hash) && entry.node != EMPTY_SLOT {
                return Some(entry);
            }
            if entry.node == EMPTY_SLOT {
                return None;
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}

/// The recognizer's view of a graph.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Each node's plain size, if it is plain.
    plain_sizes: Vec<Option<u64>>,
    /// Each node's program.
    pub(crate) code: Code,
    /// Every node.
    pub(crate) all: HashTable,
    /// Named non-interface nodes: what an `any` may carry.
    pub(crate) named: HashTable,
}

impl Layout {
    pub(crate) fn new(
        nodes: &[Node<'_>],
        plain_sizes: Vec<Option<u64>>,
        post_order: &[NodeIndex],
        hashes: &[TypeHash],
    ) -> Result<Self, GraphError> {
        let code = Code::new(nodes, &plain_sizes, post_order)?;
        let all = HashTable::new(hashes, &plain_sizes, 0..nodes.len() as NodeIndex);
        let named_nodes = (0..nodes.len() as NodeIndex).filter(|&index| {
            nodes.get(index as usize).is_some_and(|node| {
                !node.name.is_empty() && !matches!(node.kind, Kind::Interface { .. })
            })
        });
        let named = HashTable::new(hashes, &plain_sizes, named_nodes);
        Ok(Layout {
            plain_sizes,
            code,
            all,
            named,
        })
    }

    #[inline(always)]
    pub(crate) fn plain_size(&self, node: NodeIndex) -> Option<u64> {
        self.plain_sizes.get(node as usize).copied().flatten()
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
