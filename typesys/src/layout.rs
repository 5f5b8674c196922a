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
use crate::wire::MAXIMUM_MESSAGE_SIZE;

const EMPTY_SLOT: NodeIndex = NodeIndex::MAX;

/// A hash as four native-endian 16-byte words, so that the table side of a comparison
/// is aligned words. Where the processor has 16-byte registers (the host) a word is one
/// register; where it has none (the kernel) the compiler splits each into two 8-byte
/// halves, the same eight word operations as comparing `u64`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HashWords([u128; 4]);

impl HashWords {
    fn of(hash: &TypeHash) -> Self {
        let (chunks, _) = hash.0.as_chunks::<16>();
        let mut words = [0u128; 4];
        for (word, chunk) in words.iter_mut().zip(chunks) {
            *word = u128::from_ne_bytes(*chunk);
        }
        HashWords(words)
    }

    /// Whether `hash` is this one: all 64 bytes compared, the word differences or-ed
    /// together (on the host one branch at the end; the kernel target's code branches
    /// once per 16-byte word, never per byte). `==` on 64 bytes calls the C library's
    /// `bcmp`, whose call costs more than the comparison.
    #[inline(always)]
    fn same(&self, hash: &TypeHash) -> bool {
        let (chunks, _) = hash.0.as_chunks::<16>();
        self.0
            .iter()
            .zip(chunks)
            .fold(0u128, |difference, (word, chunk)| {
                difference | (word ^ u128::from_ne_bytes(*chunk))
            })
            == 0
    }
}

/// A slot of a [`HashTable`]: a node with its hash and the length of a message that
/// is accepted from the slot alone beside it, so a lookup and the check of a plain
/// value read one place (80 bytes, aligned to 16 so the hash words are too).
#[derive(Clone, Debug)]
#[repr(C, align(16))]
pub(crate) struct Slot {
    hash: HashWords,
    /// The only length of a whole value of the node when every byte string of that
    /// length is one (the node is plain, the length within
    /// [`MAXIMUM_MESSAGE_SIZE`] and the graph's depth bound at least 1), else
    /// [`NO_LENGTH`].
    accepted_length: u64,
    pub(crate) node: NodeIndex,
}

/// The accepted length of a slot whose node's values need a check: no byte string is
/// this long (a slice of bytes is at most `isize::MAX` long).
const NO_LENGTH: u64 = u64::MAX;

const EMPTY: Slot = Slot {
    hash: HashWords([0; 4]),
    accepted_length: NO_LENGTH,
    node: EMPTY_SLOT,
};

/// What a hash's first slot says: see [`HashTable::at_home`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Home {
    /// The slot holds the hash, and every byte string of the length is a value of its
    /// node.
    Accepted,
    /// The slot holds the hash, of this node, whose values need a check.
    Found(NodeIndex),
    /// The slot holds another hash, or none: the node, if any, is further on.
    Elsewhere,
}

