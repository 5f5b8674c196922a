//! The recognizer's rejections, one per rule of the wire layout, and its bounds.

use std::borrow::Cow;

use ethos_typesys::graph::{GraphError, Kind, Member, Node, NodeIndex, Scalar};
use ethos_typesys::recognizer::{Direction, recognize};
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

/// `bytes` after the `u32` tag or method index `tag`.
fn tagged(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut message = tag.to_le_bytes().to_vec();
    message.extend_from_slice(bytes);
    message
}

#[test]
fn byte_and_number_sequences_are_exactly_their_counted_length() {
    let graph = graph();
    // `Blob`: eight plain bytes, then a counted run of bytes.
    let blob = |count: u64, data: &[u8]| {
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&label(count, data));
        bytes
    };
    assert_eq!(validate(&graph, &Blob::TYPE_HASH, &blob(3, b"abc")), Ok(()));
    assert_eq!(validate(&graph, &Blob::TYPE_HASH, &blob(0, b"")), Ok(()));
    assert_eq!(
        validate(&graph, &Blob::TYPE_HASH, &blob(4, b"abc")),
        Err(TypeError::LengthTooLong {
            offset: 8,
            length: 4
        })
    );
    assert_eq!(
        validate(&graph, &Blob::TYPE_HASH, &blob(2, b"abc")),
        Err(TypeError::TrailingBytes { offset: 18 })
    );
    assert_eq!(
        validate(&graph, &Blob::TYPE_HASH, &blob(u64::MAX, b"abc")),
        Err(TypeError::LengthTooLong {
            offset: 8,
            length: u64::MAX
        })
    );
    assert_eq!(
        validate(&graph, &Blob::TYPE_HASH, &blob(3, b"abc")[..12]),
        Err(TypeError::Truncated {
            offset: 8,
            needed: 8
        })
    );
    // `Words`: a count of 2^62 + 1 four-byte words is 4 bytes modulo 2^64, and no
    // count of them fits in 4 bytes but 1.
    let wrapping = (1u64 << 62) + 1;
    assert_eq!(
        validate(&graph, &Words::TYPE_HASH, &label(wrapping, &[1, 2, 3, 4])),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: wrapping
        })
    );
    assert_eq!(
        validate(&graph, &Words::TYPE_HASH, &label(1, &[1, 2, 3, 4])),
        Ok(())
    );
    assert_eq!(
        validate(&graph, &Words::TYPE_HASH, &label(1, &[1, 2, 3])),
        Err(TypeError::LengthTooLong {
            offset: 0,
            length: 1
        })
    );
    assert_eq!(
        validate(&graph, &Words::TYPE_HASH, &label(1, &[1, 2, 3, 4, 5])),
        Err(TypeError::TrailingBytes { offset: 12 })
    );
}

