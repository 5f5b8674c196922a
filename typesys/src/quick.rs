//! The recognizer's quick check: most messages are accepted from their length alone,
//! with no instruction of their program run.
//!
//! A method's struct of numbers and one byte slice or string (`Bounce(Data []byte)`,
//! `Echo(Text string)`, `Increment(By uint64)`) compiles to a straight program that is
//! plain bytes, at most one counted sequence of plain values or one string, and more
//! plain bytes: a [`Shape`]. A value of such a program is one exactly when its length is
//! the head, the count field, the count times the element size and the tail (the
//! product checked for overflow), and, for a string, its bytes are UTF-8. Every node
//! whose program has a shape, and every union or interface whose chosen struct may
//! have one, gets a [`Quick`] entry, computed when the graph is built; [`accepts`]
//! reads it, the tag or method index, the chosen shape and the count, each from its
//! own place with one bounds check, and compares.
//!
//! It only ever accepts: it answers `false` for anything it does not take, well-typed
//! or not, and the recognizer then runs the program from the start. So every ill-typed
//! value is refused by the program, with the error it always had, and a value this
//! check accepts is one the program accepts too (the tests compare the two on the
//! encodings of every kind of shape and their mutations). Depths are checked as the
//! program checks them, through the shape's reach: a value deeper than the bound is
//! left to the program, which refuses it. The entries are built with the graph;
//! [`accepts`] never allocates and never panics.
//!
//! A plain root's entry holds its size, so that the recognizer's length check of plain
//! values reads the same entry.

use alloc::vec::Vec;

use crate::graph::NodeIndex;
use crate::program::{Code, Instruction, Operation};
use crate::recognizer::Direction;
use crate::utf8::is_utf8;

/// What follows a [`Shape`]'s fixed head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sequence {
    /// Nothing: the head is the whole value.
    None,
    /// A `u64` count, then that many plain values of the shape's element size.
    Plain,
    /// A `u64` length, then that many bytes of UTF-8: a string.
    Text,
}

/// A straight program that is plain bytes, `head` of them, then at most one
/// [`Sequence`], then `tail` more plain bytes. The fields are flat, so that reading one
/// costs a load and no decoding of nested enums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    head: u64,
    /// The size of the sequence's elements: 1 for a string's bytes, 0 without a
    /// sequence.
    element: u64,
    tail: u64,
    /// The program's reach, as in [`Code::straight`].
    reach: u32,
    sequence: Sequence,
}

impl Shape {
    /// The shape of a straight program's instructions (its `Return` excluded) of the
    /// given reach, if it has one.
    fn of(instructions: &[Instruction], reach: u32) -> Option<Self> {
        let mut shape = Shape {
            head: 0,
            element: 0,
            tail: 0,
            reach,
            sequence: Sequence::None,
        };
        for instruction in instructions {
            let (sequence, element) = match instruction.operation {
                Operation::Skip(size) => {
                    let bytes = match shape.sequence {
                        Sequence::None => &mut shape.head,
                        _ => &mut shape.tail,
                    };
                    *bytes = bytes.checked_add(size)?;
                    continue;
                }
                Operation::PlainTuple(size) => (Sequence::Plain, size),
                Operation::String => (Sequence::Text, 1),
                _ => return None,
            };
            if shape.sequence != Sequence::None {
                return None;
            }
            shape.sequence = sequence;
            shape.element = element;
        }
        Some(shape)
    }
}

/// How a root is checked without running its program, when the input allows. Its
/// variant is a byte of its own (`repr(u8)`), which one load and compare tell, rather
/// than a value kept in a spare pattern of the shape's fields, which takes arithmetic
/// to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Quick {
    /// Its program runs.
    None,
    /// It is plain, of this size: the recognizer checks its length (see
    /// [`crate::layout`]), and finds that out from this one entry.
    Plain(u64),
    /// Its program has this shape.
    Shape(Shape),
    /// Its whole program is one union (`interface` false) or interface, whose `count`
    /// choices start at `first` of the code's targets: the chosen struct's shape, if
    /// it has one, is in [`Code::target_shapes`].
    Choice {
        first: u32,
        count: u32,
        interface: bool,
    },
}

