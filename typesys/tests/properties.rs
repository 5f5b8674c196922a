//! Property tests of the recognizer against the generated code of `sample.etn`:
//! encodings of random values validate, and on random and mutated byte strings the
//! recognizer accepts exactly when the generated decoder decodes the whole input.
//! Set `ETHOS_TYPESYS_PROPTEST_CASES` for longer runs.

use ethos_typesys::graph::{Kind, NodeIndex};
use ethos_typesys::recognizer::{Direction, TypeError, recognize};
use ethos_typesys::wire::{self, Array};
use ethos_typesys::{TypeGraph, TypeHash, validate, validate_reply};
use ethos_typesys_sample::*;
use proptest::prelude::*;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("ETHOS_TYPESYS_PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

fn graph() -> TypeGraph<'static> {
    type_graph().expect("sample graph is valid")
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn point() -> impl Strategy<Value = Point> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Point { x, y })
}

fn label() -> impl Strategy<Value = Label> {
    text().prop_map(Label)
}

fn boxed<T: std::fmt::Debug + 'static>(
    strategy: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<Box<T>>> {
    proptest::option::of(strategy.prop_map(Box::new))
}

fn everything() -> impl Strategy<Value = Everything> {
    (
        (any::<i8>(), any::<i16>(), any::<i32>(), any::<i64>()),
        (any::<u8>(), any::<u16>(), any::<u32>(), any::<u64>()),
        (any::<f32>(), any::<f64>(), any::<bool>(), text()),
    )
        .prop_map(|((a, b, c, d), (e, f, g, h), (i, j, k, l))| Everything {
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            i,
            j,
            k,
            l,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (point(), any::<f32>())
            .prop_map(|(center, radius)| Shape::Circle(Circle { center, radius })),
        (proptest::collection::vec(point(), 0..4), any::<bool>())
            .prop_map(|(points, closed)| Shape::Polygon(Polygon { points, closed })),
        Just(Shape::Nothing(Empty {})),
    ]
}

fn list() -> impl Strategy<Value = List> {
    proptest::collection::vec(any::<i32>(), 1..6).prop_map(|values| {
        let mut next = None;
        for value in values.into_iter().rev() {
            next = Some(Box::new(List { value, next }));
        }
        *next.expect("at least one value")
    })
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = text().prop_map(|label| Tree {
        label,
        children: Vec::new(),
    });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (text(), proptest::collection::vec(inner, 0..3))
            .prop_map(|(label, children)| Tree { label, children })
    })
}

/// A value of a type without `any` in it, as an `AnyValue`.
fn plain_value() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        any::<u32>().prop_map(|value| AnyValue::Status(Box::new(Status(value)))),
        any::<bool>().prop_map(|value| AnyValue::Flag(Box::new(Flag(value)))),
        any::<f64>().prop_map(|value| AnyValue::Temperature(Box::new(Temperature(value)))),
        label().prop_map(|value| AnyValue::Label(Box::new(value))),
        any::<[u8; 32]>().prop_map(|half| {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&half);
            AnyValue::HashValue(Box::new(HashValue(Array(bytes))))
        }),
        any::<[[i16; 4]; 3]>()
            .prop_map(|rows| AnyValue::Grid(Box::new(Grid(Array(rows.map(Array)))))),
        any::<[bool; 8]>().prop_map(|flags| AnyValue::Flags(Box::new(Flags(Array(flags))))),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|bytes| AnyValue::Bytes(Box::new(Bytes(bytes)))),
        proptest::collection::vec(any::<u32>(), 0..10)
            .prop_map(|words| AnyValue::Words(Box::new(Words(words)))),
        proptest::collection::vec(text(), 0..4)
            .prop_map(|names| AnyValue::Names(Box::new(Names(names)))),
        boxed(label()).prop_map(|maybe| AnyValue::MaybeLabel(Box::new(MaybeLabel(maybe)))),
        point().prop_map(|point| AnyValue::Location(Box::new(Location(point)))),
        point().prop_map(|point| AnyValue::Point(Box::new(point))),
        everything().prop_map(|value| AnyValue::Everything(Box::new(value))),
        Just(AnyValue::Empty(Box::new(Empty {}))),
        shape().prop_map(|value| match value {
            Shape::Circle(circle) => AnyValue::Circle(Box::new(circle)),
            other => AnyValue::Shape(Box::new(other)),
        }),
        shape().prop_map(|value| AnyValue::Shape(Box::new(value))),
        list().prop_map(|value| AnyValue::List(Box::new(value))),
        tree().prop_map(|value| AnyValue::Tree(Box::new(value))),
        (
            proptest::collection::vec(proptest::collection::vec(point(), 0..3), 0..3),
            boxed(point()),
            boxed(point())
        )
            .prop_map(|(rows, first, second)| AnyValue::Matrix(Box::new(Matrix {
                rows,
                corners: Array([first, second]),
            }))),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(identifier, data)| AnyValue::Blob(Box::new(Blob { identifier, data }))),
    ]
}