#[test]
fn messages_of_one_string_and_numbers_are_checked_whole() {
    let graph = graph();
    let root = graph
        .find(&Counter::TYPE_HASH)
        .expect("Counter is in the graph");
    let reply = |bytes: &[u8]| recognize(&graph, root, Direction::Reply, bytes);
    let request = |bytes: &[u8]| recognize(&graph, root, Direction::Request, bytes);
    // `Describe` replies a string then a `float64`.
    let describe = |length: u64, text: &[u8], area: &[u8]| {
        let mut bytes = label(length, text);
        bytes.extend_from_slice(area);
        tagged(1, &bytes)
    };
    let area = 2.5f64.to_le_bytes();
    assert_eq!(reply(&describe(2, "é".as_bytes(), &area)), Ok(()));
    assert_eq!(reply(&describe(0, b"", &area)), Ok(()));
    assert_eq!(
        reply(&describe(2, &[0xc3, 0x28], &area)),
        Err(TypeError::InvalidUtf8 { offset: 12 })
    );
    assert_eq!(
        reply(&describe(2, b"ab", &area[..7])),
        Err(TypeError::Truncated {
            offset: 14,
            needed: 8
        })
    );
    assert_eq!(
        reply(&describe(2, b"ab", &[0; 9])),
        Err(TypeError::TrailingBytes { offset: 22 })
    );
    // A length one short leaves a byte of text over for the `float64`, whose last
    // byte is then missing; one long takes a byte of it.
    assert_eq!(
        reply(&describe(1, b"ab", &area)),
        Err(TypeError::TrailingBytes { offset: 21 })
    );
    assert_eq!(
        reply(&describe(3, b"ab", &area)),
        Err(TypeError::Truncated {
            offset: 15,
            needed: 8
        })
    );
    // As a request, a `Describe` reply is a `Shape` tag 2 (`Nothing`), a nil label
    // and bytes over.
    assert_eq!(
        request(&describe(2, b"ab", &area)),
        Err(TypeError::TrailingBytes { offset: 9 })
    );
    // `Increment` takes and gives a `uint64`; `Reset`, nothing.
    assert_eq!(request(&tagged(0, &[9; 8])), Ok(()));
    assert_eq!(reply(&tagged(0, &[9; 8])), Ok(()));
    assert_eq!(
        request(&tagged(0, &[9; 7])),
        Err(TypeError::Truncated {
            offset: 4,
            needed: 8
        })
    );
    assert_eq!(
        reply(&tagged(0, &[9; 9])),
        Err(TypeError::TrailingBytes { offset: 12 })
    );
    assert_eq!(request(&tagged(2, &[])), Ok(()));
    assert_eq!(
        reply(&tagged(2, &[0])),
        Err(TypeError::TrailingBytes { offset: 4 })
    );
    assert_eq!(
        request(&tagged(3, &[])),
        Err(TypeError::UnknownMethod {
            offset: 0,
            index: 3
        })
    );
    assert_eq!(
        reply(&[0, 0, 0]),
        Err(TypeError::Truncated {
            offset: 0,
            needed: 4
        })
    );
    // A union's fixed-size variant is its size exactly.
    let circle = [0u8; 12];
    assert_eq!(
        validate(&graph, &Shape::TYPE_HASH, &tagged(0, &circle)),
        Ok(())
    );
    assert_eq!(
        validate(&graph, &Shape::TYPE_HASH, &tagged(0, &circle[..11])),
        Err(TypeError::Truncated {
            offset: 4,
            needed: 12
        })
    );
    assert_eq!(
        validate(&graph, &Shape::TYPE_HASH, &tagged(3, &circle)),
        Err(TypeError::UnknownUnionVariant { offset: 0, tag: 3 })
    );
}

#[test]
fn counted_sequences_in_messages_respect_the_depth_bound() {
    // `Blob` is at depth 1, its `Data` at 2 and the bytes of it at 3.
    let blob = {
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&label(3, b"abc"));
        bytes
    };
    let empty = [0u8; 16];
    for (maximum_depth, accepted) in [(2, false), (3, true)] {
        let graph = graph()
            .with_maximum_depth(maximum_depth)
            .expect("bound within capacity");
        let verdict = validate(&graph, &Blob::TYPE_HASH, &blob);
        assert_eq!(verdict.is_ok(), accepted, "{verdict:?} at {maximum_depth}");
        if !accepted {
            assert_eq!(
                verdict,
                Err(TypeError::TooDeep {
                    offset: 16,
                    maximum_depth
                })
            );
        }
        // With no bytes there is nothing at depth 3.
        assert_eq!(validate(&graph, &Blob::TYPE_HASH, &empty), Ok(()));
    }
    // A `Describe` reply's struct is at depth 2 and its string at 3.
    let describe = {
        let mut bytes = label(2, b"ab");
        bytes.extend_from_slice(&[0; 8]);
        tagged(1, &bytes)
    };
    for (maximum_depth, accepted) in [(1, false), (2, false), (3, true)] {
        let graph = graph()
            .with_maximum_depth(maximum_depth)
            .expect("bound within capacity");
        let root = graph
            .find(&Counter::TYPE_HASH)
            .expect("Counter is in the graph");
        let verdict = recognize(&graph, root, Direction::Reply, &describe);
        assert_eq!(verdict.is_ok(), accepted, "{verdict:?} at {maximum_depth}");
        assert_eq!(
            matches!(verdict, Err(TypeError::TooDeep { .. })),
            !accepted,
            "{verdict:?} at {maximum_depth}"
        );
    }
}
