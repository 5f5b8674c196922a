//! The recognizer: decides whether a byte string is exactly one ETE value of a type.
//!
//! [`validate`] accepts precisely the byte strings that the generated decoder turns
//! into a value of the type with no bytes left over (see [`crate::wire`] for the
//! layout). The kernel calls it on every file write and every message, in both
//! directions, so it must never allocate, never recurse, never panic and never loop
//! longer than the input allows:
//!
//! - it walks the type with an explicit stack of at most [`DEPTH_CAPACITY`] entries
//!   kept in a fixed array, and rejects nesting deeper than the graph's bound
//!   ([`TypeGraph::maximum_depth`]);
//! - every read is bounds-checked; lengths are compared with the remaining input before
//!   use, and products of counts and sizes are checked for overflow;
//! - a value whose size is fixed and whose every byte pattern is valid (integers,
//!   floats and arrays and structs of them) is skipped in one step, so a count of
//!   such elements costs O(1) and any other element consumes at least one byte;
//! - messages longer than [`MAXIMUM_MESSAGE_SIZE`] are refused, as the decoder does.
//!
//! UTF-8 is checked with `simdutf8`, which accepts exactly what `core::str::from_utf8`
//! accepts: with its `std` feature (this crate's `std`) it picks SIMD code at run time,
//! without it SIMD code only when the target enables it, else the portable check.
//!
//! Depth counts the values being recognized: the root is at depth 1, and a struct
//! field, array or tuple element, union variant, optional value, `any` value or method
//! struct is one deeper than its container; an alias adds nothing, and a skipped
//! fixed-size value counts as one leaf.

use crate::graph::{DEPTH_CAPACITY, Kind, NodeIndex, TypeGraph};
use crate::hash::TypeHash;
use crate::layout::Operation;
use crate::wire::MAXIMUM_MESSAGE_SIZE;

/// Why bytes are not a value of the type. Offsets count bytes from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeError {
    /// The type hash names no type of the graph.
    UnknownType,
    /// The message is longer than any value may be.
    MessageTooLarge {
        /// The message length.
        length: usize,
    },
    /// The input ends inside a value.
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
        /// How many bytes were needed there.
        needed: u64,
    },
    /// A string, tuple or array claims more bytes than remain.
    LengthTooLong {
        /// Where the value starts.
        offset: usize,
        /// The element count or byte length it claims.
        length: u64,
    },
    /// Bytes remain after one whole value.
    TrailingBytes {
        /// Where the value ended.
        offset: usize,
    },
    /// A `bool` byte other than 0 or 1.
    InvalidBool {
        /// Where the byte is.
        offset: usize,
        /// The byte.
        value: u8,
    },
    /// An optional's tag other than 0 (nil) or 1 (present).
    InvalidOptionalTag {
        /// Where the tag is.
        offset: usize,
        /// The tag.
        value: u8,
    },
    /// A string that is not UTF-8.
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A union tag past the last variant.
    UnknownUnionVariant {
        /// Where the tag is.
        offset: usize,
        /// The tag.
        tag: u32,
    },
    /// A method index past the last method.
    UnknownMethod {
        /// Where the index is.
        offset: usize,
        /// The index.
        index: u32,
    },
    /// An `any` carrying a hash that names no named type of the graph.
    UnknownAnyType {
        /// Where the hash is.
        offset: usize,
    },
    /// Nesting deeper than the graph's bound.
    TooDeep {
        /// Where the too-deep value starts.
        offset: usize,
        /// The bound.
        maximum_depth: usize,
    },
    /// The graph refers to a node it does not have; a graph built by
    /// [`TypeGraph::new`] never does.
    MalformedGraph,
    /// A reply was asked for a type that is not an interface.
    NotAnInterface,
}

impl core::fmt::Display for TypeError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TypeError::UnknownType => formatter.write_str("no type has this hash"),
            TypeError::MessageTooLarge { length } => write!(
                formatter,
                "message of {length} bytes exceeds the {MAXIMUM_MESSAGE_SIZE}-byte limit"
            ),
            TypeError::Truncated { offset, needed } => {
                write!(
                    formatter,
                    "input ends at {offset}, {needed} more bytes needed"
                )
            }
            TypeError::LengthTooLong { offset, length } => write!(
                formatter,
                "length {length} at offset {offset} exceeds the remaining input"
            ),
            TypeError::TrailingBytes { offset } => {
                write!(
                    formatter,
                    "bytes remain after the value ends at offset {offset}"
                )
            }
            TypeError::InvalidBool { offset, value } => {
                write!(formatter, "bool at offset {offset} is {value}, not 0 or 1")
            }
            TypeError::InvalidOptionalTag { offset, value } => write!(
                formatter,
                "optional tag at offset {offset} is {value}, not 0 or 1"
            ),
            TypeError::InvalidUtf8 { offset } => {
                write!(formatter, "string at offset {offset} is not UTF-8")
            }
            TypeError::UnknownUnionVariant { offset, tag } => {
                write!(
                    formatter,
                    "union tag {tag} at offset {offset} names no variant"
                )
            }
            TypeError::UnknownMethod { offset, index } => {
                write!(
                    formatter,
                    "method index {index} at offset {offset} names no method"
                )
            }
            TypeError::UnknownAnyType { offset } => write!(
                formatter,
                "type hash of the `any` at offset {offset} names no known type"
            ),
            TypeError::TooDeep {
                offset,
                maximum_depth,
            } => write!(
                formatter,
                "value at offset {offset} nests deeper than {maximum_depth}"
            ),
            TypeError::MalformedGraph => formatter.write_str("the type graph is malformed"),
            TypeError::NotAnInterface => formatter.write_str("the type is not an interface"),
        }
    }
}

