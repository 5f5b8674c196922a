//! Generated code from `sample.etn`, one kind at a time: the value encodes to the
//! documented byte layout, the recognizer accepts it, and it decodes back. Then the
//! interface: a client stub talks to a server through an in-memory transport.

use ethos_typesys::codegen::generate_from_source;
use ethos_typesys::rpc::{RpcError, Transport};
use ethos_typesys::wire::{self, Array, WireError};
use ethos_typesys::{EtnType, TypeHash, validate, validate_reply};
use ethos_typesys_sample::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`, checks the bytes are `expected`, that they validate as `T`, and
/// that they decode to an equal value.
fn round_trip<T>(value: T, expected: &[u8])
where
    T: Serialize + DeserializeOwned + EtnType + PartialEq + std::fmt::Debug,
{
    let graph = type_graph().expect("sample graph is valid");
    let bytes = wire::encode(&value).expect("encodes");
    assert_eq!(bytes, expected, "layout of {value:?}");
    assert_eq!(validate(&graph, &T::TYPE_HASH, &bytes), Ok(()));
    let decoded: T = wire::decode(&bytes).expect("decodes");
    assert_eq!(decoded, value);
    // One byte more or less is never a value.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(validate(&graph, &T::TYPE_HASH, &longer).is_err());
    assert!(wire::decode::<T>(&longer).is_err());
    if let Some((_, shorter)) = bytes.split_last() {
        assert!(validate(&graph, &T::TYPE_HASH, shorter).is_err());
        assert!(wire::decode::<T>(shorter).is_err());
    }
}

fn u64_bytes(value: u64) -> [u8; 8] {
    value.to_le_bytes()
}

#[test]
fn scalars() {
    round_trip(Status(0x0102_0304), &[4, 3, 2, 1]);
    round_trip(Flag(true), &[1]);
    round_trip(Flag(false), &[0]);
    round_trip(Temperature(1.5), &1.5f64.to_le_bytes());
    let everything = Everything {
        a: -1,
        b: -2,
        c: -3,
        d: -4,
        e: 5,
        f: 6,
        g: 7,
        h: 8,
        i: 0.5,
        j: 0.25,
        k: true,
        l: "é".into(),
    };
    let mut expected = vec![0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff];
    expected.extend_from_slice(&(-4i64).to_le_bytes());
    expected.push(5);
    expected.extend_from_slice(&6u16.to_le_bytes());
    expected.extend_from_slice(&7u32.to_le_bytes());
    expected.extend_from_slice(&8u64.to_le_bytes());
    expected.extend_from_slice(&0.5f32.to_le_bytes());
    expected.extend_from_slice(&0.25f64.to_le_bytes());
    expected.push(1);
    expected.extend_from_slice(&u64_bytes(2));
    expected.extend_from_slice("é".as_bytes());
    round_trip(everything, &expected);
}

#[test]
fn strings() {
    let mut expected = u64_bytes(5).to_vec();
    expected.extend_from_slice(b"ethos");
    round_trip(Label("ethos".into()), &expected);
    round_trip(Label(String::new()), &u64_bytes(0));
}

#[test]
fn arrays() {
    round_trip(HashValue(Array([9; 64])), &[9; 64]);
    let grid = Grid(Array([
        Array([1, 2, 3, 4]),
        Array([5, 6, 7, 8]),
        Array([-1, -2, -3, -4]),
    ]));
    let expected: Vec<u8> = [1i16, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4]
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    round_trip(grid, &expected);
    round_trip(
        Flags(Array([true, false, true, true, false, false, false, true])),
        &[1, 0, 1, 1, 0, 0, 0, 1],
    );
}

#[test]
fn tuples() {
    let mut expected = u64_bytes(3).to_vec();
    expected.extend_from_slice(&[7, 8, 9]);
    round_trip(Bytes(vec![7, 8, 9]), &expected);
    let mut expected = u64_bytes(2).to_vec();
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.extend_from_slice(&2u32.to_le_bytes());
    round_trip(Words(vec![1, 2]), &expected);
    let mut expected = u64_bytes(2).to_vec();
    expected.extend_from_slice(&u64_bytes(1));
    expected.push(b'a');
    expected.extend_from_slice(&u64_bytes(0));
    round_trip(Names(vec!["a".into(), String::new()]), &expected);
}

#[test]
fn optionals() {
    round_trip(MaybeLabel(None), &[0]);
    let mut expected = vec![1];
    expected.extend_from_slice(&u64_bytes(1));
    expected.push(b'x');
    round_trip(MaybeLabel(Some(Box::new(Label("x".into())))), &expected);
}

#[test]
fn structs_and_aliases() {
    let mut expected = 3i32.to_le_bytes().to_vec();
    expected.extend_from_slice(&(-4i32).to_le_bytes());
    round_trip(Point { x: 3, y: -4 }, &expected);
    round_trip(Location(Point { x: 3, y: -4 }), &expected);
    round_trip(Empty {}, &[]);
    let list = List {
        value: 1,
        next: Some(Box::new(List {
            value: 2,
            next: None,
        })),
    };
    round_trip(list, &[1, 0, 0, 0, 1, 2, 0, 0, 0, 0]);
    let tree = Tree {
        label: "r".into(),
        children: vec![Tree {
            label: String::new(),
            children: Vec::new(),
        }],
    };
    let mut expected = u64_bytes(1).to_vec();
    expected.push(b'r');
    expected.extend_from_slice(&u64_bytes(1));
    expected.extend_from_slice(&u64_bytes(0));
    expected.extend_from_slice(&u64_bytes(0));
    round_trip(tree, &expected);
    let matrix = Matrix {
        rows: vec![vec![Point { x: 1, y: 2 }]],
        corners: Array([None, Some(Box::new(Point { x: 5, y: 6 }))]),
    };
    let mut expected = u64_bytes(1).to_vec();
    expected.extend_from_slice(&u64_bytes(1));
    expected.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 5, 0, 0, 0, 6, 0, 0, 0]);
    round_trip(matrix, &expected);
}

#[test]
fn unions() {
    let mut expected = 0u32.to_le_bytes().to_vec();
    expected.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
    expected.extend_from_slice(&0.5f32.to_le_bytes());
    round_trip(
        Shape::Circle(Circle {
            center: Point { x: 1, y: 2 },
            radius: 0.5,
        }),
        &expected,
    );
    round_trip(Shape::Nothing(Empty {}), &2u32.to_le_bytes());
}

#[test]
fn any_is_hash_then_value() {
    let mut expected = Point::TYPE_HASH.0.to_vec();
    expected.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
    round_trip(
        Anything(AnyValue::Point(Box::new(Point { x: 1, y: 2 }))),
        &expected,
    );
    let boxed = Boxed {
        name: "n".into(),
        value: AnyValue::Flag(Box::new(Flag(true))),
    };
    let mut expected = u64_bytes(1).to_vec();
    expected.push(b'n');
    expected.extend_from_slice(&Flag::TYPE_HASH.0);
    expected.push(1);
    round_trip(boxed, &expected);
    // An unknown hash is refused by both sides.
    let graph = type_graph().expect("sample graph is valid");
    let mut unknown = vec![0x55; 64];
    unknown.push(1);
    assert!(validate(&graph, &Anything::TYPE_HASH, &unknown).is_err());
    assert!(wire::decode::<Anything>(&unknown).is_err());
    // Interfaces are not values an `any` may carry.
    let mut interface = Counter::TYPE_HASH.0.to_vec();
    interface.extend_from_slice(&0u32.to_le_bytes());
    assert!(validate(&graph, &Anything::TYPE_HASH, &interface).is_err());
}

/// Serves requests by calling a server directly, as an IPC connection would.
struct Loopback<S> {
    server: S,
    requests: Vec<Vec<u8>>,
}

impl<S: CounterServer> Transport for Loopback<S> {
    type Error = WireError;

    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, WireError> {
        self.requests.push(request.to_vec());
        serve_counter(&mut self.server, request)
    }
}

#[derive(Default)]
struct CountingServer {
    count: u64,
}

impl CounterServer for CountingServer {
    fn increment(&mut self, by: u64) -> CounterIncrementReply {
        self.count += by;
        CounterIncrementReply { count: self.count }
    }

    fn describe(&mut self, shape: Shape, label: Option<Box<Label>>) -> CounterDescribeReply {
        let name = label.map(|label| label.0).unwrap_or_default();
        match shape {
            Shape::Circle(circle) => CounterDescribeReply {
                text: format!("{name}: circle"),
                area: 3.0 * f64::from(circle.radius * circle.radius),
            },
            Shape::Polygon(polygon) => CounterDescribeReply {
                text: format!("{name}: {} points", polygon.points.len()),
                area: 0.0,
            },
            Shape::Nothing(_) => CounterDescribeReply {
                text: name,
                area: 0.0,
            },
        }
    }

    fn reset(&mut self) -> CounterResetReply {
        self.count = 0;
        CounterResetReply {}
    }
}

#[test]
fn interface_client_and_server() {
    let graph = type_graph().expect("sample graph is valid");
    let mut client = CounterClient {
        transport: Loopback {
            server: CountingServer::default(),
            requests: Vec::new(),
        },
    };
    assert_eq!(client.increment(2).expect("call").count, 2);
    assert_eq!(client.increment(5).expect("call").count, 7);
    let described = client
        .describe(
            Shape::Circle(Circle {
                center: Point { x: 0, y: 0 },
                radius: 2.0,
            }),
            Some(Box::new(Label("disc".into()))),
        )
        .expect("call");
    assert_eq!(described.text, "disc: circle");
    assert_eq!(described.area, 12.0);
    client.reset().expect("call");
    assert_eq!(client.increment(1).expect("call").count, 1);

    // Requests are the method index, then the argument struct.
    let requests = &client.transport.requests;
    let mut first = 0u32.to_le_bytes().to_vec();
    first.extend_from_slice(&u64_bytes(2));
    assert_eq!(requests[0], first);
    assert_eq!(requests[3], 2u32.to_le_bytes());
    for request in requests {
        assert_eq!(validate(&graph, &Counter::TYPE_HASH, request), Ok(()));
    }
    // Replies are the method index, then the result struct.
    let reply = wire::encode(&CounterReply::Increment(CounterIncrementReply { count: 9 }))
        .expect("encodes");
    let mut expected = 0u32.to_le_bytes().to_vec();
    expected.extend_from_slice(&u64_bytes(9));
    assert_eq!(reply, expected);
    assert_eq!(validate_reply(&graph, &Counter::TYPE_HASH, &reply), Ok(()));
    // A method index past the last is refused, as is a reply for a value type.
    assert!(validate(&graph, &Counter::TYPE_HASH, &3u32.to_le_bytes()).is_err());
    assert!(validate_reply(&graph, &Point::TYPE_HASH, &[0; 8]).is_err());
}

/// A transport whose server answers every call with a `Reset` reply.
struct WrongServer;

impl Transport for WrongServer {
    type Error = WireError;

    fn call(&mut self, _request: &[u8]) -> Result<Vec<u8>, WireError> {
        wire::encode(&CounterReply::Reset(CounterResetReply {}))
    }
}

#[test]
fn client_refuses_a_reply_to_another_method() {
    let mut client = CounterClient {
        transport: WrongServer,
    };
    assert!(matches!(
        client.increment(1),
        Err(RpcError::MismatchedReply { expected: 0 })
    ));
}

#[test]
fn a_server_answers_into_a_kept_vector_as_into_a_new_one() {
    let mut request = 0u32.to_le_bytes().to_vec();
    request.extend_from_slice(&u64_bytes(4));
    let mut kept = vec![0xee];
    let mut server = CountingServer::default();
    serve_counter_into(&mut server, &request, &mut kept).expect("answers");
    let answered = serve_counter(&mut CountingServer::default(), &request).expect("answers");
    assert_eq!(kept[0], 0xee);
    assert_eq!(kept[1..], answered[..]);
    // A request that does not decode leaves the vector as it was.
    assert!(serve_counter_into(&mut server, &request[..5], &mut kept).is_err());
    assert_eq!(kept.len(), 1 + answered.len());
}

#[test]
fn generation_is_deterministic_and_reports_clashes() {
    let source = include_str!("sample.etn");
    let first = generate_from_source("sample.etn", source).expect("generates");
    let second = generate_from_source("sample.etn", source).expect("generates");
    assert_eq!(first, second);
    assert!(first.contains("pub const TYPE_HASH: ::ethos_typesys::TypeHash"));
    let clash = generate_from_source("c.etn", "Counter interface { Ping() }\nCounterPing uint8");
    assert!(
        matches!(clash, Err(ethos_typesys::codegen::CodegenError::NameCollision(ref name)) if name == "CounterPing"),
        "{clash:?}"
    );
    let keyword = generate_from_source("k.etn", "S struct { type uint8 }").expect("generates");
    assert!(keyword.contains("pub r#type: u8"));
}

#[test]
fn type_hash_trait_matches_inherent_constant() {
    fn via_trait<T: EtnType>() -> TypeHash {
        T::TYPE_HASH
    }
    assert_eq!(via_trait::<Point>(), Point::TYPE_HASH);
    assert_ne!(via_trait::<Point>(), via_trait::<Location>());
}