/// Each node's [`Quick`] entry and each target's shape, from the nodes' programs
/// (`None` for one not compiled), their reaches (see [`Code::straight`]), their plain
/// sizes and the nodes the targets are of.
pub(crate) fn tables(
    programs: &[Option<&[Instruction]>],
    straight: &[Option<u32>],
    plain_sizes: &[Option<u64>],
    targets: &[NodeIndex],
) -> (Vec<Quick>, Vec<Option<Shape>>) {
    let shapes: Vec<Option<Shape>> = programs
        .iter()
        .zip(straight)
        .map(|(program, reach)| Shape::of((*program)?, (*reach)?))
        .collect();
    // Every node has a program slot, a reach and a plain size.
    let quick = programs
        .iter()
        .zip(&shapes)
        .zip(plain_sizes)
        .map(
            |((program, shape), plain_size)| match (plain_size, shape, program) {
                (Some(size), _, _) => Quick::Plain(*size),
                (None, Some(shape), _) => Quick::Shape(*shape),
                // An alias of a union or interface is a copy of its program.
                (
                    None,
                    None,
                    Some(
                        [
                            Instruction {
                                depth: 0,
                                operation,
                            },
                        ],
                    ),
                ) => match *operation {
                    Operation::Union { first, count } => Quick::Choice {
                        first,
                        count,
                        interface: false,
                    },
                    Operation::Interface { first, count } => Quick::Choice {
                        first,
                        count,
                        interface: true,
                    },
                    _ => Quick::None,
                },
                _ => Quick::None,
            },
        )
        .collect();
    let target_shapes = targets
        .iter()
        .map(|&node| shapes.get(node as usize).copied().flatten())
        .collect();
    (quick, target_shapes)
}

/// Whether the root's [`Quick`] entry, `entry`, accepts `bytes` with its depths
/// within `maximum_depth`: `true` only for a value that the root's program accepts
/// too, `false` for any other, which the program then checks. A plain root's length
/// the recognizer checks before.
#[inline(always)]
pub(crate) fn accepts(
    code: &Code,
    entry: Option<&Quick>,
    direction: Direction,
    bytes: &[u8],
    maximum_depth: usize,
) -> bool {
    let (first, count, interface) = match entry {
        // The root is at depth 1, so its deepest value is at `1 + reach`.
        Some(Quick::Shape(shape)) => {
            return (shape.reach as usize) < maximum_depth && fits(shape, bytes);
        }
        Some(&Quick::Choice {
            first,
            count,
            interface,
        }) => (first, count, interface),
        _ => return false,
    };
    let Some((tag, value)) = bytes.split_first_chunk::<4>() else {
        return false;
    };
    let tag = u32::from_le_bytes(*tag);
    if tag >= count {
        return false;
    }
    // A union's variants are one target each; a method's are its arguments, then its
    // results.
    let choice = match (interface, direction) {
        (false, _) => u64::from(tag),
        (true, Direction::Request) => 2 * u64::from(tag),
        (true, Direction::Reply) => 2 * u64::from(tag) + 1,
    };
    let shape = usize::try_from(u64::from(first) + choice)
        .ok()
        .and_then(|position| code.target_shapes.get(position));
    match shape {
        // The chosen value is at depth 2, so its deepest is `2 + reach`.
        Some(Some(shape)) => {
            (shape.reach as usize).saturating_add(2) <= maximum_depth && fits(shape, value)
        }
        _ => false,
    }
}

/// Whether `value` is exactly one value of `shape`: its head, a count or string length
/// and as many elements as that says (for a string, UTF-8), then its tail, with no byte
/// left over. A count too large for the value fails the one length comparison, as its
/// product with the element size is checked for overflow.
#[inline(always)]
fn fits(shape: &Shape, value: &[u8]) -> bool {
    let Some(rest) = usize::try_from(shape.head)
        .ok()
        .and_then(|head| value.get(head..))
    else {
        return false;
    };
    if shape.sequence == Sequence::None {
        return rest.len() as u64 == shape.tail;
    }
    let Some((count, elements)) = rest.split_first_chunk::<8>() else {
        return false;
    };
    let count = u64::from_le_bytes(*count);
    let Some(room) = (elements.len() as u64).checked_sub(shape.tail) else {
        return false;
    };
    if count.checked_mul(shape.element) != Some(room) {
        return false;
    }
    shape.sequence != Sequence::Text || text_fits(elements, count)
}

