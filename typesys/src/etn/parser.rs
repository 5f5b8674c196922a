//! Parser for ETN: turns tokens into a syntax tree of declarations.
//!
//! Recursive descent over the grammar in the parent module. Type expressions nest
//! (`[]*[4]T`), so the parser bounds its own nesting with [`MAXIMUM_NESTING`]; it must
//! never overflow the stack or panic, whatever the source text.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::lexer::{Lexer, Spanned, Token};
use super::{Expected, ParseErrorKind, Position};

/// Deepest nesting of type expressions the parser accepts.
pub(crate) const MAXIMUM_NESTING: usize = 64;

type ParseResult<T> = Result<T, (Position, ParseErrorKind)>;

/// `Name TypeExpression` at top level.
#[derive(Debug)]
pub(crate) struct Declaration {
    pub(crate) name: String,
    pub(crate) position: Position,
    pub(crate) definition: TypeExpression,
}

/// A type as written, with where it starts.
#[derive(Debug)]
pub(crate) struct TypeExpression {
    pub(crate) position: Position,
    pub(crate) kind: TypeExpressionKind,
}

#[derive(Debug)]
pub(crate) enum TypeExpressionKind {
    /// A built-in or declared name.
    Name(String),
    /// `[N]T`
    Array {
        length: u64,
        element: Box<TypeExpression>,
    },
    /// `[]T`
    Tuple(Box<TypeExpression>),
    /// `*T`
    Optional(Box<TypeExpression>),
    /// `struct { Name T ... }`
    Struct(Vec<MemberSyntax>),
    /// `union { Name T ... }`
    Union(Vec<MemberSyntax>),
    /// `interface { Method(a T, ...) (r T, ...) ... }`
    Interface(Vec<MethodSyntax>),
}

/// A struct field, union variant or method parameter.
#[derive(Debug)]
pub(crate) struct MemberSyntax {
    pub(crate) name: String,
    pub(crate) position: Position,
    pub(crate) type_expression: TypeExpression,
}

/// One interface method.
#[derive(Debug)]
pub(crate) struct MethodSyntax {
    pub(crate) name: String,
    pub(crate) position: Position,
    pub(crate) arguments: Vec<MemberSyntax>,
    pub(crate) results: Vec<MemberSyntax>,
}

struct Parser<'source> {
    lexer: Lexer<'source>,
    current: Spanned,
    nesting: usize,
}

/// Parses a whole ETN source into its declarations, without resolving names.
pub(crate) fn parse_declarations(source: &str) -> ParseResult<Vec<Declaration>> {
    let mut lexer = Lexer::new(source);
    let current = lexer.next_token()?;
    let mut parser = Parser {
        lexer,
        current,
        nesting: 0,
    };
    let mut declarations = Vec::new();
    loop {
        parser.skip_semicolons()?;
        if parser.current.token == Token::End {
            return Ok(declarations);
        }
        declarations.push(parser.declaration()?);
    }
}

