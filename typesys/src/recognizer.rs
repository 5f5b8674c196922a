//! The recognizer: decides whether a byte string is exactly one ETE value of a type.
//!
//! [`validate`] accepts precisely the byte strings that the generated decoder turns
//! into a value of the type with no bytes left over (see [`crate::wire`] for the
//! layout). The kernel calls it on every file write and every message, in both
//! directions, so it must never allocate, never recurse, never panic and never loop
//! longer than the input allows:
//!
//! - it runs each type's program, compiled once when the graph is built (see
//!   [`crate::program`]), with an explicit stack of at most [`DEPTH_CAPACITY`] frames
//!   kept in a fixed-capacity `heapless::Vec` (which costs nothing to set up, where an
//!   array would be written in full on every call), and rejects nesting deeper than
//!   the graph's bound ([`TypeGraph::maximum_depth`]);
//! - a plain root (fixed-width numbers only, the common small message) is checked by
//!   its length alone, straight from the hash lookup; a root whose program, or whose
//!   chosen method struct or union variant, is plain bytes around at most one byte
//!   slice, sequence of numbers or string (most messages) is accepted from its lengths
//!   (and the string's UTF-8) by [`crate::quick`], which leaves every value it does
//!   not accept to the program, so its errors are the program's; a straight program
//!   (no call, no sequence of programs) runs in a loop without frames or depth checks,
//!   and so does the struct a message's method index (or a union's tag) chooses when
//!   that struct's program is straight;
//! - every read is bounds-checked; lengths are compared with the remaining input before
//!   use, and products of counts and sizes are checked for overflow;
//! - a value whose size is fixed and whose every byte pattern is valid (integers,
//!   floats and arrays and structs of them) is skipped in one step, so a count of
//!   such elements costs O(1) and any other element consumes at least one byte;
//! - messages longer than [`MAXIMUM_MESSAGE_SIZE`] are refused, as the decoder does.
//!
//! Strings are checked for UTF-8 by [`crate::utf8`].
//!
//! Depth counts the values being recognized: the root is at depth 1, and a struct
//! field, array or tuple element, union variant, optional value, `any` value or method
//! struct is one deeper than its container; an alias adds nothing, and a skipped
//! fixed-size value counts as one leaf.

use crate::graph::{DEPTH_CAPACITY, Kind, NodeIndex, TypeGraph};
use crate::hash::TypeHash;
use crate::layout::Home;
use crate::program::{Code, Instruction, Operation};
use crate::quick::{self, Quick};
use crate::utf8::is_utf8;
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
///
/// A plain value of the right length, the common small message, is accepted from its
/// hash's first slot (one read, the whole hash compared); this part is small enough to
/// inline into the caller. Any other value found there goes to its node's check; a
/// hash not in its first slot, to the full lookup.
#[inline]
pub fn validate(
    graph: &TypeGraph<'_>,
    type_hash: &TypeHash,
    bytes: &[u8],
) -> Result<(), TypeError> {
    match graph.layout().all.at_home(type_hash, bytes.len()) {
        Home::Accepted => Ok(()),
        Home::Found(root) => recognize_request(graph, root, bytes),
        Home::Elsewhere => look_up_and_recognize(graph, type_hash, bytes),
    }
}

/// What [`validate`] does for a value that needs a check: [`recognize`], in one call.
#[inline(never)]
fn recognize_request(
    graph: &TypeGraph<'_>,
    root: NodeIndex,
    bytes: &[u8],
) -> Result<(), TypeError> {
    check(graph, root, Direction::Request, bytes)
}

