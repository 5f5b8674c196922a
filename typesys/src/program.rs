//! The recognizer's programs: each node's check compiled once, when the graph is built,
//! into a flat list of [`Instruction`]s, so that recognizing a value is a straight run
//! over an array rather than a walk of the type graph.
//!
//! A struct's plain fields (see [`crate::layout`]) become one skip per run; its other
//! fields, an alias's target and a present optional's value are copied inline when
//! their program is short ([`INLINE_LIMIT`]), so a small struct of strings and numbers
//! is a few instructions with no call. Tuples and arrays of plain values or of `bool`
//! are one instruction each. What stays a call (a jump to another node's program with
//! a frame to come back to) is recursion, a union, an `any`, and elements of tuples and
//! arrays that need a check of their own.
//!
//! Every instruction carries the depth, relative to its program's root, of the value
//! it starts (see [`crate::recognizer`] for how depth is counted); the recognizer checks
//! it before reading, exactly where the walk over the graph that this replaces did.
//! Compiling never recurses: nodes are compiled children first (the order of embedded
//! edges), so a child's program is there to be copied when its parent needs it. It
//! never panics; a program too large for 32-bit positions is
//! [`GraphError::TooManyNodes`].

use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{GraphError, Kind, Node, NodeIndex, Scalar};
use crate::quick::{self, Quick, Shape};

/// The longest program, in instructions, copied into another instead of called. A
/// copy saves a frame and two dispatches per value; the limit keeps every program's
/// length linear in its node's members.
pub(crate) const INLINE_LIMIT: usize = 16;

/// What one instruction does. Positions are indices into the graph's code; `first`
/// and `count` name a run of the graph's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Skip this many bytes: a plain value, or a struct's run of plain fields.
    Skip(u64),
    /// One byte, 0 or 1.
    Bool,
    /// A `u64` length, then that many bytes of UTF-8.
    String,
    /// A `u64` count, then that many plain values of this size.
    PlainTuple(u64),
    /// A `u64` count, then that many bytes, each 0 or 1.
    BoolTuple,
    /// This many bytes, each 0 or 1.
    BoolArray(u64),
    /// A `u64` count, then that many values of the program at `element`.
    Tuple { element: u32 },
    /// `length` values of the program at `element`.
    Array { length: u64, element: u32 },
    /// A tag, 0 or 1, then when 1 a value of the program at `target`.
    Optional { target: u32 },
    /// A tag, 0 or 1; when 0, the next `length` instructions, which check the value, are
    /// jumped over.
    InlineOptional { length: u32 },
    /// A value of the program at `target`, at this instruction's depth: a field too
    /// long to copy.
    Call { target: u32 },
    /// A `u32` tag below `count`, then a value of the program at `targets[first + tag]`.
    Union { first: u32, count: u32 },
    /// A `u32` method index below `count`, then the struct at `targets[first + 2 ×
    /// index]` (arguments) or the one after it (results).
    Interface { first: u32, count: u32 },
    /// A 64-byte hash, then a value of the named type it names.
    Any,
    /// The end of a program: back to the caller, or to the next element of a sequence.
    Return,
}

/// One step of a program: an operation on the value starting at the input's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// The value's depth relative to the program's root (0).
    pub(crate) depth: u32,
    pub(crate) operation: Operation,
}

/// Every node's program, in one array.
#[derive(Clone, Debug)]
pub(crate) struct Code {
    /// The instructions of all programs, each ending with [`Operation::Return`].
    pub(crate) instructions: Vec<Instruction>,
    /// Where each node's program starts.
    pub(crate) entries: Vec<u32>,
    /// For each node whose program is straight (it opens no frame: no call, no
    /// sequence of programs), the deepest relative depth it checks, a sequence's
    /// elements included; `None` for the others. Such a program runs without frames or
    /// depth checks when its root is shallow enough.
    pub(crate) straight: Vec<Option<u32>>,
    /// Program positions that unions and interfaces choose among.
    pub(crate) targets: Vec<u32>,
    /// For each of `targets`, its node's entry in `straight`: a union's variant or a
    /// method's struct that is straight runs without frames once chosen.
    pub(crate) straight_targets: Vec<Option<u32>>,
    /// For each node, how it is checked without running its program when the input
    /// allows (see [`crate::quick`]).
    pub(crate) quick: Vec<Quick>,
    /// For each of `targets`, its node's shape, if its program has one.
    pub(crate) target_shapes: Vec<Option<Shape>>,
}

fn too_large(_: core::num::TryFromIntError) -> GraphError {
    GraphError::TooManyNodes
}

