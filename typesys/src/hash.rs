//! Type identity: a 64-byte SHA-512 hash of each node's canonical encoding.
//!
//! # Canonical encoding
//!
//! The hash of node `R` is `SHA-512("ethos etn type v1\0" ‖ 0x01 ‖ header(R) ‖
//! children(R))`, where a node's encoding is its header followed by one *child
//! reference* per child, in order. All integers are little-endian; a *text* is a `u32`
//! byte length then UTF-8 bytes.
//!
//! | kind      | tag | header after tag and name                   | children              |
//! |-----------|-----|---------------------------------------------|-----------------------|
//! | int8…int64| 1–4 | —                                           | —                     |
//! | uint8…uint64 | 5–8 | —                                        | —                     |
//! | float32, float64 | 9, 10 | —                                  | —                     |
//! | bool      | 11  | —                                           | —                     |
//! | string    | 12  | —                                           | —                     |
//! | any       | 13  | —                                           | —                     |
//! | array     | 14  | `u64` length                                | element               |
//! | tuple     | 15  | —                                           | element               |
//! | optional  | 16  | —                                           | element               |
//! | alias     | 17  | —                                           | target                |
//! | struct    | 18  | `u32` count, then each field name (text)    | each field's type     |
//! | union     | 19  | `u32` count, then each variant name (text)  | each variant's type   |
//! | interface | 20  | `u32` count, then each method name (text)   | arguments, results per method |
//!
//! A header is the `u8` tag, the node's name as a text (empty for anonymous types),
//! then the column above. A child reference is one of:
//!
//! - `0x00` then the child's 64-byte hash, when the child is not in the same strongly
//!   connected component as `R` (the Merkle case: every non-recursive type);
//! - `0x01` then the child's own encoding, the first time a node of `R`'s component is
//!   reached while encoding `R`;
//! - `0x02` then a `u32`: a back-reference to the n-th node of `R`'s component
//!   encoded so far (`R` itself is 0).
//!
//! So a recursive type's hash covers its whole cycle, unfolded from that type, and any
//! change of a name, field, order, length or kind anywhere below a type changes its
//! hash. The encoding is built without recursion: this module must never overflow the
//! stack, whatever the graph.

use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha512};

use crate::graph::{Kind, Node, NodeIndex, Scalar, child};

/// Domain separation prefix of every type hash.
pub const DOMAIN: &[u8] = b"ethos etn type v1\0";

/// A type's 64-byte identity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeHash(pub [u8; 64]);

impl TypeHash {
    /// The first 8 bytes as an integer: a fast, non-unique sort key.
    #[inline]
    pub fn prefix(&self) -> u64 {
        let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = self.0;
        u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
    }

    /// The hash as lowercase hexadecimal, 128 characters.
    pub fn to_hex(&self) -> alloc::string::String {
        use core::fmt::Write;
        let mut text = alloc::string::String::with_capacity(128);
        for byte in self.0 {
            let _ = write!(text, "{byte:02x}");
        }
        text
    }
}

impl core::fmt::Debug for TypeHash {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "TypeHash({})", self.to_hex())
    }
}

/// The canonical kind tag (see the table in the module documentation).
pub const fn kind_tag(kind: &Kind<'_>) -> u8 {
    match kind {
        Kind::Scalar(scalar) => match scalar {
            Scalar::Int8 => 1,
            Scalar::Int16 => 2,
            Scalar::Int32 => 3,
            Scalar::Int64 => 4,
            Scalar::Uint8 => 5,
            Scalar::Uint16 => 6,
            Scalar::Uint32 => 7,
            Scalar::Uint64 => 8,
            Scalar::Float32 => 9,
            Scalar::Float64 => 10,
            Scalar::Bool => 11,
        },
        Kind::String => 12,
        Kind::Any => 13,
        Kind::Array { .. } => 14,
        Kind::Tuple { .. } => 15,
        Kind::Optional { .. } => 16,
        Kind::Alias { .. } => 17,
        Kind::Struct { .. } => 18,
        Kind::Union { .. } => 19,
        Kind::Interface { .. } => 20,
    }
}

/// Where the canonical bytes go: a hasher, or a buffer for tests and tools.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Sha512 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn put_text(sink: &mut dyn Sink, text: &str) {
    // Names longer than 4 GiB cannot come from ETN source; saturating keeps this total.
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    sink.put(&length.to_le_bytes());
    sink.put(text.as_bytes());
}

fn put_header(sink: &mut dyn Sink, node: &Node<'_>) {
    sink.put(&[kind_tag(&node.kind)]);
    put_text(sink, &node.name);
    match &node.kind {
        Kind::Array { length, .. } => sink.put(&length.to_le_bytes()),
        Kind::Struct { fields: members } | Kind::Union { variants: members } => {
            let count = u32::try_from(members.len()).unwrap_or(u32::MAX);
            sink.put(&count.to_le_bytes());
            for member in members.iter() {
                put_text(sink, &member.name);
            }
        }
        Kind::Interface { methods } => {
            let count = u32::try_from(methods.len()).unwrap_or(u32::MAX);
            sink.put(&count.to_le_bytes());
            for method in methods.iter() {
                put_text(sink, &method.name);
            }
        }
        _ => {}
    }
}

