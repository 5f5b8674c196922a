//! The recognizer's rejections, one per rule of the wire layout, and its bounds.

use std::borrow::Cow;

use ethos_typesys::graph::{GraphError, Kind, Member, Node, NodeIndex, Scalar};
use ethos_typesys::wire::{self, MAXIMUM_MESSAGE_SIZE};
use ethos_typesys::{TypeError, TypeGraph, validate};
use ethos_typesys_sample::*;

fn graph() -> TypeGraph<'static> {
    type_graph().expect("sample graph is valid")
}

fn label(length: u64, bytes: &[u8]) -> Vec<u8> {
    let mut encoded = length.to_le_bytes().to_vec();
    encoded.extend_from_slice(bytes);
    encoded
}

#[test]
fn trailing_bytes() {
    assert_eq!(
        validate(&graph(), &Status::TYPE_HASH, &[1, 2, 3, 4, 5]),
        Err(TypeError::TrailingBytes { offset: 4 })
    );
}

#[test]
fn truncated_scalars() {
    assert_eq!(
        validate(&graph(), &Status::TYPE_HASH, &[1, 2, 3]),
        Err(TypeError::Truncated {
            offset: 0,
            needed: 4
        })
    );
}

#[test]
fn invalid_utf8() {
    assert_eq!(
        validate(&graph(), &Label::TYPE_HASH, &label(2, &[0xc3, 0x28])),
        Err(TypeError::InvalidUtf8 { offset: 8 })
    );
    assert_eq!(
        validate(&graph(), &Label::TYPE_HASH, &label(2, "é".as_bytes())),
        Ok(())
    );
}

#[test]
fn long_strings_are_utf8_exactly_when_core_says_so() {
    // Strings of a block (64 bytes) and more are checked in pieces cut where characters
    // start: every length around one and two blocks, with characters of 1 to 4 bytes,
    // each byte in turn replaced by bytes that start, continue or break characters.
    let graph = graph();
    let pattern = "Ethos types every byte — ηθος 𝔼 ";
    for length in (56..136).chain(184..200) {
        let text: String = pattern.chars().cycle().take(length).collect();
        for position in 0..text.len() {
            for replacement in [b'a', 0x80, 0xc2, 0xe0, 0xf0, 0xff] {
                let mut bytes = text.as_bytes().to_vec();
                bytes[position] = replacement;
                let message = label(bytes.len() as u64, &bytes);
                let expected = std::str::from_utf8(&bytes).is_ok();
                assert_eq!(
                    validate(&graph, &Label::TYPE_HASH, &message).is_ok(),
                    expected,
                    "length {length}, byte {position} set to {replacement:#x}"
                );
            }
        }
    }
}

#[test]
fn bools_are_zero_or_one() {
    assert_eq!(
        validate(&graph(), &Flag::TYPE_HASH, &[2]),
        Err(TypeError::InvalidBool {
            offset: 0,
            value: 2
        })
    );
    assert_eq!(
        validate(&graph(), &Flags::TYPE_HASH, &[0, 1, 0, 1, 0, 1, 0, 0xff]),
        Err(TypeError::InvalidBool {
            offset: 7,
            value: 0xff
        })
    );
}

#[test]
fn optional_tags() {
    assert_eq!(
        validate(&graph(), &MaybeLabel::TYPE_HASH, &[2]),
        Err(TypeError::InvalidOptionalTag {
            offset: 0,
            value: 2
        })
    );
}

#[test]
fn unknown_union_tag() {
    assert_eq!(
        validate(&graph(), &Shape::TYPE_HASH, &3u32.to_le_bytes()),
        Err(TypeError::UnknownUnionVariant { offset: 0, tag: 3 })
    );
}

#[test]
fn lengths_beyond_the_input() {
    assert_eq!(
        validate(&graph(), &Label::TYPE_HASH, &label(4, b"abc")),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: 4
        })
    );
    assert_eq!(
        validate(&graph(), &Bytes::TYPE_HASH, &label(u64::MAX, b"abc")),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: u64::MAX
        })
    );
    // Elements that are not plain each need a byte at least.
    assert_eq!(
        validate(&graph(), &Names::TYPE_HASH, &label(1 << 40, &[0; 16])),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: 1 << 40
        })
    );
    // Count × size overflowing 64 bits.
    assert_eq!(
        validate(&graph(), &Words::TYPE_HASH, &label(u64::MAX / 2, &[0; 16])),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: u64::MAX / 2
        })
    );
}