/// Hash to node, by linear probing on the hash's first 8 bytes (hashes are uniform,
/// so they spread); a match is confirmed on the whole hash, so equal prefixes cannot
/// confuse two types. At most half the slots are full, so most hashes are found in
/// their first slot, which [`HashTable::at_home`] alone reads.
#[derive(Clone, Debug)]
pub(crate) struct HashTable {
    slots: Vec<Slot>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
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
            mask: capacity - 1,
        };
        for node in members {
            let Some(hash) = hashes.get(node as usize) else {
                continue;
            };
            if table.find(hash).is_some() {
                continue;
            }
            let mut slot = hash.prefix() as usize & table.mask;
            while table.slots[slot].node != EMPTY_SLOT {
                slot = (slot + 1) & table.mask;
            }
            table.slots[slot] = Slot {
                hash: HashWords::of(hash),
                accepted_length: NO_LENGTH,
                node,
            };
        }
        table.set_accepted_lengths(plain_sizes, true);
        table
    }

    /// Sets each slot's accepted length from its node's plain size; `roots_allowed`
    /// says whether the depth bound admits a root value at all.
    fn set_accepted_lengths(&mut self, plain_sizes: &[Option<u64>], roots_allowed: bool) {
        for slot in &mut self.slots {
            slot.accepted_length = plain_sizes
                .get(slot.node as usize)
                .copied()
                .flatten()
                .filter(|&size| roots_allowed && size <= MAXIMUM_MESSAGE_SIZE as u64)
                .unwrap_or(NO_LENGTH);
        }
    }

    #[inline(always)]
    pub(crate) fn find(&self, hash: &TypeHash) -> Option<NodeIndex> {
        self.slot(hash).map(|slot| slot.node)
    }

    /// What the hash's own first slot says about a message of `length` bytes: one
    /// slot read, and the whole check of a plain message.
    #[inline(always)]
    pub(crate) fn at_home(&self, hash: &TypeHash, length: usize) -> Home {
        match self.slots.get(hash.prefix() as usize & self.mask) {
            // An empty slot's accepted length is no length, whatever its hash.
            Some(slot) if slot.hash.same(hash) => {
                if slot.accepted_length == length as u64 {
                    Home::Accepted
                } else if slot.node != EMPTY_SLOT {
                    Home::Found(slot.node)
                } else {
                    Home::Elsewhere
                }
            }
            _ => Home::Elsewhere,
        }
    }

    /// The slot of the node with this hash.
    #[inline(always)]
    pub(crate) fn slot(&self, hash: &TypeHash) -> Option<&Slot> {
        let mut slot = hash.prefix() as usize & self.mask;
        for _ in 0..self.slots.len() {
            let entry = self.slots.get(slot)?;
            // An empty slot's zero hash may equal the one sought: the node decides.
            if entry.hash.same(hash) && entry.node != EMPTY_SLOT {
                return Some(entry);
            }
            if entry.node == EMPTY_SLOT {
                return None;
            }
            slot = (slot + 1) & self.mask;
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

    /// Follows a change of the graph's depth bound: below 1, not even a plain root is
    /// accepted from its slot.
    pub(crate) fn set_roots_allowed(&mut self, allowed: bool) {
        self.all.set_accepted_lengths(&self.plain_sizes, allowed);
        self.named.set_accepted_lengths(&self.plain_sizes, allowed);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes equal in their first eight bytes, which pick the slot, and different
    /// after them (in byte `8 + index`, and in the last byte).
    fn colliding(index: u8) -> TypeHash {
        let mut hash = TypeHash([0x3c; 64]);
        hash.0[8 + usize::from(index)] = index;
        hash.0[63] = index;
        hash
    }

    #[test]
    fn equal_prefixes_probe_on_and_compare_whole_hashes() {
        let hashes: Vec<TypeHash> = (0..5).map(colliding).collect();
        let plain_sizes = [Some(4), None, Some(8), Some(0), None];
        let table = HashTable::new(&hashes, &plain_sizes, 0..5);
        for (node, hash) in hashes.iter().enumerate() {
            assert_eq!(table.find(hash), Some(node as NodeIndex));
        }
        // The first inserted sits in the slot all five share; the others after it.
        assert_eq!(table.at_home(&hashes[0], 4), Home::Accepted);
        assert_eq!(table.at_home(&hashes[0], 5), Home::Found(0));
        assert_eq!(table.at_home(&hashes[1], 4), Home::Elsewhere);
        assert_eq!(table.at_home(&hashes[2], 8), Home::Elsewhere);
        for (byte, bit) in [(8, 0), (20, 3), (63, 7)] {
            let mut changed = hashes[0];
            changed.0[byte] ^= 1 << bit;
            assert_eq!(table.find(&changed), None);
            assert_eq!(table.at_home(&changed, 4), Home::Elsewhere);
        }
        assert_eq!(table.find(&TypeHash([0x3c; 64])), None);
    }

    #[test]
    fn empty_slots_match_nothing() {
        let table = HashTable::new(&[TypeHash([9; 64])], &[Some(0)], 0..1);
        let zero = TypeHash([0; 64]);
        assert_eq!(table.find(&zero), None);
        for length in [0, 1, 8, isize::MAX as usize] {
            assert_eq!(table.at_home(&zero, length), Home::Elsewhere);
        }
        let empty = HashTable::new(&[], &[], 0..0);
        assert_eq!(empty.find(&zero), None);
        assert_eq!(empty.at_home(&zero, 0), Home::Elsewhere);
    }

    #[test]
    fn sizes_above_the_message_limit_and_a_zero_depth_bound_accept_nothing() {
        let hashes = [TypeHash([1; 64]), TypeHash([2; 64])];
        let limit = MAXIMUM_MESSAGE_SIZE as u64;
        let plain_sizes = [Some(limit), Some(limit + 1)];
        let mut table = HashTable::new(&hashes, &plain_sizes, 0..2);
        let limit = MAXIMUM_MESSAGE_SIZE;
        assert_eq!(table.at_home(&hashes[0], limit), Home::Accepted);
        assert_eq!(table.at_home(&hashes[1], limit + 1), Home::Found(1));
        table.set_accepted_lengths(&plain_sizes, false);
        assert_eq!(table.at_home(&hashes[0], limit), Home::Found(0));
        table.set_accepted_lengths(&plain_sizes, true);
        assert_eq!(table.at_home(&hashes[0], limit), Home::Accepted);
    }
}