impl core::error::Error for TypeError {}

/// Checks that `bytes` is exactly one value of the type `type_hash` (for an interface:
/// one request, a method index then its argument struct).
pub fn validate(
    graph: &TypeGraph<'_>,
    type_hash: &TypeHash,
    bytes: &[u8],
) -> Result<(), TypeError> {
    let root = graph.find(type_hash).ok_or(TypeError::UnknownType)?;
    recognize(graph, root, Direction::Request, bytes)
}

/// Checks that `bytes` is exactly one reply of the interface `interface_hash`: a method
/// index then that method's result struct.
pub fn validate_reply(
    graph: &TypeGraph<'_>,
    interface_hash: &TypeHash,
    bytes: &[u8],
) -> Result<(), TypeError> {
    let root = graph.find(interface_hash).ok_or(TypeError::UnknownType)?;
    match graph.node(root).map(|node| &node.kind) {
        Some(Kind::Interface { .. }) => recognize(graph, root, Direction::Reply, bytes),
        _ => Err(TypeError::NotAnInterface),
    }
}

/// Which struct of a method an interface message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: the arguments.
    Request,
    /// Server to client: the results.
    Reply,
}

/// Checks `bytes` against the node `root` of `graph`.
pub fn recognize(
    graph: &TypeGraph<'_>,
    root: NodeIndex,
    direction: Direction,
    bytes: &[u8],
) -> Result<(), TypeError> {
    if bytes.len() > MAXIMUM_MESSAGE_SIZE {
        return Err(TypeError::MessageTooLarge {
            length: bytes.len(),
        });
    }
    let maximum_depth = graph.maximum_depth().min(DEPTH_CAPACITY);
    // A plain root, the common small message, needs no walk at all.
    if let Some(size) = graph.plain_size(root)
        && maximum_depth >= 1
    {
        return match (bytes.len() as u64).cmp(&size) {
            core::cmp::Ordering::Equal => Ok(()),
            core::cmp::Ordering::Less => Err(TypeError::Truncated {
                offset: 0,
                needed: size,
            }),
            core::cmp::Ordering::Greater => Err(TypeError::TrailingBytes {
                offset: size as usize,
            }),
        };
    }
    // Most values nest only a few containers deep: they are walked with a short
    // stack, which costs less to set up. A walk that ran out of it is done again with
    // the whole one; walking has no effect but its answer, so the answer is the
    // whole walk's either way.
    match walk::<SHORT_STACK>(graph, root, direction, bytes, maximum_depth) {
        Err(TypeError::TooDeep { .. }) if maximum_depth > SHORT_STACK => {
            walk::<DEPTH_CAPACITY>(graph, root, direction, bytes, maximum_depth)
        }
        answer => answer,
    }
}

/// Frames of the short stack most values are walked with.
const SHORT_STACK: usize = 8;

/// Walks `bytes` from `root` with a stack of `N` frames: `TooDeep` when the value
/// nests deeper than `maximum_depth` or than the stack holds.
fn walk<const N: usize>(
    graph: &TypeGraph<'_>,
    root: NodeIndex,
    direction: Direction,
    bytes: &[u8],
    maximum_depth: usize,
) -> Result<(), TypeError> {
    let mut walk = Walk {
        graph,
        input: Input { bytes, offset: 0 },
        stack: [Frame::EMPTY; N],
        height: 0,
        maximum_depth,
        direction,
    };
    walk.run(root)?;
    if walk.input.offset == bytes.len() {
        Ok(())
    } else {
        Err(TypeError::TrailingBytes {
            offset: walk.input.offset,
        })
    }
}

/// The bytes and how far recognition has read.
struct Input<'bytes> {
    bytes: &'bytes [u8],
    offset: usize,
}

