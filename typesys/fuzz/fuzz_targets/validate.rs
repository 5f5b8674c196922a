//! Fuzzes the recognizer against the generated decoder. The first input byte picks a
//! type of the sample schema (every named type, then the `Counter` request and reply);
//! the rest is the message. The recognizer must not panic, and must accept exactly when
//! the generated decoder decodes the whole message; a `TooDeep` rejection is the one
//! case the decoder, which has no depth bound, cannot judge. Checking by hash
//! (`validate`) must give what checking the type's node gives, and a hash that differs
//! in one bit (picked by the message length) must name no type.
#![no_main]

use std::sync::OnceLock;

use ethos_typesys::graph::{Kind, NodeIndex};
use ethos_typesys::recognizer::{Direction, TypeError, recognize};
use ethos_typesys::{TypeGraph, validate, wire};
use ethos_typesys_sample as sample;
use libfuzzer_sys::fuzz_target;

struct Roots {
    graph: TypeGraph<'static>,
    named: Vec<NodeIndex>,
    counter: NodeIndex,
}

fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let graph = sample::type_graph().expect("the sample graph is valid");
        let named = (0..graph.nodes().len() as NodeIndex)
            .filter(|&index| {
                graph.node(index).is_some_and(|node| {
                    !node.name.is_empty() && !matches!(node.kind, Kind::Interface { .. })
                })
            })
            .collect();
        let counter = graph
            .find(&sample::Counter::TYPE_HASH)
            .expect("Counter is in the graph");
        Roots {
            graph,
            named,
            counter,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let roots = roots();
    let choice = usize::from(selector) % (roots.named.len() + 2);
    let (verdict, decoded, hash) = if let Some(&node) = roots.named.get(choice) {
        let hash = roots.graph.hash(node).expect("node has a hash");
        let decoded = sample::AnyValue::decode_as(hash, message).expect("named type decodes");
        (
            recognize(&roots.graph, node, Direction::Request, message),
            decoded.is_ok(),
            Some(hash),
        )
    } else if choice == roots.named.len() {
        (
            recognize(&roots.graph, roots.counter, Direction::Request, message),
            wire::decode::<sample::CounterRequest>(message).is_ok(),
            Some(&sample::Counter::TYPE_HASH),
        )
    } else {
        (
            recognize(&roots.graph, roots.counter, Direction::Reply, message),
            wire::decode::<sample::CounterReply>(message).is_ok(),
            None,
        )
    };
    if let Some(hash) = hash {
        assert_eq!(
            validate(&roots.graph, hash, message),
            verdict,
            "validate by hash disagrees with the node's check on type {choice}"
        );
        let mut changed = *hash;
        let bit = message.len() % 512;
        changed.0[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            validate(&roots.graph, &changed, message),
            Err(TypeError::UnknownType),
            "a changed hash of type {choice} was taken"
        );
    }
    if let Err(TypeError::TooDeep { .. }) = verdict {
        return;
    }
    assert_eq!(
        verdict.is_ok(),
        decoded,
        "recognizer {verdict:?} disagrees with the decoder on type {choice}"
    );
});