/// A value of any named type of the sample, `any` included.
fn value() -> impl Strategy<Value = AnyValue> {
    plain_value().prop_recursive(3, 8, 1, |inner| {
        prop_oneof![
            (text(), inner.clone())
                .prop_map(|(name, value)| AnyValue::Boxed(Box::new(Boxed { name, value }))),
            inner.prop_map(|value| AnyValue::Anything(Box::new(Anything(value)))),
        ]
    })
}

fn request() -> impl Strategy<Value = CounterRequest> {
    prop_oneof![
        any::<u64>().prop_map(|by| CounterRequest::Increment(CounterIncrement { by })),
        (shape(), boxed(label()))
            .prop_map(|(shape, label)| CounterRequest::Describe(CounterDescribe { shape, label })),
        Just(CounterRequest::Reset(CounterReset {})),
    ]
}

fn reply() -> impl Strategy<Value = CounterReply> {
    prop_oneof![
        any::<u64>().prop_map(|count| CounterReply::Increment(CounterIncrementReply { count })),
        (text(), any::<f64>())
            .prop_map(|(text, area)| CounterReply::Describe(CounterDescribeReply { text, area })),
        Just(CounterReply::Reset(CounterResetReply {})),
    ]
}

/// Changes to a byte string that keep it near a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    SetByte(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Append(Vec<u8>),
    Remove(usize),
    /// Overwrites 8 bytes with a count or length, small or huge.
    SetWord(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte(at, byte)),
        (any::<usize>(), 0u8..3).prop_map(|(at, byte)| Mutation::SetByte(at, byte)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        proptest::collection::vec(any::<u8>(), 1..4).prop_map(Mutation::Append),
        any::<usize>().prop_map(Mutation::Remove),
        (
            any::<usize>(),
            prop_oneof![0u64..4, Just(u64::MAX), any::<u64>()]
        )
            .prop_map(|(at, word)| Mutation::SetWord(at, word)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let length = bytes.len();
    match mutation {
        Mutation::SetByte(at, byte) if length > 0 => bytes[at % length] = *byte,
        Mutation::Truncate(at) => bytes.truncate(at % (length + 1)),
        Mutation::Insert(at, byte) => bytes.insert(at % (length + 1), *byte),
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
        Mutation::Remove(at) if length > 0 => {
            bytes.remove(at % length);
        }
        Mutation::SetWord(at, word) if length >= 8 => {
            let start = at % (length - 7);
            bytes[start..start + 8].copy_from_slice(&word.to_le_bytes());
        }
        _ => {}
    }
}

/// The named value types of the graph, and the interface.
fn roots(graph: &TypeGraph<'static>) -> Vec<NodeIndex> {
    (0..graph.nodes().len() as NodeIndex)
        .filter(|&index| graph.node(index).is_some_and(|node| !node.name.is_empty()))
        .collect()
}

/// Shortest input that can nest past the default bound: `List` spends five bytes per
/// two levels, the cheapest recursion of the sample.
const SHORTEST_TOO_DEEP: usize = 150;

/// Checks recognizer against decoder for `root` on `bytes`.
fn agree(
    graph: &TypeGraph<'static>,
    root: NodeIndex,
    reply: bool,
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    let node = graph.node(root).expect("root exists");
    let hash = graph.hash(root).expect("root has a hash");
    let (verdict, decoded) = if let Kind::Interface { .. } = node.kind {
        if reply {
            (
                recognize(graph, root, Direction::Reply, bytes),
                wire::decode::<CounterReply>(bytes).is_ok(),
            )
        } else {
            (
                recognize(graph, root, Direction::Request, bytes),
                wire::decode::<CounterRequest>(bytes).is_ok(),
            )
        }
    } else {
        let decoded = AnyValue::decode_as(hash, bytes).expect("every named value type decodes");
        (validate(graph, hash, bytes), decoded.is_ok())
    };
    if let Err(TypeError::TooDeep { .. }) = verdict {
        prop_assert!(
            bytes.len() >= SHORTEST_TOO_DEEP,
            "too deep on {} bytes",
            bytes.len()
        );
        return Ok(());
    }
    prop_assert_eq!(
        verdict.is_ok(),
        decoded,
        "type {} on {:02x?}: recognizer {:?}",
        node.name,
        bytes,
        verdict
    );
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn random_values_validate(value in value()) {
        let graph = graph();
        let bytes = value.encode_value().expect("encodes");
        let hash = value.type_hash();
        prop_assert_eq!(validate(&graph, &hash, &bytes), Ok(()));
        // And as an `any`: the hash, then the value.
        let wrapped = wire::encode(&value).expect("encodes");
        prop_assert_eq!(&wrapped[..64], &hash.0[..]);
        prop_assert_eq!(validate(&graph, &Anything::TYPE_HASH, &wrapped), Ok(()));
        // The decoder gives back a value with the same encoding.
        let decoded = AnyValue::decode_as(&hash, &bytes).expect("known hash").expect("decodes");
        prop_assert_eq!(decoded.encode_value().expect("encodes"), bytes);
    }

    #[test]
    fn random_messages_validate(request in request(), reply in reply()) {
        let graph = graph();
        let bytes = wire::encode(&request).expect("encodes");
        prop_assert_eq!(validate(&graph, &Counter::TYPE_HASH, &bytes), Ok(()));
        let bytes = wire::encode(&reply).expect("encodes");
        prop_assert_eq!(validate_reply(&graph, &Counter::TYPE_HASH, &bytes), Ok(()));
        // Encoding into a kept vector appends exactly the same bytes.
        let mut kept = vec![0xee; 3];
        wire::encode_into(&reply, &mut kept).expect("encodes");
        prop_assert_eq!(&kept[..3], &[0xee; 3][..]);
        prop_assert_eq!(&kept[3..], &bytes[..]);
    }

    #[test]
    fn recognizer_agrees_with_decoder_on_random_bytes(
        selector in any::<usize>(),
        reply in any::<bool>(),
        bytes in proptest::collection::vec(prop_oneof![0u8..=2, any::<u8>()], 0..SHORTEST_TOO_DEEP),
    ) {
        let graph = graph();
        let roots = roots(&graph);
        agree(&graph, roots[selector % roots.len()], reply, &bytes)?;
    }

    #[test]
    fn recognizer_agrees_with_decoder_on_mutated_values(
        value in value(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let graph = graph();
        let mut bytes = value.encode_value().expect("encodes");
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        let root = graph.find(&value.type_hash()).expect("type in graph");
        agree(&graph, root, false, &bytes)?;
        let anything = graph.find(&Anything::TYPE_HASH).expect("Anything in graph");
        let mut wrapped = wire::encode(&value).expect("encodes");
        for mutation in &mutations {
            apply(&mut wrapped, mutation);
        }
        agree(&graph, anything, false, &wrapped)?;
    }

    #[test]
    fn recognizer_agrees_with_decoder_on_mutated_messages(
        request in request(),
        reply in reply(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let graph = graph();
        let counter = graph.find(&Counter::TYPE_HASH).expect("Counter in graph");
        let mut bytes = wire::encode(&request).expect("encodes");
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        agree(&graph, counter, false, &bytes)?;
        let mut bytes = wire::encode(&reply).expect("encodes");
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        agree(&graph, counter, true, &bytes)?;
    }
}

proptest! {
    // Each case checks about six mutations per encoded byte.
    #![proptest_config(cases(48))]

    #[test]
    fn recognizer_agrees_with_decoder_on_every_single_byte_change(value in value()) {
        let graph = graph();
        let root = graph.find(&value.type_hash()).expect("type in graph");
        let bytes = value.encode_value().expect("encodes");
        for position in 0..bytes.len() {
            agree(&graph, root, false, &bytes[..position])?;
            for replacement in [0u8, 1, 2, 0x80, 0xff] {
                let mut changed = bytes.clone();
                changed[position] = replacement;
                agree(&graph, root, false, &changed)?;
            }
        }
    }
}

#[test]
fn unknown_hash_is_refused() {
    let graph = graph();
    assert_eq!(
        validate(&graph, &TypeHash([7; 64]), &[]),
        Err(TypeError::UnknownType)
    );
}