impl<'bytes> Input<'bytes> {
    #[inline(always)]
    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    #[inline(always)]
    fn take(&mut self, count: u64) -> Result<&'bytes [u8], TypeError> {
        if count > self.remaining() as u64 {
            return Err(TypeError::Truncated {
                offset: self.offset,
                needed: count,
            });
        }
        let start = self.offset;
        // `count` fits: it is at most the remaining length, a `usize`.
        self.offset += count as usize;
        self.bytes
            .get(start..self.offset)
            .ok_or(TypeError::MalformedGraph)
    }

    #[inline(always)]
    fn array<const WIDTH: usize>(&mut self) -> Result<[u8; WIDTH], TypeError> {
        let taken = self.take(WIDTH as u64)?;
        let mut array = [0u8; WIDTH];
        array.copy_from_slice(taken);
        Ok(array)
    }

    #[inline(always)]
    fn u8(&mut self) -> Result<u8, TypeError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, TypeError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    #[inline(always)]
    fn u64(&mut self) -> Result<u64, TypeError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }
}

/// An open container, packed in 8 bytes so the fixed stack is cheap to set up: a
/// struct node at step `counter` of its steps, or a sequence with `counter` elements of
/// type `node` left. `packed` holds the node (bits 0–22, see
/// [`crate::graph::MAXIMUM_NODES`]), the sequence flag (bit 23) and the depth (bits
/// 24–31). Counters fit in 32 bits: a count is never above the remaining input, which
/// is at most [`MAXIMUM_MESSAGE_SIZE`].
#[derive(Clone, Copy)]
struct Frame {
    counter: u32,
    packed: u32,
}

impl Frame {
    const NODE_MASK: u32 = (1 << 23) - 1;
    const SEQUENCE: u32 = 1 << 23;
    const EMPTY: Frame = Frame {
        counter: 0,
        packed: 0,
    };

    fn new(node: NodeIndex, counter: u32, depth: usize, sequence: bool) -> Frame {
        let flag = if sequence { Frame::SEQUENCE } else { 0 };
        Frame {
            counter,
            packed: (node & Frame::NODE_MASK) | flag | ((depth as u32) << 24),
        }
    }

    fn node(self) -> NodeIndex {
        self.packed & Frame::NODE_MASK
    }

    fn is_sequence(self) -> bool {
        self.packed & Frame::SEQUENCE != 0
    }

    fn depth(self) -> usize {
        (self.packed >> 24) as usize
    }
}

struct Walk<'graph, 'nodes, 'bytes, const N: usize> {
    graph: &'graph TypeGraph<'nodes>,
    input: Input<'bytes>,
    stack: [Frame; N],
    height: usize,
    maximum_depth: usize,
    direction: Direction,
}