/// What [`validate`] does for a hash not in its first slot.
#[inline(never)]
fn look_up_and_recognize(
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
#[inline]
pub fn recognize(
    graph: &TypeGraph<'_>,
    root: NodeIndex,
    direction: Direction,
    bytes: &[u8],
) -> Result<(), TypeError> {
    check(graph, root, direction, bytes)
}

/// What [`recognize`] does, always inlined, so that a caller that is itself a
/// function of its own does not add a call.
#[inline(always)]
fn check(
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
    let code = &graph.layout().code;
    let entry = code.quick.get(root as usize);
    // A plain root, the common small message, needs no program at all.
    if let Some(&Quick::Plain(size)) = entry
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
    // Nor does most other: the root's quick check (one entry read for both) accepts it
    // with a few loads and comparisons. The program's run, for anything else, is a
    // call of its own, so that this part, inlined into the caller, stays small.
    if quick::accepts(code, entry, direction, bytes, maximum_depth) {
        return Ok(());
    }
    run_program(graph, root, direction, bytes, maximum_depth)
}

/// Runs the root's program.
#[inline(never)]
pub(crate) fn run_program(
    graph: &TypeGraph<'_>,
    root: NodeIndex,
    direction: Direction,
    bytes: &[u8],
    maximum_depth: usize,
) -> Result<(), TypeError> {
    let layout = graph.layout();
    let Some(&entry) = layout.code.entries.get(root as usize) else {
        // The root's depth, 1, is checked before its node is looked at.
        return Err(if maximum_depth < 1 {
            TypeError::TooDeep {
                offset: 0,
                maximum_depth,
            }
        } else {
            TypeError::MalformedGraph
        });
    };
    let mut run = Run {
        graph,
        code: &layout.code,
        input: Input { bytes, offset: 0 },
        maximum_depth,
        direction,
    };
    // A straight program whose every value is within the bound, the common small
    // message, runs in a loop that neither checks depths nor handles frames.
    let straight = layout.code.straight.get(root as usize).copied().flatten();
    match straight {
        Some(reach) if (reach as usize) < maximum_depth => run.straight(entry)?,
        _ => match run.chosen_straight(entry)? {
            Some(target) => run.program::<true>(target)?,
            None => run.general(entry)?,
        },
    }
    if run.input.offset == bytes.len() {
        Ok(())
    } else {
        Err(TypeError::TrailingBytes {
            offset: run.input.offset,
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
    fn truncated(&self, needed: u64) -> TypeError {
        TypeError::Truncated {
            offset: self.offset,
            needed,
        }
    }

    #[inline(always)]
    fn skip(&mut self, count: u64) -> Result<(), TypeError> {
        if count > self.remaining() as u64 {
            return Err(self.truncated(count));
        }
        // `count` fits: it is at most the remaining length, a `usize`.
        self.offset += count as usize;
        Ok(())
    }

    #[inline(always)]
    fn take(&mut self, count: u64) -> Result<&'bytes [u8], TypeError> {
        let start = self.offset;
        self.skip(count)?;
        self.bytes
            .get(start..self.offset)
            .ok_or(TypeError::MalformedGraph)
    }

    #[inline(always)]
    fn array<const WIDTH: usize>(&mut self) -> Result<[u8; WIDTH], TypeError> {
        match self.bytes.get(self.offset..).and_then(<[u8]>::first_chunk) {
            Some(&array) => {
                self.offset += WIDTH;
                Ok(array)
            }
            None => Err(self.truncated(WIDTH as u64)),
        }
    }

    #[inline(always)]
    fn u8(&mut self) -> Result<u8, TypeError> {
        Ok(self.array::<1>()?[0])
    }

    /// The next `u32`, not consumed, if there are four bytes left.
    #[inline(always)]
    fn peek_u32(&self) -> Option<u32> {
        let end = self.offset.checked_add(4)?;
        let bytes = self.bytes.get(self.offset..end)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
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

/// Where to go on at a program's `Return`: the next of `remaining` more elements of a
/// sequence, at `element`; then, or at once for a single value, back to `resume` at
/// depth `base`. Counts fit in 32 bits: a count is never above the remaining input,
/// which is at most [`MAXIMUM_MESSAGE_SIZE`].
#[derive(Clone, Copy)]
struct Frame {
    resume: u32,
    base: u32,
    element: u32,
    remaining: u32,
}

/// One recognition: the input and what stays fixed while programs run over it.
struct Run<'run, 'nodes, 'bytes> {
    graph: &'run TypeGraph<'nodes>,
    code: &'run Code,
    input: Input<'bytes>,
    maximum_depth: usize,
    direction: Direction,
}

/// A program position as an index of the code.
#[inline(always)]
fn position(position: u32) -> usize {
    position as usize
}

impl Run<'_, '_, '_> {
    #[cold]
    fn too_deep(&self) -> TypeError {
        TypeError::TooDeep {
            offset: self.input.offset,
            maximum_depth: self.maximum_depth,
        }
    }

    /// For a root whose whole program is one union or interface (every message of an
    /// interface), answers the program its tag or method index chooses when that one
    /// is straight and its depths, one below the root's, are within the bound, having
    /// read the tag: the caller runs it without frames or depth checks. Answers `None`,
    /// having read nothing, for anything else, which [`Run::general`] then checks from
    /// the start, so a missing or out-of-range tag fails exactly as it always did.
    #[inline(always)]
    fn chosen_straight(&mut self, entry: u32) -> Result<Option<u32>, TypeError> {
        let start = entry as usize;
        let Some(&[choice, last]) = self.code.instructions.get(start..start + 2) else {
            return Ok(None);
        };
        let (first, count, per_choice, within) = match choice.operation {
            Operation::Union { first, count } => (first, count, 1, 0),
            Operation::Interface { first, count } => (first, count, 2, self.direction_results()),
            _ => return Ok(None),
        };
        if last.operation != Operation::Return {
            return Ok(None);
        }
        let Some(tag) = self.input.peek_u32().filter(|tag| *tag < count) else {
            return Ok(None);
        };
        let position = u64::from(first) + per_choice * u64::from(tag) + within;
        let straight = usize::try_from(position)
            .ok()
            .and_then(|position| self.code.straight_targets.get(position))
            .copied()
            .flatten();
        match straight {
            // The chosen value is at depth 2, so its deepest is `2 + reach`.
            Some(reach) if (reach as usize).saturating_add(2) <= self.maximum_depth => {
                let target = self.target(position)?;
                self.input.offset += 4;
                Ok(Some(target))
            }
            _ => Ok(None),
        }
    }

    /// Which of a method's two structs a message is: 0 for the arguments, 1 for the
    /// results.
    #[inline(always)]
    fn direction_results(&self) -> u64 {
        match self.direction {
            Direction::Request => 0,
            Direction::Reply => 1,
        }
    }

    /// Runs a straight program whose depths are all within the bound.
    #[inline(never)]
    fn straight(&mut self, entry: u32) -> Result<(), TypeError> {
        // A root that is one string, the common text message, needs no loop.
        let start = entry as usize;
        if let Some(&[first, last]) = self.code.instructions.get(start..start + 2)
            && first.operation == Operation::String
            && last.operation == Operation::Return
        {
            return self.string(0);
        }
        self.program::<true>(entry)
    }

    /// Runs any program.
    #[inline(never)]
    fn general(&mut self, entry: u32) -> Result<(), TypeError> {
        self.program::<false>(entry)
    }

    /// Runs the program at `entry` on the root value, at depth 1. `STRAIGHT` says that
    /// the program opens no frame and checks no depth beyond the bound, so the loop can
    /// leave out both.
    #[inline(always)]
    fn program<const STRAIGHT: bool>(&mut self, entry: u32) -> Result<(), TypeError> {
        let instructions = self.code.instructions.as_slice();
        // Every frame opens a value at least one level deeper than the one before, and
        // no value is deeper than `maximum_depth`: the stack never fills.
        let mut stack: heapless::Vec<Frame, DEPTH_CAPACITY> = heapless::Vec::new();
        let mut pc = position(entry);
        let mut base = 1usize;
        loop {
            let Some(&Instruction { depth, operation }) = instructions.get(pc) else {
                return Err(TypeError::MalformedGraph);
            };
            pc += 1;
            let depth = base + depth as usize;
            if !STRAIGHT && depth > self.maximum_depth {
                return Err(self.too_deep());
            }
            let offset = self.input.offset;
            // The program and depth of a value to check before going on at `pc`: of a
            // call, or the first element of a sequence with `remaining` more.
            let (target, target_depth, remaining) = match operation {
                Operation::Skip(size) => {
                    self.input.skip(size)?;
                    continue;
                }
                Operation::Bool => {
                    let value = self.input.u8()?;
                    if value > 1 {
                        return Err(TypeError::InvalidBool { offset, value });
                    }
                    continue;
                }
                Operation::String => {
                    self.string(offset)?;
                    continue;
                }
                Operation::PlainTuple(size) => {
                    let count = self.input.u64()?;
                    self.plain_tuple(size, count, depth, offset)?;
                    continue;
                }
                Operation::BoolTuple => {
                    let count = self.input.u64()?;
                    self.bools(count, depth, offset, true)?;
                    continue;
                }
                Operation::BoolArray(length) => {
                    self.bools(length, depth, offset, false)?;
                    continue;
                }
                Operation::InlineOptional { length } => {
                    match self.input.u8()? {
                        0 => pc += length as usize,
                        1 => {}
                        value => return Err(TypeError::InvalidOptionalTag { offset, value }),
                    }
                    continue;
                }
                Operation::Return if STRAIGHT => return Ok(()),
                _ if STRAIGHT => return Err(TypeError::MalformedGraph),
                Operation::Tuple { element } => {
                    let count = self.input.u64()?;
                    match self.sequence(count, depth, offset, true)? {
                        Some(remaining) => (element, depth + 1, remaining),
                        None => continue,
                    }
                }
                Operation::Array { length, element } => {
                    match self.sequence(length, depth, offset, false)? {
                        Some(remaining) => (element, depth + 1, remaining),
                        None => continue,
                    }
                }
                Operation::Optional { target } => match self.input.u8()? {
                    0 => continue,
                    1 => (target, depth + 1, 0),
                    value => return Err(TypeError::InvalidOptionalTag { offset, value }),
                },
                Operation::Call { target } => (target, depth, 0),
                Operation::Union { first, count } => {
                    let tag = self.input.u32()?;
                    if tag >= count {
                        return Err(TypeError::UnknownUnionVariant { offset, tag });
                    }
                    (
                        self.target(u64::from(first) + u64::from(tag))?,
                        depth + 1,
                        0,
                    )
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
                    let target = self.target(u64::from(first) + 2 * u64::from(index) + results)?;
                    (target, depth + 1, 0)
                }
                Operation::Any => {
                    let hash = TypeHash(self.input.array::<64>()?);
                    let node = self
                        .graph
                        .find_named(&hash)
                        .ok_or(TypeError::UnknownAnyType { offset })?;
                    let target = self
                        .code
                        .entries
                        .get(node as usize)
                        .copied()
                        .ok_or(TypeError::MalformedGraph)?;
                    (target, depth + 1, 0)
                }
                Operation::Return => match stack.last_mut() {
                    None => return Ok(()),
                    Some(frame) if frame.remaining > 0 => {
                        frame.remaining -= 1;
                        pc = position(frame.element);
                        continue;
                    }
                    Some(_) => {
                        let Some(frame) = stack.pop() else {
                            return Err(TypeError::MalformedGraph);
                        };
                        pc = position(frame.resume);
                        base = frame.base as usize;
                        continue;
                    }
                },
            };
            let frame = Frame {
                resume: u32::try_from(pc).map_err(|_| TypeError::MalformedGraph)?,
                base: base as u32,
                element: target,
                remaining,
            };
            if stack.push(frame).is_err() {
                return Err(self.too_deep());
            }
            pc = position(target);
            base = target_depth;
        }
    }

    #[inline(always)]
    fn target(&self, position: u64) -> Result<u32, TypeError> {
        usize::try_from(position)
            .ok()
            .and_then(|position| self.code.targets.get(position))
            .copied()
            .ok_or(TypeError::MalformedGraph)
    }

    /// A string whose length field starts at `offset`.
    #[inline(always)]
    fn string(&mut self, offset: usize) -> Result<(), TypeError> {
        let length = self.input.u64()?;
        let start = self.input.offset;
        if length > self.input.remaining() as u64 {
            return Err(TypeError::LengthTooLong { offset, length });
        }
        let text = self.input.take(length)?;
        if is_utf8(text) {
            Ok(())
        } else {
            Err(TypeError::InvalidUtf8 { offset: start })
        }
    }

    /// `count` plain values of `size` bytes, of a tuple at `depth` starting at
    /// `offset`.
    #[inline(always)]
    fn plain_tuple(
        &mut self,
        size: u64,
        count: u64,
        depth: usize,
        offset: usize,
    ) -> Result<(), TypeError> {
        if count == 0 {
            return Ok(());
        }
        if depth + 1 > self.maximum_depth {
            return Err(self.too_deep());
        }
        let too_long = TypeError::LengthTooLong {
            offset,
            length: count,
        };
        match size.checked_mul(count) {
            Some(total) if total <= self.input.remaining() as u64 => self.input.skip(total),
            _ => Err(too_long),
        }
    }

    /// The checks before the `count` elements of a sequence at `depth` starting at
    /// `offset`, whose elements are not plain: each takes at least a byte. `counted`
    /// says whether the count came from the input (a tuple) rather than the type (an
    /// array).
    #[inline(always)]
    fn elements(
        &self,
        count: u64,
        depth: usize,
        offset: usize,
        counted: bool,
    ) -> Result<(), TypeError> {
        if depth + 1 > self.maximum_depth {
            return Err(self.too_deep());
        }
        if count > self.input.remaining() as u64 {
            return Err(if counted {
                TypeError::LengthTooLong {
                    offset,
                    length: count,
                }
            } else {
                self.input.truncated(count)
            });
        }
        Ok(())
    }

    /// `count` bytes, each 0 or 1.
    #[inline(always)]
    fn bools(
        &mut self,
        count: u64,
        depth: usize,
        offset: usize,
        counted: bool,
    ) -> Result<(), TypeError> {
        if count == 0 {
            return Ok(());
        }
        self.elements(count, depth, offset, counted)?;
        let start = self.input.offset;
        let bytes = self.input.take(count)?;
        match bytes.iter().position(|&byte| byte > 1) {
            Some(position) => Err(TypeError::InvalidBool {
                offset: start + position,
                value: bytes.get(position).copied().unwrap_or(0),
            }),
            None => Ok(()),
        }
    }

    /// Starts `count` elements that need a program each: `None` when there are none,
    /// else how many follow the first.
    #[inline(always)]
    fn sequence(
        &mut self,
        count: u64,
        depth: usize,
        offset: usize,
        counted: bool,
    ) -> Result<Option<u32>, TypeError> {
        if count == 0 {
            return Ok(None);
        }
        self.elements(count, depth, offset, counted)?;
        let count = u32::try_from(count).map_err(|_| TypeError::LengthTooLong {
            offset,
            length: count,
        })?;
        Ok(Some(count - 1))
    }
}
