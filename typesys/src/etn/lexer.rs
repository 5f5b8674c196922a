//! Lexer for ETN: turns source text into tokens that carry their line and column.
//!
//! Written by hand because the token set is tiny and every token must keep its
//! position for error messages. It never allocates per character and never panics on
//! any input: every byte sequence either becomes a token or a positioned error.

use alloc::string::String;

use super::{ParseErrorKind, Position};

/// One token of ETN source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// A name: letters, digits and `_`, not starting with a digit.
    Identifier(String),
    /// A decimal or `0x` hexadecimal unsigned number.
    Number(u64),
    /// One of `[ ] ( ) { } * , ;`.
    Punctuation(char),
    /// The end of the source.
    End,
}

impl core::fmt::Display for Token {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Token::Identifier(name) => write!(formatter, "`{name}`"),
            Token::Number(value) => write!(formatter, "number {value}"),
            Token::Punctuation(character) => write!(formatter, "`{character}`"),
            Token::End => formatter.write_str("end of file"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) position: Position,
}

/// Splits ETN source into tokens; `//` and `/* */` comments and all white space
/// (including newlines) separate tokens and are otherwise ignored.
#[derive(Debug)]
pub(crate) struct Lexer<'source> {
    source: &'source str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'source> Lexer<'source> {
    pub(crate) fn new(source: &'source str) -> Self {
        Lexer {
            source,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.source.get(self.offset..)?.chars().next()
    }

    fn peek_second_char(&self) -> Option<char> {
        let mut characters = self.source.get(self.offset..)?.chars();
        characters.next();
        characters.next()
    }

    fn advance(&mut self) -> Option<char> {
        let character = self.peek_char()?;
        self.offset += character.len_utf8();
        if character == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(character)
    }

    fn skip_space_and_comments(&mut self) -> Result<(), (Position, ParseErrorKind)> {
        loop {
            match (self.peek_char(), self.peek_second_char()) {
                (Some(character), _) if character.is_whitespace() => {
                    self.advance();
                }
                (Some('/'), Some('/')) => {
                    while let Some(character) = self.advance() {
                        if character == '\n' {
                            break;
                        }
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.position();
                    self.advance();
                    self.advance();
                    loop {
                        match self.advance() {
                            Some('*') if self.peek_char() == Some('/') => {
                                self.advance();
                                break;
                            }
                            Some(_) => {}
                            None => return Err((start, ParseErrorKind::UnterminatedComment)),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Returns the next token, or the position and kind of a lexical error.
    pub(crate) fn next_token(&mut self) -> Result<Spanned, (Position, ParseErrorKind)> {
        self.skip_space_and_comments()?;
        let position = self.position();
        let Some(character) = self.peek_char() else {
            return Ok(Spanned {
                token: Token::End,
                position,
            });
        };
        let token = if character.is_ascii_alphabetic() || character == '_' {
            let mut name = String::new();
            while let Some(next) = self.peek_char() {
                if next.is_ascii_alphanumeric() || next == '_' {
                    name.push(next);
                    self.advance();
                } else {
                    break;
                }
            }
            Token::Identifier(name)
        } else if character.is_ascii_digit() {
            Token::Number(self.number(position)?)
        } else if "[](){}*,;".contains(character) {
            self.advance();
            Token::Punctuation(character)
        } else {
            return Err((position, ParseErrorKind::UnexpectedCharacter(character)));
        };
        Ok(Spanned { token, position })
    }

    fn number(&mut self, position: Position) -> Result<u64, (Position, ParseErrorKind)> {
        let radix = if self.peek_char() == Some('0')
            && matches!(self.peek_second_char(), Some('x' | 'X'))
        {
            self.advance();
            self.advance();
            16
        } else {
            10
        };
        let mut value: u64 = 0;
        let mut digits = 0usize;
        while let Some(next) = self.peek_char() {
            if next == '_' {
                self.advance();
                continue;
            }
            let Some(digit) = next.to_digit(radix) else {
                if next.is_ascii_alphanumeric() {
                    return Err((self.position(), ParseErrorKind::InvalidDigit(next)));
                }
                break;
            };
            self.advance();
            digits += 1;
            value = value
                .checked_mul(u64::from(radix))
                .and_then(|shifted| shifted.checked_add(u64::from(digit)))
                .ok_or((position, ParseErrorKind::NumberTooLarge))?;
        }
        if digits == 0 {
            return Err((self.position(), ParseErrorKind::MissingDigits));
        }
        Ok(value)
    }
}