/// Whether the first `length` bytes of `elements`, a string's, are UTF-8: a call of
/// its own, so that the path of byte sequences keeps its few registers.
#[inline(never)]
fn text_fits(elements: &[u8], length: u64) -> bool {
    usize::try_from(length)
        .ok()
        .and_then(|length| elements.get(..length))
        .is_some_and(is_utf8)
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::TypeGraph;
    use crate::recognizer::{TypeError, recognize, run_program};

    const SCHEMA: &str = "
        Payload  []byte
        Words    []uint32
        Point    struct { X int32; Y int32 }
        Points   struct { Tag uint16; Points []Point; Crc uint8 }
        Note     struct { Id uint64; Text string; Checksum uint32 }
        Pair     struct { A Payload; B Payload }
        Choice   union { Square uint32; Words Words; Flag bool; Note Note }
        Bouncer  interface {
            Bounce(Data Payload) (Data Payload)
            Echo(Text string) (Text string, Length uint64)
            Shutdown()
        }
    ";

    fn graph(maximum_depth: usize) -> TypeGraph<'static> {
        crate::etn::parse("quick.etn", SCHEMA)
            .expect("the schema is valid")
            .graph
            .with_maximum_depth(maximum_depth)
            .expect("the bound is within capacity")
    }

    fn root(graph: &TypeGraph<'_>, name: &str) -> NodeIndex {
        graph.find_by_name(name).expect("the type is declared")
    }

    /// `parts` one after the other.
    fn join(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn counted(count: u64, bytes: &[u8]) -> Vec<u8> {
        join(&[&count.to_le_bytes(), bytes])
    }

    /// Well-typed values of the schema's types and messages of its interface.
    fn values() -> Vec<Vec<u8>> {
        let note = join(&[&[7; 8], &counted(3, "hé".as_bytes()), &[1, 2, 3, 4]]);
        let words = counted(2, &[1, 2, 3, 4, 5, 6, 7, 8]);
        vec![
            counted(3, b"abc"),
            counted(0, b""),
            words.clone(),
            join(&[&[1, 2], &counted(1, &[3; 8]), &[4]]),
            note.clone(),
            join(&[&counted(1, b"a"), &counted(2, b"bc")]),
            join(&[&0u32.to_le_bytes(), &[9; 4]]),
            join(&[&1u32.to_le_bytes(), &words]),
            join(&[&2u32.to_le_bytes(), &[1]]),
            join(&[&3u32.to_le_bytes(), &note]),
            join(&[&0u32.to_le_bytes(), &counted(4, &[0xff; 4])]),
            join(&[&1u32.to_le_bytes(), &counted(2, b"hi")]),
            join(&[&1u32.to_le_bytes(), &counted(2, b"hi"), &[5; 8]]),
            2u32.to_le_bytes().to_vec(),
        ]
    }

    /// Each value cut short, one byte longer, with one byte changed, and with each
    /// eight bytes replaced by counts that are off by one, huge, or wrap when
    /// multiplied by an element size.
    fn mutations(value: &[u8]) -> Vec<Vec<u8>> {
        let mut all = vec![value.to_vec(), join(&[value, &[0]])];
        all.extend((0..value.len()).map(|end| value[..end].to_vec()));
        for position in 0..value.len() {
            let byte = value[position];
            for changed in [
                0,
                1,
                2,
                3,
                0x80,
                0xc3,
                0xff,
                byte.wrapping_add(1),
                byte.wrapping_sub(1),
            ] {
                let mut mutated = value.to_vec();
                mutated[position] = changed;
                all.push(mutated);
            }
        }
        let length = value.len() as u64;
        let counts = [
            0,
            1,
            2,
            length - 1,
            length,
            length + 1,
            1 << 62,
            (1 << 62) + 1,
            1 << 63,
            u64::MAX,
        ];
        for position in 0..value.len().saturating_sub(7) {
            for count in counts {
                let mut mutated = value.to_vec();
                mutated[position..position + 8].copy_from_slice(&count.to_le_bytes());
                all.push(mutated);
            }
        }
        all
    }

    #[test]
    fn the_quick_check_accepts_only_what_the_program_accepts() {
        let names = [
            "Point", "Payload", "Words", "Points", "Note", "Pair", "Choice", "Bouncer",
        ];
        let mut accepted = 0;
        let mut refused = 0;
        for maximum_depth in 0..=4 {
            let graph = graph(maximum_depth);
            let code = &graph.layout().code;
            for value in values() {
                for bytes in mutations(&value) {
                    for name in names {
                        let root = root(&graph, name);
                        for direction in [Direction::Request, Direction::Reply] {
                            let program =
                                run_program(&graph, root, direction, &bytes, maximum_depth);
                            let entry = code.quick.get(root as usize);
                            if accepts(code, entry, direction, &bytes, maximum_depth) {
                                assert_eq!(program, Ok(()), "{name} {direction:?} {bytes:02x?}");
                                accepted += 1;
                            } else {
                                refused += 1;
                            }
                            assert_eq!(
                                recognize(&graph, root, direction, &bytes),
                                program,
                                "{name} {direction:?} at {maximum_depth} on {bytes:02x?}"
                            );
                        }
                    }
                }
            }
        }
        // Both answers were given many times.
        assert!(
            accepted > 100 && refused > 1000,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn the_quick_check_takes_small_messages_and_the_program_refuses_bad_ones() {
        let graph = graph(crate::graph::DEFAULT_MAXIMUM_DEPTH);
        let code = &graph.layout().code;
        let bouncer = root(&graph, "Bouncer");
        let bounce = |count: u64, data: &[u8]| join(&[&0u32.to_le_bytes(), &counted(count, data)]);
        let echo = |count: u64, text: &[u8], length: &[u8]| {
            join(&[&1u32.to_le_bytes(), &counted(count, text), length])
        };
        let payload = [0x5a; 64];
        for direction in [Direction::Request, Direction::Reply] {
            let good = bounce(64, &payload);
            assert_eq!(good.len(), 76);
            assert!(accepts(
                code,
                code.quick.get(bouncer as usize),
                direction,
                &good,
                graph.maximum_depth()
            ));
            assert!(accepts(
                code,
                code.quick.get(bouncer as usize),
                direction,
                &2u32.to_le_bytes(),
                64
            ));
            let check = |bytes: &[u8]| recognize(&graph, bouncer, direction, bytes);
            assert_eq!(check(&good), Ok(()));
            assert_eq!(
                check(&bounce(65, &payload)),
                Err(TypeError::LengthTooLong {
                    offset: 4,
                    length: 65
                })
            );
            assert_eq!(
                check(&bounce(63, &payload)),
                Err(TypeError::TrailingBytes { offset: 75 })
            );
            assert_eq!(
                check(&good[..75]),
                Err(TypeError::LengthTooLong {
                    offset: 4,
                    length: 64
                })
            );
            assert_eq!(
                check(&good[..10]),
                Err(TypeError::Truncated {
                    offset: 4,
                    needed: 8
                })
            );
            assert_eq!(
                check(&join(&[&good, &[0]])),
                Err(TypeError::TrailingBytes { offset: 76 })
            );
            assert_eq!(
                check(&join(&[&3u32.to_le_bytes(), &good[4..]])),
                Err(TypeError::UnknownMethod {
                    offset: 0,
                    index: 3
                })
            );
            assert_eq!(
                check(&join(&[&2u32.to_le_bytes(), &[0]])),
                Err(TypeError::TrailingBytes { offset: 4 })
            );
        }
        // `Echo` takes a string and gives one and a number.
        let request = |bytes: &[u8]| recognize(&graph, bouncer, Direction::Request, bytes);
        let reply = |bytes: &[u8]| recognize(&graph, bouncer, Direction::Reply, bytes);
        assert!(accepts(
            code,
            code.quick.get(bouncer as usize),
            Direction::Request,
            &echo(2, b"hi", &[]),
            64
        ));
        assert!(accepts(
            code,
            code.quick.get(bouncer as usize),
            Direction::Reply,
            &echo(2, b"hi", &[0; 8]),
            64
        ));
        assert_eq!(request(&echo(2, b"hi", &[])), Ok(()));
        assert_eq!(
            request(&echo(2, &[0xc3, 0x28], &[])),
            Err(TypeError::InvalidUtf8 { offset: 12 })
        );
        assert_eq!(
            reply(&echo(2, &[0xe2, 0x82], &[0; 8])),
            Err(TypeError::InvalidUtf8 { offset: 12 })
        );
        assert_eq!(
            request(&echo(2, b"hi", &[0; 8])),
            Err(TypeError::TrailingBytes { offset: 14 })
        );
        assert_eq!(
            reply(&echo(2, b"hi", &[])),
            Err(TypeError::Truncated {
                offset: 14,
                needed: 8
            })
        );
        // `Words` of 2^62 + 1 elements would be 4 bytes if the product wrapped.
        let words = root(&graph, "Words");
        let wrapping = (1u64 << 62) + 1;
        assert_eq!(
            recognize(
                &graph,
                words,
                Direction::Request,
                &counted(wrapping, &[0; 4])
            ),
            Err(TypeError::LengthTooLong {
                offset: 0,
                length: wrapping
            })
        );
        // Two sequences are no shape: the program checks them.
        let pair = root(&graph, "Pair");
        let two = join(&[&counted(1, b"a"), &counted(2, b"bc")]);
        assert!(!accepts(
            code,
            code.quick.get(pair as usize),
            Direction::Request,
            &two,
            64
        ));
        assert_eq!(recognize(&graph, pair, Direction::Request, &two), Ok(()));
    }
}