impl<const N: usize> Walk<'_, '_, '_, N> {
    fn too_deep(&self) -> TypeError {
        TypeError::TooDeep {
            offset: self.input.offset,
            maximum_depth: self.maximum_depth,
        }
    }

    #[inline]
    fn push(&mut self, frame: Frame) -> Result<(), TypeError> {
        match self.stack.get_mut(self.height) {
            Some(slot) => {
                *slot = frame;
                self.height += 1;
                Ok(())
            }
            None => Err(self.too_deep()),
        }
    }

    /// The next value to recognize from the open containers, closing finished ones.
    #[inline]
    fn next_from_stack(&mut self) -> Result<Option<(NodeIndex, usize)>, TypeError> {
        let layout = self.graph.layout();
        while self.height > 0 {
            let top = self.height - 1;
            let Some(frame) = self.stack.get_mut(top) else {
                return Err(TypeError::MalformedGraph);
            };
            let depth = frame.depth() + 1;
            if frame.is_sequence() {
                if frame.counter > 0 {
                    frame.counter -= 1;
                    let node = frame.node();
                    if frame.counter == 0 {
                        self.height = top;
                    }
                    return Ok(Some((node, depth)));
                }
            } else {
                let Some(Operation::Struct { first, count }) = layout.operation(frame.node())
                else {
                    return Err(TypeError::MalformedGraph);
                };
                let steps = layout.steps(first, count);
                while let Some(step) = steps.get(frame.counter as usize) {
                    frame.counter += 1;
                    self.input.take(step.skip)?;
                    if let Some(field) = step.field {
                        if frame.counter as usize >= steps.len() {
                            self.height = top;
                        }
                        return Ok(Some((field, depth)));
                    }
                }
            }
            self.height = top;
        }
        Ok(None)
    }

    fn run(&mut self, root: NodeIndex) -> Result<(), TypeError> {
        let mut next = Some((root, 1usize));
        while let Some((node, depth)) = next {
            next = match self.value(node, depth)? {
                Some(tail) => Some(tail),
                None => self.next_from_stack()?,
            };
        }
        Ok(())
    }

    /// Recognizes the start of one value: scalars and strings whole, containers by
    /// opening a frame; a value that is one tag followed by one inner value (optional,
    /// union, `any`, alias, interface message) returns that inner value to do next.
    #[inline]
    fn value(
        &mut self,
        node: NodeIndex,
        depth: usize,
    ) -> Result<Option<(NodeIndex, usize)>, TypeError> {
        let offset = self.input.offset;
        if depth > self.maximum_depth {
            return Err(self.too_deep());
        }
        let layout = self.graph.layout();
        match layout.operation(node).ok_or(TypeError::MalformedGraph)? {
            Operation::Skip(size) => {
                self.input.take(size)?;
            }
            Operation::Bool => {
                let value = self.input.u8()?;
                if value > 1 {
                    return Err(TypeError::InvalidBool { offset, value });
                }
            }
            Operation::String => {
                let length = self.input.u64()?;
                let start = self.input.offset;
                if length > self.input.remaining() as u64 {
                    return Err(TypeError::LengthTooLong { offset, length });
                }
                let text = self.input.take(length)?;
                // Short ASCII text, the common case, skips the general check's call.
                if !text.is_ascii() && simdutf8::basic::from_utf8(text).is_err() {
                    return Err(TypeError::InvalidUtf8 { offset: start });
                }
            }
            Operation::Any => {
                let hash = TypeHash(self.input.array::<64>()?);
                let target = self
                    .graph
                    .find_named(&hash)
                    .ok_or(TypeError::UnknownAnyType { offset })?;
                return Ok(Some((target, depth + 1)));
            }
            Operation::Alias(target) => return Ok(Some((target, depth))),
            Operation::Optional(element) => match self.input.u8()? {
                0 => {}
                1 => return Ok(Some((element, depth + 1))),
                value => return Err(TypeError::InvalidOptionalTag { offset, value }),
            },
            Operation::Union { first, count } => {
                let tag = self.input.u32()?;
                if tag >= count {
                    return Err(TypeError::UnknownUnionVariant { offset, tag });
                }
                let variant = layout
                    .target(u64::from(first) + u64::from(tag))
                    .ok_or(TypeError::MalformedGraph)?;
                return Ok(Some((variant, depth + 1)));
            }
            Operation::Interface { first, count } => {
                let index = self.input.u32()?;
                if index >= count {
                    return Err(TypeError::UnknownMethod { offset, index });
                }
                let results = match self.direction {
                    Direction::Request => 0,
                    Direction::Reply => 1,
                };
                let body = layout
                    .target(u64::from(first) + 2 * u64::from(index) + results)
                    .ok_or(TypeError::MalformedGraph)?;
                return Ok(Some((body, depth + 1)));
            }
            Operation::Array { length, element } => {
                self.sequence(element, length, depth, offset, false)?;
            }
            Operation::Tuple { element } => {
                let count = self.input.u64()?;
                self.sequence(element, count, depth, offset, true)?;
            }
            Operation::Struct { count, .. } => {
                if count > 0 {
                    self.push(Frame::new(node, 0, depth, false))?;
                }
            }
        }
        Ok(None)
    }

    /// Starts `count` elements of type `element`; `counted` says whether the count came
    /// from the input (a tuple) rather than the type (an array).
    fn sequence(
        &mut self,
        element: NodeIndex,
        count: u64,
        depth: usize,
        offset: usize,
        counted: bool,
    ) -> Result<(), TypeError> {
        if count == 0 {
            return Ok(());
        }
        if depth + 1 > self.maximum_depth {
            return Err(self.too_deep());
        }
        let remaining = self.input.remaining() as u64;
        let too_long = || TypeError::LengthTooLong {
            offset,
            length: count,
        };
        let operation = self
            .graph
            .layout()
            .operation(element)
            .ok_or(TypeError::MalformedGraph)?;
        if let Operation::Skip(size) = operation {
            let total = size.checked_mul(count).ok_or_else(too_long)?;
            if counted && total > remaining {
                return Err(too_long());
            }
            self.input.take(total)?;
            return Ok(());
        }
        // Every element that is not plain takes at least one byte.
        if count > remaining {
            return Err(if counted {
                too_long()
            } else {
                TypeError::Truncated {
                    offset: self.input.offset,
                    needed: count,
                }
            });
        }
        if operation == Operation::Bool {
            let start = self.input.offset;
            let bytes = self.input.take(count)?;
            if let Some(position) = bytes.iter().position(|&byte| byte > 1) {
                return Err(TypeError::InvalidBool {
                    offset: start + position,
                    value: bytes[position],
                });
            }
            return Ok(());
        }
        let counter = u32::try_from(count).map_err(|_| too_long())?;
        self.push(Frame::new(element, counter, depth, true))
    }
}