#[test]
fn unknown_any_hash() {
    let mut bytes = vec![0xab; 64];
    bytes.push(0);
    assert_eq!(
        validate(&graph(), &Anything::TYPE_HASH, &bytes),
        Err(TypeError::UnknownAnyType { offset: 0 })
    );
}

fn list(length: usize) -> List {
    let mut next = None;
    for value in 0..length as i32 {
        next = Some(Box::new(List { value, next }));
    }
    *next.expect("length at least 1")
}

#[test]
fn nesting_is_bounded() {
    let graph = graph();
    // Each list element is two levels: the struct, then its optional `Next`.
    let shallow = wire::encode(&list(30)).expect("encodes");
    assert_eq!(validate(&graph, &List::TYPE_HASH, &shallow), Ok(()));
    let deep = wire::encode(&list(40)).expect("encodes");
    assert!(matches!(
        validate(&graph, &List::TYPE_HASH, &deep),
        Err(TypeError::TooDeep {
            maximum_depth: 64,
            ..
        })
    ));
    let strict = graph
        .clone()
        .with_maximum_depth(5)
        .expect("within capacity");
    let two = wire::encode(&list(2)).expect("encodes");
    assert_eq!(validate(&strict, &List::TYPE_HASH, &two), Ok(()));
    let three = wire::encode(&list(3)).expect("encodes");
    assert!(matches!(
        validate(&strict, &List::TYPE_HASH, &three),
        Err(TypeError::TooDeep { .. })
    ));
    assert_eq!(
        graph.with_maximum_depth(65).err(),
        Some(GraphError::DepthAboveCapacity { requested: 65 })
    );
}

#[test]
fn messages_above_the_limit_are_refused() {
    let bytes = vec![0u8; MAXIMUM_MESSAGE_SIZE + 1];
    assert_eq!(
        validate(&graph(), &Bytes::TYPE_HASH, &bytes),
        Err(TypeError::MessageTooLarge {
            length: MAXIMUM_MESSAGE_SIZE + 1
        })
    );
    // Just under the limit is fine, and the decoder agrees.
    let value = Bytes(vec![7; MAXIMUM_MESSAGE_SIZE - 8]);
    let bytes = wire::encode(&value).expect("encodes");
    assert_eq!(bytes.len(), MAXIMUM_MESSAGE_SIZE);
    assert_eq!(validate(&graph(), &Bytes::TYPE_HASH, &bytes), Ok(()));
}

#[test]
fn hand_built_graphs_are_checked() {
    let out_of_range = [Node {
        name: Cow::Borrowed("Broken"),
        kind: Kind::Tuple { element: 9 },
    }];
    assert_eq!(
        TypeGraph::new(Cow::Borrowed(&out_of_range[..])).err(),
        Some(GraphError::ChildOutOfRange { node: 0, child: 9 })
    );
    let fields = [Member {
        name: Cow::Borrowed("Itself"),
        node: 0,
    }];
    let cycle = [Node {
        name: Cow::Borrowed("Loop"),
        kind: Kind::Struct {
            fields: Cow::Borrowed(&fields[..]),
        },
    }];
    assert_eq!(
        TypeGraph::new(Cow::Borrowed(&cycle[..])).err(),
        Some(GraphError::RecursiveWithoutIndirection { node: 0 })
    );
    let huge = [
        Node {
            name: Cow::Borrowed("Huge"),
            kind: Kind::Array {
                length: u64::MAX,
                element: 1,
            },
        },
        Node {
            name: Cow::Borrowed(""),
            kind: Kind::Scalar(Scalar::Uint16),
        },
    ];
    assert_eq!(
        TypeGraph::new(Cow::Borrowed(&huge[..])).err(),
        Some(GraphError::SizeOverflow { node: 0 })
    );
}

#[test]
fn arrays_of_checked_elements_stop_at_the_input_end() {
    // `[2^40]bool` has to look at every byte, and there are only three.
    let nodes = [
        Node {
            name: Cow::Borrowed("Many"),
            kind: Kind::Array {
                length: 1 << 40,
                element: 1,
            },
        },
        Node {
            name: Cow::Borrowed(""),
            kind: Kind::Scalar(Scalar::Bool),
        },
    ];
    let graph = TypeGraph::new(Cow::Borrowed(&nodes[..])).expect("valid graph");
    let hash = *graph.hash(0).expect("hash");
    assert!(matches!(
        validate(&graph, &hash, &[0, 1, 0]),
        Err(TypeError::Truncated { .. })
    ));
}