fn position(value: usize) -> Result<u32, GraphError> {
    u32::try_from(value).map_err(too_large)
}

/// A node seen through its aliases.
fn unaliased<'n, 'a>(nodes: &'n [Node<'a>], mut index: NodeIndex) -> Option<&'n Node<'a>> {
    // Alias chains are embedded edges, acyclic in a checked graph; the bound only keeps
    // a malformed one from looping.
    for _ in 0..=nodes.len() {
        let node = nodes.get(index as usize)?;
        match node.kind {
            Kind::Alias { target } => index = target,
            _ => return Some(node),
        }
    }
    None
}

fn is_bool(nodes: &[Node<'_>], index: NodeIndex) -> bool {
    unaliased(nodes, index).is_some_and(|node| node.kind == Kind::Scalar(Scalar::Bool))
}

struct Compiler<'a> {
    plain_sizes: &'a [Option<u64>],
    /// Per node, where its program starts and how many instructions it has before its
    /// `Return`; `None` until compiled.
    programs: Vec<Option<(usize, usize)>>,
    instructions: Vec<Instruction>,
    /// Node indices until [`Compiler::finish`] turns them into program positions.
    targets: Vec<NodeIndex>,
}

impl Compiler<'_> {
    fn plain(&self, node: NodeIndex) -> Option<u64> {
        self.plain_sizes.get(node as usize).copied().flatten()
    }

    fn emit(&mut self, depth: u32, operation: Operation) {
        self.instructions.push(Instruction { depth, operation });
    }

    /// The start and length of `node`'s program when it is compiled and at most
    /// `limit` long.
    fn program(&self, node: NodeIndex, limit: usize) -> Option<(usize, usize)> {
        self.programs
            .get(node as usize)
            .copied()
            .flatten()
            .filter(|&(_, length)| length <= limit)
    }

    /// Appends a copy of a compiled program, its depths raised by `depth`.
    fn copy(&mut self, (start, length): (usize, usize), depth: u32) -> Result<(), GraphError> {
        for position in start..start + length {
            let Some(&instruction) = self.instructions.get(position) else {
                return Err(GraphError::TooManyNodes);
            };
            let depth = instruction
                .depth
                .checked_add(depth)
                .ok_or(GraphError::TooManyNodes)?;
            self.emit(depth, instruction.operation);
        }
        Ok(())
    }

    /// A struct field at depth 1: copied when short, else called.
    fn field(&mut self, node: NodeIndex) -> Result<(), GraphError> {
        match self.program(node, INLINE_LIMIT) {
            Some(program) => self.copy(program, 1),
            None => {
                self.emit(1, Operation::Call { target: node });
                Ok(())
            }
        }
    }

    fn compile(&mut self, nodes: &[Node<'_>], index: NodeIndex) -> Result<(), GraphError> {
        let Some(node) = nodes.get(index as usize) else {
            return Err(GraphError::TooManyNodes);
        };
        let start = self.instructions.len();
        let missing = GraphError::ChildOutOfRange {
            node: index,
            child: index,
        };
        match (&node.kind, self.plain(index)) {
            (_, Some(size)) => self.emit(0, Operation::Skip(size)),
            (Kind::Scalar(_), None) => self.emit(0, Operation::Bool),
            (Kind::String, None) => self.emit(0, Operation::String),
            (Kind::Any, None) => self.emit(0, Operation::Any),
            // An alias is its target, whatever its length: a copy, never a call, so
            // every call goes one level deeper (which bounds the recognizer's frames).
            (Kind::Alias { target }, None) => {
                let program = self.program(*target, usize::MAX).ok_or(missing)?;
                self.copy(program, 0)?;
            }
            (Kind::Optional { element }, None) => match self.program(*element, INLINE_LIMIT) {
                Some(program) => {
                    let length = position(program.1)?;
                    self.emit(0, Operation::InlineOptional { length });
                    self.copy(program, 1)?;
                }
                None => self.emit(0, Operation::Optional { target: *element }),
            },
            (Kind::Array { length, element }, None) => {
                let operation = if is_bool(nodes, *element) {
                    Operation::BoolArray(*length)
                } else {
                    Operation::Array {
                        length: *length,
                        element: *element,
                    }
                };
                self.emit(0, operation);
            }
            (Kind::Tuple { element }, None) => {
                let operation = match self.plain(*element) {
                    Some(size) => Operation::PlainTuple(size),
                    None if is_bool(nodes, *element) => Operation::BoolTuple,
                    None => Operation::Tuple { element: *element },
                };
                self.emit(0, operation);
            }
            (Kind::Union { variants }, None) => {
                let first = position(self.targets.len())?;
                self.targets
                    .extend(variants.iter().map(|variant| variant.node));
                let count = position(variants.len())?;
                self.emit(0, Operation::Union { first, count });
            }
            (Kind::Interface { methods }, None) => {
                let first = position(self.targets.len())?;
                for method in methods.iter() {
                    self.targets.push(method.arguments);
                    self.targets.push(method.results);
                }
                let count = position(methods.len())?;
                self.emit(0, Operation::Interface { first, count });
            }
            (Kind::Struct { fields }, None) => {
                let overflow = || GraphError::SizeOverflow { node: index };
                let mut skip = 0u64;
                for field in fields.iter() {
                    match self.plain(field.node) {
                        Some(size) => skip = skip.checked_add(size).ok_or_else(overflow)?,
                        None => {
                            if skip > 0 {
                                self.emit(0, Operation::Skip(skip));
                                skip = 0;
                            }
                            self.field(field.node)?;
                        }
                    }
                }
                if skip > 0 {
                    self.emit(0, Operation::Skip(skip));
                }
            }
        }
        let length = self.instructions.len() - start;
        self.emit(0, Operation::Return);
        if let Some(slot) = self.programs.get_mut(index as usize) {
            *slot = Some((start, length));
        }
        Ok(())
    }

    /// Turns the node indices of calls, sequences and targets into program positions.
    fn finish(self) -> Result<Code, GraphError> {
        let mut entries = Vec::with_capacity(self.programs.len());
        for program in &self.programs {
            let (start, _) = program.ok_or(GraphError::TooManyNodes)?;
            entries.push(position(start)?);
        }
        let entry = |node: u32| {
            entries
                .get(node as usize)
                .copied()
                .ok_or(GraphError::TooManyNodes)
        };
        let mut instructions = self.instructions;
        for instruction in &mut instructions {
            match &mut instruction.operation {
                Operation::Tuple { element: node }
                | Operation::Array { element: node, .. }
                | Operation::Optional { target: node }
                | Operation::Call { target: node } => *node = entry(*node)?,
                _ => {}
            }
        }
        let targets = self
            .targets
            .iter()
            .map(|&node| entry(node))
            .collect::<Result<Vec<u32>, GraphError>>()?;
        let straight: Vec<Option<u32>> = self
            .programs
            .iter()
            .map(|program| {
                let (start, length) = (*program)?;
                let mut reach = 0u32;
                for instruction in instructions.get(start..start + length)? {
                    let extra = match instruction.operation {
                        Operation::Skip(_) | Operation::Bool | Operation::String => 0,
                        Operation::InlineOptional { .. } => 0,
                        Operation::PlainTuple(_)
                        | Operation::BoolTuple
                        | Operation::BoolArray(_) => 1,
                        _ => return None,
                    };
                    reach = reach.max(instruction.depth.checked_add(extra)?);
                }
                Some(reach)
            })
            .collect();
        let straight_targets = self
            .targets
            .iter()
            .map(|&node| straight.get(node as usize).copied().flatten())
            .collect();
        let programs: Vec<Option<&[Instruction]>> = self
            .programs
            .iter()
            .map(|program| {
                let (start, length) = (*program)?;
                instructions.get(start..start + length)
            })
            .collect();
        let (entries_quick, target_shapes) =
            quick::tables(&programs, &straight, self.plain_sizes, &self.targets);
        Ok(Code {
            instructions,
            entries,
            straight,
            targets,
            straight_targets,
            quick: entries_quick,
            target_shapes,
        })
    }
}

impl Code {
    /// Compiles every node, children first as `post_order` gives them.
    pub(crate) fn new(
        nodes: &[Node<'_>],
        plain_sizes: &[Option<u64>],
        post_order: &[NodeIndex],
    ) -> Result<Self, GraphError> {
        let mut compiler = Compiler {
            plain_sizes,
            programs: vec![None; nodes.len()],
            instructions: Vec::with_capacity(nodes.len() * 2),
            targets: Vec::new(),
        };
        for &index in post_order {
            compiler.compile(nodes, index)?;
        }
        compiler.finish()
    }

    /// The instructions of `node`'s program, its `Return` excluded.
    pub(crate) fn program(&self, node: NodeIndex) -> &[Instruction] {
        let start = self
            .entries
            .get(node as usize)
            .map_or(0, |&start| start as usize);
        let rest = self.instructions.get(start..).unwrap_or(&[]);
        let length = rest
            .iter()
            .position(|instruction| instruction.operation == Operation::Return)
            .unwrap_or(0);
        rest.get(..length).unwrap_or(&[])
    }
}
