//! ETN parse errors: each names the file, line and column, and says what is wrong.

use ethos_typesys::etn::{CompoundKeyword, Expected, ParseErrorKind, Position, parse};
use ethos_typesys::graph::GraphError;

/// Parses `source` as `types.etn` and returns the error's line, column, kind and text.
fn error(source: &str) -> (u32, u32, ParseErrorKind, String) {
    let error = parse("types.etn", source).expect_err("source must be rejected");
    assert_eq!(error.file, "types.etn");
    let text = error.to_string();
    (error.position.line, error.position.column, error.kind, text)
}

#[test]
fn unknown_type_points_at_the_use() {
    let (line, column, kind, text) = error("Point struct {\n    X int32\n    Y int33\n}\n");
    assert_eq!((line, column), (3, 7));
    assert_eq!(kind, ParseErrorKind::UnknownType("int33".into()));
    assert_eq!(text, "types.etn:3:7: unknown type `int33`");
}

#[test]
fn duplicate_type_names_both_places() {
    let (line, column, kind, text) = error("A uint8\nB string\n  A int8\n");
    assert_eq!((line, column), (3, 3));
    assert_eq!(
        kind,
        ParseErrorKind::DuplicateType {
            name: "A".into(),
            first: Position { line: 1, column: 1 },
        }
    );
    assert_eq!(
        text,
        "types.etn:3:3: type `A` is declared twice (first at 1:1)"
    );
}

#[test]
fn unexpected_token_says_what_was_expected() {
    let (line, column, kind, text) = error("Pair struct { A int32 B }");
    assert_eq!((line, column), (1, 25));
    assert_eq!(
        kind,
        ParseErrorKind::UnexpectedToken {
            expected: Expected::TypeExpression,
            found: "`}`".into(),
        }
    );
    assert!(
        text.starts_with("types.etn:1:25: expected a type"),
        "{text}"
    );
}

#[test]
fn missing_bracket_and_bad_length() {
    let (line, column, kind, _) = error("Key [32 byte");
    assert_eq!((line, column), (1, 9));
    assert_eq!(
        kind,
        ParseErrorKind::UnexpectedToken {
            expected: Expected::Punctuation(']'),
            found: "`byte`".into(),
        }
    );
    let (line, column, kind, _) = error("Key [x]byte");
    assert_eq!((line, column), (1, 6));
    assert!(matches!(
        kind,
        ParseErrorKind::UnexpectedToken {
            expected: Expected::ArrayLengthOrBracket,
            ..
        }
    ));
    let (_, _, kind, _) = error("Key [99999999999999999999]byte");
    assert_eq!(kind, ParseErrorKind::NumberTooLarge);
}

#[test]
fn lexical_errors() {
    let (line, column, kind, _) = error("A uint8\n/* never closed\n");
    assert_eq!(
        (line, column, kind),
        (2, 1, ParseErrorKind::UnterminatedComment)
    );
    let (line, column, kind, _) = error("A uint8 = 3");
    assert_eq!(
        (line, column, kind),
        (1, 9, ParseErrorKind::UnexpectedCharacter('='))
    );
}

#[test]
fn recursion_without_indirection_is_refused() {
    let (line, column, kind, text) = error("A uint8\nNode struct { Value int32; Next Node }\n");
    assert_eq!((line, column), (2, 1));
    assert!(matches!(
        kind,
        ParseErrorKind::Graph(GraphError::RecursiveWithoutIndirection { .. })
    ));
    assert!(text.contains("contains itself"), "{text}");
    // Through an alias cycle and an array, too.
    let (line, _, _, _) = error("A B\nB [2]A\n");
    assert!(line == 1 || line == 2);
    // With `*` or `[]` it is fine.
    assert!(
        parse(
            "t.etn",
            "Node struct { Value int32; Next *Node; All []Node }"
        )
        .is_ok()
    );
}

#[test]
fn names_and_members() {
    let (line, column, kind, _) = error("string uint8");
    assert_eq!(
        (line, column, kind),
        (1, 1, ParseErrorKind::ReservedName("string".into()))
    );
    let (line, column, kind, _) = error("P struct {\n X int8\n X int16\n}");
    assert_eq!(
        (line, column, kind),
        (3, 2, ParseErrorKind::DuplicateMember("X".into()))
    );
    let (line, column, kind, _) = error("I interface { Get() (); Get(a int8) }");
    assert_eq!(
        (line, column, kind),
        (1, 25, ParseErrorKind::DuplicateMethod("Get".into()))
    );
    let (line, column, kind, _) = error("I interface { Put(a int8, a int8) }");
    assert_eq!(
        (line, column, kind),
        (1, 27, ParseErrorKind::DuplicateMember("a".into()))
    );
}

#[test]
fn compound_types_need_names_and_interfaces_are_not_values() {
    let (line, column, kind, _) = error("Outer struct { Inner struct { A int8 } }");
    assert_eq!(
        (line, column, kind),
        (
            1,
            22,
            ParseErrorKind::AnonymousCompound(CompoundKeyword::Struct)
        )
    );
    let (line, column, kind, _) = error("S interface { Ping() }\nHolder struct { Service S }\n");
    assert_eq!(
        (line, column, kind),
        (2, 25, ParseErrorKind::InterfaceAsValue("S".into()))
    );
}

#[test]
fn tuples_of_empty_values_are_refused() {
    let (line, column, kind, _) = error("Empty struct {}\nMany []Empty\n");
    assert_eq!((line, column), (2, 1));
    assert!(matches!(
        kind,
        ParseErrorKind::Graph(GraphError::ZeroSizedTupleElement { .. })
    ));
}

#[test]
fn nesting_is_bounded() {
    let source = format!("Deep {}uint8", "*".repeat(1000));
    let (_, _, kind, _) = error(&source);
    assert_eq!(kind, ParseErrorKind::NestingTooDeep);
}

#[test]
fn the_sample_parses() {
    let source = include_str!("sample.etn");
    let schema = parse("sample.etn", source).expect("sample parses");
    assert_eq!(schema.declarations.len(), 25);
    assert_eq!(schema.declarations[0].name, "Status");
}