impl Parser<'_> {
    fn bump(&mut self) -> ParseResult<Spanned> {
        let next = self.lexer.next_token()?;
        Ok(core::mem::replace(&mut self.current, next))
    }

    fn unexpected<T>(&self, expected: Expected) -> ParseResult<T> {
        Err((
            self.current.position,
            ParseErrorKind::UnexpectedToken {
                expected,
                found: self.current.token.to_string(),
            },
        ))
    }

    fn is_punctuation(&self, character: char) -> bool {
        self.current.token == Token::Punctuation(character)
    }

    fn expect_punctuation(&mut self, character: char) -> ParseResult<()> {
        if self.is_punctuation(character) {
            self.bump()?;
            Ok(())
        } else {
            self.unexpected(Expected::Punctuation(character))
        }
    }

    fn skip_semicolons(&mut self) -> ParseResult<()> {
        while self.is_punctuation(';') {
            self.bump()?;
        }
        Ok(())
    }

    fn identifier(&mut self, expected: Expected) -> ParseResult<(String, Position)> {
        if let Token::Identifier(_) = self.current.token {
            let spanned = self.bump()?;
            if let Token::Identifier(name) = spanned.token {
                return Ok((name, spanned.position));
            }
        }
        self.unexpected(expected)
    }

    fn declaration(&mut self) -> ParseResult<Declaration> {
        let (name, position) = self.identifier(Expected::DeclarationName)?;
        let definition = self.type_expression()?;
        Ok(Declaration {
            name,
            position,
            definition,
        })
    }

    fn type_expression(&mut self) -> ParseResult<TypeExpression> {
        let position = self.current.position;
        if self.nesting >= MAXIMUM_NESTING {
            return Err((position, ParseErrorKind::NestingTooDeep));
        }
        self.nesting += 1;
        let result = self.type_expression_inner(position);
        self.nesting -= 1;
        result
    }

    fn type_expression_inner(&mut self, position: Position) -> ParseResult<TypeExpression> {
        let kind = match &self.current.token {
            Token::Punctuation('[') => {
                self.bump()?;
                match self.current.token {
                    Token::Punctuation(']') => {
                        self.bump()?;
                        TypeExpressionKind::Tuple(Box::new(self.type_expression()?))
                    }
                    Token::Number(length) => {
                        self.bump()?;
                        self.expect_punctuation(']')?;
                        TypeExpressionKind::Array {
                            length,
                            element: Box::new(self.type_expression()?),
                        }
                    }
                    _ => return self.unexpected(Expected::ArrayLengthOrBracket),
                }
            }
            Token::Punctuation('*') => {
                self.bump()?;
                TypeExpressionKind::Optional(Box::new(self.type_expression()?))
            }
            Token::Identifier(word) if word == "struct" => {
                self.bump()?;
                TypeExpressionKind::Struct(self.members()?)
            }
            Token::Identifier(word) if word == "union" => {
                self.bump()?;
                TypeExpressionKind::Union(self.members()?)
            }
            Token::Identifier(word) if word == "interface" => {
                self.bump()?;
                TypeExpressionKind::Interface(self.methods()?)
            }
            Token::Identifier(_) => {
                let (name, _) = self.identifier(Expected::TypeExpression)?;
                TypeExpressionKind::Name(name)
            }
            _ => return self.unexpected(Expected::TypeExpression),
        };
        Ok(TypeExpression { position, kind })
    }

    fn members(&mut self) -> ParseResult<Vec<MemberSyntax>> {
        self.expect_punctuation('{')?;
        let mut members = Vec::new();
        loop {
            self.skip_semicolons()?;
            if self.is_punctuation('}') {
                self.bump()?;
                return Ok(members);
            }
            let (name, position) = self.identifier(Expected::MemberName)?;
            let type_expression = self.type_expression()?;
            members.push(MemberSyntax {
                name,
                position,
                type_expression,
            });
        }
    }

    fn methods(&mut self) -> ParseResult<Vec<MethodSyntax>> {
        self.expect_punctuation('{')?;
        let mut methods = Vec::new();
        loop {
            self.skip_semicolons()?;
            if self.is_punctuation('}') {
                self.bump()?;
                return Ok(methods);
            }
            let (name, position) = self.identifier(Expected::MethodName)?;
            let arguments = self.parameters()?;
            let results = if self.is_punctuation('(') {
                self.parameters()?
            } else {
                Vec::new()
            };
            methods.push(MethodSyntax {
                name,
                position,
                arguments,
                results,
            });
        }
    }

    fn parameters(&mut self) -> ParseResult<Vec<MemberSyntax>> {
        self.expect_punctuation('(')?;
        let mut parameters = Vec::new();
        if self.is_punctuation(')') {
            self.bump()?;
            return Ok(parameters);
        }
        loop {
            let (name, position) = self.identifier(Expected::ParameterName)?;
            let type_expression = self.type_expression()?;
            parameters.push(MemberSyntax {
                name,
                position,
                type_expression,
            });
            if self.is_punctuation(',') {
                self.bump()?;
            } else {
                self.expect_punctuation(')')?;
                return Ok(parameters);
            }
        }
    }
}