/// Strongly connected components over every edge (Tarjan, iterative), returned as a
/// component id per node and the components children-first.
fn components(nodes: &[Node<'_>]) -> (Vec<u32>, Vec<Vec<NodeIndex>>) {
    const UNVISITED: u32 = u32::MAX;
    let count = nodes.len();
    let mut index = vec![UNVISITED; count];
    let mut low_link = vec![0u32; count];
    let mut on_stack = vec![false; count];
    let mut component_of = vec![0u32; count];
    let mut stack: Vec<NodeIndex> = Vec::new();
    let mut calls: Vec<(NodeIndex, usize)> = Vec::new();
    let mut components: Vec<Vec<NodeIndex>> = Vec::new();
    let mut next_index = 0u32;
    for root in 0..count {
        if index[root] != UNVISITED {
            continue;
        }
        let visit = |node: usize,
                     index: &mut Vec<u32>,
                     low_link: &mut Vec<u32>,
                     on_stack: &mut Vec<bool>,
                     stack: &mut Vec<NodeIndex>,
                     next_index: &mut u32| {
            index[node] = *next_index;
            low_link[node] = *next_index;
            *next_index += 1;
            on_stack[node] = true;
            stack.push(node as NodeIndex);
        };
        visit(
            root,
            &mut index,
            &mut low_link,
            &mut on_stack,
            &mut stack,
            &mut next_index,
        );
        calls.push((root as NodeIndex, 0));
        while let Some((node, position)) = calls.last_mut() {
            let current = *node as usize;
            let next = child(&nodes[current].kind, *position, true);
            *position += 1;
            if let Some(target) = next {
                let target = target as usize;
                if target >= count {
                    continue;
                }
                if index[target] == UNVISITED {
                    visit(
                        target,
                        &mut index,
                        &mut low_link,
                        &mut on_stack,
                        &mut stack,
                        &mut next_index,
                    );
                    calls.push((target as NodeIndex, 0));
                } else if on_stack[target] {
                    low_link[current] = low_link[current].min(index[target]);
                }
                continue;
            }
            calls.pop();
            if let Some((parent, _)) = calls.last() {
                let parent = *parent as usize;
                low_link[parent] = low_link[parent].min(low_link[current]);
            }
            if low_link[current] == index[current] {
                let id = components.len() as u32;
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member as usize] = false;
                    component_of[member as usize] = id;
                    members.push(member);
                    if member as usize == current {
                        break;
                    }
                }
                components.push(members);
            }
        }
    }
    (component_of, components)
}

/// Writes the canonical encoding of `root` (after the domain prefix) to `sink`.
/// `hashes` must hold the hashes of every node outside `root`'s component; `order` is
/// scratch space of one entry per node, all `u32::MAX`, and is left that way.
fn encode_node(
    nodes: &[Node<'_>],
    component_of: &[u32],
    hashes: &[Option<[u8; 64]>],
    order: &mut [u32],
    root: NodeIndex,
    sink: &mut dyn Sink,
) {
    let component = component_of[root as usize];
    let mut visited: Vec<NodeIndex> = Vec::new();
    // Work list of child references still to write, last first.
    let mut pending: Vec<NodeIndex> = vec![root];
    while let Some(node) = pending.pop() {
        let slot = node as usize;
        if component_of[slot] != component {
            sink.put(&[0x00]);
            sink.put(&hashes[slot].unwrap_or([0; 64]));
        } else if order[slot] != u32::MAX {
            sink.put(&[0x02]);
            sink.put(&order[slot].to_le_bytes());
        } else {
            order[slot] = visited.len() as u32;
            visited.push(node);
            sink.put(&[0x01]);
            put_header(sink, &nodes[slot]);
            let first_child = pending.len();
            let mut position = 0;
            while let Some(child_index) = child(&nodes[slot].kind, position, true) {
                pending.push(child_index);
                position += 1;
            }
            pending[first_child..].reverse();
        }
    }
    for node in visited {
        order[node as usize] = u32::MAX;
    }
}

/// Computes every node's hash. The caller has checked that all child indices are in
/// range.
pub(crate) fn compute_hashes(nodes: &[Node<'_>]) -> Vec<TypeHash> {
    let (component_of, components) = components(nodes);
    let mut hashes: Vec<Option<[u8; 64]>> = vec![None; nodes.len()];
    let mut order = vec![u32::MAX; nodes.len()];
    for members in &components {
        let mut computed = Vec::with_capacity(members.len());
        for &member in members {
            let mut hasher = Sha512::new();
            hasher.update(DOMAIN);
            encode_node(
                nodes,
                &component_of,
                &hashes,
                &mut order,
                member,
                &mut hasher,
            );
            computed.push((member, <[u8; 64]>::from(hasher.finalize())));
        }
        for (member, digest) in computed {
            hashes[member as usize] = Some(digest);
        }
    }
    hashes
        .into_iter()
        .map(|digest| TypeHash(digest.unwrap_or([0; 64])))
        .collect()
}

/// The canonical bytes whose SHA-512 is `root`'s hash, domain prefix included; for
/// tests and tools that show what is hashed. Returns `None` for an index out of range.
pub fn canonical_encoding(graph: &crate::graph::TypeGraph<'_>, root: NodeIndex) -> Option<Vec<u8>> {
    let nodes = graph.nodes();
    if root as usize >= nodes.len() {
        return None;
    }
    let (component_of, _) = components(nodes);
    let hashes: Vec<Option<[u8; 64]>> = (0..nodes.len() as NodeIndex)
        .map(|index| graph.hash(index).map(|hash| hash.0))
        .collect();
    let mut order = vec![u32::MAX; nodes.len()];
    let mut bytes = Vec::from(DOMAIN);
    encode_node(nodes, &component_of, &hashes, &mut order, root, &mut bytes);
    Some(bytes)
}
