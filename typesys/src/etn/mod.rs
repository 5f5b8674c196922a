//! ETN, the Etypes notation: parsing `.etn` source into a checked [`Schema`].
//!
//! The notation is Go-like. A file is a sequence of declarations `Name TypeExpression`,
//! separated by white space, newlines or `;`, with `//` and `/* */` comments:
//!
//! ```text
//! Status    uint32                          // a named scalar
//! HashValue [64]byte                        // a fixed-length array (byte = uint8)
//! Names     []string                        // a tuple: a counted sequence
//! Next      *Node                           // optional: nil or a value
//! Node      struct { Value int64; Next *Node }
//! Shape     union { Circle Circle; Square Square }
//! Boxed     any                             // a value of any named type, with its hash
//! Counter   interface { Increment(by uint64) (count uint64); Reset() }
//! ```
//!
//! Built-in names: `int8` `int16` `int32` `int64` `uint8` `uint16` `uint32` `uint64`
//! `byte` (= `uint8`) `float32` `float64` `bool` `string` `any`. `struct`, `union` and
//! `interface` bodies may appear only as the definition of a named type, so every
//! generated Rust type has a declared name. An interface is a connection type, not a
//! value: it may not appear inside another type. `dict` is not part of the notation: a
//! map whose keys may repeat or come in any order has many encodings for one value, so
//! no recognizer can be exact for it; a tuple of key/value structs is the exact form.
//!
//! Errors carry the file, line and column and say what was expected. Unknown names,
//! duplicate names, reserved names and recursive types without indirection (`*T` or
//! `[]T`) are errors. This module never panics on any source text.
//!
//! The lexer and parser are written by hand: the grammar is small, and positioned,
//! specific messages matter more here than a generator would help.

mod lexer;
mod parser;
mod resolve;

use alloc::string::String;
use alloc::vec::Vec;

use crate::graph::{GraphError, NodeIndex, TypeGraph};

/// A line and column in ETN source, both counted from 1; columns count characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// Line number, from 1.
    pub line: u32,
    /// Column number in characters, from 1.
    pub column: u32,
}

/// What a parser step was looking for when it found something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The name that starts a declaration.
    DeclarationName,
    /// A type: a name, `[`, `*`, `struct`, `union` or `interface`.
    TypeExpression,
    /// A field or union variant name, or `}`.
    MemberName,
    /// A method name or `}`.
    MethodName,
    /// A parameter name or `)`.
    ParameterName,
    /// The given punctuation character.
    Punctuation(char),
    /// An array length or `]`.
    ArrayLengthOrBracket,
}

impl core::fmt::Display for Expected {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Expected::DeclarationName => formatter.write_str("a type name to declare"),
            Expected::TypeExpression => {
                formatter.write_str("a type (a name, `[`, `*`, `struct`, `union` or `interface`)")
            }
            Expected::MemberName => formatter.write_str("a member name or `}`"),
            Expected::MethodName => formatter.write_str("a method name or `}`"),
            Expected::ParameterName => formatter.write_str("a parameter name or `)`"),
            Expected::Punctuation(character) => write!(formatter, "`{character}`"),
            Expected::ArrayLengthOrBracket => {
                formatter.write_str("an array length or `]` (for a tuple)")
            }
        }
    }
}

/// Why an ETN source was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A character that starts no token.
    UnexpectedCharacter(char),
    /// A `/*` comment without its `*/`.
    UnterminatedComment,
    /// A character that is not a digit of the number's base.
    InvalidDigit(char),
    /// `0x` with no hexadecimal digits after it.
    MissingDigits,
    /// A number that does not fit in 64 bits.
    NumberTooLarge,
    /// Type expressions nested deeper than the parser allows.
    NestingTooDeep,
    /// A token other than the one the grammar allows here.
    UnexpectedToken {
        /// What the parser was looking for.
        expected: Expected,
        /// What it found, as written.
        found: String,
    },
    /// A name used as a type that is neither built in nor declared.
    UnknownType(String),
    /// A type declared twice.
    DuplicateType {
        /// The name declared twice.
        name: String,
        /// Where it was first declared.
        first: Position,
    },
    /// A built-in name or a keyword used as a declared name.
    ReservedName(String),
    /// Two members of one struct or union, or two parameters, with one name.
    DuplicateMember(String),
    /// Two methods of one interface with one name.
    DuplicateMethod(String),
    /// A `struct`, `union` or `interface` body used inside another type.
    AnonymousCompound(CompoundKeyword),
    /// An interface used as the type of a value.
    InterfaceAsValue(String),
    /// The checked graph refused the declarations.
    Graph(GraphError),
}