/// A byte string every value of the node's type has the length of, when there is one,
/// so that a lookup reaches the check straight from the hash's slot.
fn message_for(graph: &TypeGraph<'_>, node: NodeIndex) -> Vec<u8> {
    vec![0; graph.plain_size(node).unwrap_or(0) as usize]
}

#[test]
fn a_hash_that_differs_in_any_bit_is_unknown() {
    let graph = graph();
    for node in 0..graph.nodes().len() as NodeIndex {
        let hash = *graph.hash(node).expect("every node has a hash");
        let message = message_for(&graph, node);
        if graph.plain_size(node).is_some() {
            assert_eq!(validate(&graph, &hash, &message), Ok(()), "node {node}");
        }
        for byte in 0..64 {
            for bit in 0..8 {
                let mut changed = hash;
                changed.0[byte] ^= 1 << bit;
                assert_eq!(
                    validate(&graph, &changed, &message),
                    Err(TypeError::UnknownType),
                    "node {node}, byte {byte}, bit {bit}"
                );
            }
        }
    }
}

/// Plain types of several sizes: a value of each is accepted at its own length only,
/// and a hash that shares a type's first eight bytes (which pick its slot) but not the
/// rest names no type.
#[test]
fn plain_values_are_accepted_at_their_length_and_hash_only() {
    let names: Vec<String> = (0..6).map(|index| format!("Plain{index}")).collect();
    let mut nodes: Vec<Node<'_>> = names
        .iter()
        .enumerate()
        .map(|(index, name)| Node {
            name: Cow::Borrowed(name.as_str()),
            kind: Kind::Array {
                length: index as u64 + 1,
                element: names.len() as NodeIndex,
            },
        })
        .collect();
    nodes.push(Node {
        name: Cow::Borrowed(""),
        kind: Kind::Scalar(Scalar::Uint8),
    });
    let graph = TypeGraph::new(Cow::Owned(nodes)).expect("valid graph");
    for index in 0..names.len() as NodeIndex {
        let hash = *graph.hash(index).expect("hash");
        for length in 0..8 {
            let expected = if length == index as usize + 1 {
                Ok(())
            } else if length < index as usize + 1 {
                Err(TypeError::Truncated {
                    offset: 0,
                    needed: u64::from(index) + 1,
                })
            } else {
                Err(TypeError::TrailingBytes {
                    offset: index as usize + 1,
                })
            };
            assert_eq!(validate(&graph, &hash, &vec![0; length]), expected);
        }
        let mut same_prefix = hash;
        same_prefix.0[8..].copy_from_slice(&[0x5a; 56]);
        assert_eq!(
            validate(&graph, &same_prefix, &[0; 8][..index as usize + 1]),
            Err(TypeError::UnknownType)
        );
    }
}

#[test]
fn a_depth_bound_of_zero_refuses_even_plain_values() {
    let point = wire::encode(&Point { x: 1, y: 2 }).expect("encodes");
    let none = graph().with_maximum_depth(0).expect("within capacity");
    assert_eq!(
        validate(&none, &Point::TYPE_HASH, &point),
        Err(TypeError::TooDeep {
            offset: 0,
            maximum_depth: 0
        })
    );
    let again = none.with_maximum_depth(1).expect("within capacity");
    assert_eq!(validate(&again, &Point::TYPE_HASH, &point), Ok(()));
}

#[test]
fn a_plain_value_above_the_limit_is_refused_at_its_own_length() {
    let nodes = [
        Node {
            name: Cow::Borrowed("Huge"),
            kind: Kind::Array {
                length: MAXIMUM_MESSAGE_SIZE as u64 + 1,
                element: 1,
            },
        },
        Node {
            name: Cow::Borrowed(""),
            kind: Kind::Scalar(Scalar::Uint8),
        },
    ];
    let graph = TypeGraph::new(Cow::Borrowed(&nodes[..])).expect("valid graph");
    let hash = *graph.hash(0).expect("hash");
    let bytes = vec![0u8; MAXIMUM_MESSAGE_SIZE + 1];
    assert_eq!(
        validate(&graph, &hash, &bytes),
        Err(TypeError::MessageTooLarge {
            length: MAXIMUM_MESSAGE_SIZE + 1
        })
    );
}