/// The keyword of a compound type body, for [`ParseErrorKind::AnonymousCompound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompoundKeyword {
    /// `struct { ... }`
    Struct,
    /// `union { ... }`
    Union,
    /// `interface { ... }`
    Interface,
}

impl core::fmt::Display for CompoundKeyword {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            CompoundKeyword::Struct => "struct",
            CompoundKeyword::Union => "union",
            CompoundKeyword::Interface => "interface",
        })
    }
}

impl core::fmt::Display for ParseErrorKind {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseErrorKind::UnexpectedCharacter(character) => {
                write!(formatter, "unexpected character {character:?}")
            }
            ParseErrorKind::UnterminatedComment => {
                formatter.write_str("comment opened with `/*` is never closed")
            }
            ParseErrorKind::InvalidDigit(character) => {
                write!(formatter, "{character:?} is not a digit of this number")
            }
            ParseErrorKind::MissingDigits => formatter.write_str("expected digits after `0x`"),
            ParseErrorKind::NumberTooLarge => formatter.write_str("number does not fit in 64 bits"),
            ParseErrorKind::NestingTooDeep => write!(
                formatter,
                "type expressions nest deeper than {}",
                parser::MAXIMUM_NESTING
            ),
            ParseErrorKind::UnexpectedToken { expected, found } => {
                write!(formatter, "expected {expected}, found {found}")
            }
            ParseErrorKind::UnknownType(name) => write!(formatter, "unknown type `{name}`"),
            ParseErrorKind::DuplicateType { name, first } => write!(
                formatter,
                "type `{name}` is declared twice (first at {}:{})",
                first.line, first.column
            ),
            ParseErrorKind::ReservedName(name) => {
                write!(
                    formatter,
                    "`{name}` is a built-in name and cannot be declared"
                )
            }
            ParseErrorKind::DuplicateMember(name) => {
                write!(formatter, "member `{name}` appears twice")
            }
            ParseErrorKind::DuplicateMethod(name) => {
                write!(formatter, "method `{name}` appears twice")
            }
            ParseErrorKind::AnonymousCompound(keyword) => write!(
                formatter,
                "a `{keyword}` type must be declared with a name of its own, then used by name"
            ),
            ParseErrorKind::InterfaceAsValue(name) => write!(
                formatter,
                "interface `{name}` is a connection type and cannot be part of a value"
            ),
            ParseErrorKind::Graph(error) => write!(formatter, "{error}"),
        }
    }
}

/// A rejected ETN source: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file name given to [`parse`].
    pub file: String,
    /// Where in the file.
    pub position: Position,
    /// What is wrong there.
    pub kind: ParseErrorKind,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.position.line, self.position.column, self.kind
        )
    }
}

impl core::error::Error for ParseError {}

/// A declared type: its name and its node in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedType {
    /// The declared name.
    pub name: String,
    /// Its node in [`Schema::graph`].
    pub node: NodeIndex,
}

/// The checked result of parsing: the type graph and the declared names in source order.
#[derive(Debug)]
pub struct Schema {
    /// Every type, named or anonymous, with hashes and layout computed.
    pub graph: TypeGraph<'static>,
    /// The declared types in the order of the source.
    pub declarations: Vec<NamedType>,
}

/// Parses and checks ETN `source`; `file` names it in error messages.
pub fn parse(file: &str, source: &str) -> Result<Schema, ParseError> {
    let declarations =
        parser::parse_declarations(source).map_err(|(position, kind)| ParseError {
            file: String::from(file),
            position,
            kind,
        })?;
    resolve::resolve(&declarations).map_err(|(position, kind)| ParseError {
        file: String::from(file),
        position,
        kind,
    })
}
