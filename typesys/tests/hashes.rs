//! Type identity: golden hash vectors, the canonical encoding rebuilt by hand, and
//! sensitivity of the hash to every change of a type.

use ethos_typesys::etn::parse;
use ethos_typesys::hash::{DOMAIN, TypeHash, canonical_encoding};
use ethos_typesys_sample as sample;
use sha2::{Digest, Sha512};

fn hash_of(source: &str, name: &str) -> TypeHash {
    let schema = parse("t.etn", source).expect("source parses");
    let node = schema.graph.find_by_name(name).expect("type declared");
    *schema.graph.hash(node).expect("node has a hash")
}

fn sha512(bytes: &[u8]) -> TypeHash {
    TypeHash(Sha512::digest(bytes).into())
}

fn text(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// Golden vectors of the sample schema: these must never change, on any machine.
#[test]
fn golden_hashes() {
    let golden = [
        (
            sample::Status::TYPE_HASH,
            "c009db376b25071ab1041964712b8cb93bc36108e499c122d4ab0f5e3a626ea519c61f589c61132440110816b67f5225ecebf0740ae823315e29cba7f5d5650e",
        ),
        (
            sample::Point::TYPE_HASH,
            "f0e229b1a90bd1be5702291361b27eea131b89bc88418828a9a17456dbf088102db5074e74c877eef590a06e357245e0e6f8b8e882141abf87e579b56d4d11cc",
        ),
        (
            sample::List::TYPE_HASH,
            "44bd754d43318b0658ca98a5c37e1bd757ed0e68ec69f4a3a1e426bc6f30becf11aa8c5b36bfea8c5b5d9fe0a783bbc206ecf9827130679f309e8a5b6a135bc4",
        ),
        (
            sample::Tree::TYPE_HASH,
            "525a125d20c930aa883618fb74147b80ec15a18bce25c5958024f8fc9281bdbc774aa3d18368439eff6a63f6db3ee8b3c3f6e88599a502f94933977f7d18b7d2",
        ),
        (
            sample::Counter::TYPE_HASH,
            "d60c6f61070f53e2df4e9787a25854906aa3b71f966f453306a812adea1170fabe6bb7572161494964d9a701a2a062cee3defe0ca11c8d52191baba1d60c5d4f",
        ),
    ];
    for (hash, expected) in golden {
        assert_eq!(hash.to_hex(), expected);
    }
}

/// The documented canonical encoding, rebuilt byte by byte, hashes to the same value.
#[test]
fn canonical_encoding_matches_the_documentation() {
    // `Status uint32`: tag 7, the name, nothing else.
    let mut status = DOMAIN.to_vec();
    status.push(0x01);
    status.push(7);
    text(&mut status, "Status");
    assert_eq!(sha512(&status), sample::Status::TYPE_HASH);

    // An anonymous `int32`: tag 3 and an empty name.
    let mut int32 = DOMAIN.to_vec();
    int32.extend_from_slice(&[0x01, 3, 0, 0, 0, 0]);
    let int32 = sha512(&int32);

    // `Point struct { X int32; Y int32 }`: tag 18, name, count, field names, then
    // each field's type by hash (the Merkle case).
    let mut point = DOMAIN.to_vec();
    point.push(0x01);
    point.push(18);
    text(&mut point, "Point");
    point.extend_from_slice(&2u32.to_le_bytes());
    text(&mut point, "X");
    text(&mut point, "Y");
    for _ in 0..2 {
        point.push(0x00);
        point.extend_from_slice(&int32.0);
    }
    assert_eq!(sha512(&point), sample::Point::TYPE_HASH);

    // `List struct { Value int32; Next *List }`: the cycle List → *List → List is
    // unfolded once, and the way back is back-reference 0.
    let mut list = DOMAIN.to_vec();
    list.push(0x01);
    list.push(18);
    text(&mut list, "List");
    list.extend_from_slice(&2u32.to_le_bytes());
    text(&mut list, "Value");
    text(&mut list, "Next");
    list.push(0x00);
    list.extend_from_slice(&int32.0);
    list.push(0x01);
    list.push(16);
    text(&mut list, "");
    list.push(0x02);
    list.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(sha512(&list), sample::List::TYPE_HASH);

    let graph = sample::type_graph().expect("sample graph is valid");
    let node = graph.find(&sample::List::TYPE_HASH).expect("List in graph");
    assert_eq!(canonical_encoding(&graph, node), Some(list));
}

#[test]
fn generated_constants_equal_graph_hashes() {
    let graph = sample::type_graph().expect("sample graph is valid");
    let schema = parse("sample.etn", include_str!("sample.etn")).expect("sample parses");
    for declaration in &schema.declarations {
        let parsed = schema.graph.hash(declaration.node).expect("hash");
        let generated = graph.node(declaration.node).expect("same node order");
        assert_eq!(generated.name, declaration.name);
        assert_eq!(graph.hash(declaration.node), Some(parsed));
    }
    let point = graph.find_by_name("Point").expect("Point declared");
    assert_eq!(graph.hash(point), Some(&sample::Point::TYPE_HASH));
}

#[test]
fn same_type_same_hash_wherever_declared() {
    let first = hash_of("Point struct { X int32; Y int32 }", "Point");
    let second = hash_of(
        "// comment\nOther string\nPoint struct {\n  X int32\n  Y int32\n}\nMore []Point",
        "Point",
    );
    assert_eq!(first, second);
    assert_eq!(first, sample::Point::TYPE_HASH);
}

#[test]
fn every_change_changes_the_hash() {
    let base = "P struct { X int32; Y int32 }";
    let variants = [
        "Q struct { X int32; Y int32 }",      // type name
        "P struct { X int32; Z int32 }",      // field name
        "P struct { Y int32; X int32 }",      // field order
        "P struct { X int32; Y int64 }",      // field type
        "P struct { X int32; Y uint32 }",     // signedness
        "P struct { X int32 }",               // field count
        "P union { X int32; Y int32 }",       // kind
        "P struct { X int32; Y [1]int32 }",   // array
        "P struct { X int32; Y []int32 }",    // tuple
        "P struct { X int32; Y *int32 }",     // optional
        "P struct { X int32; Y N }\nN int32", // named child
    ];
    let base_hash = hash_of(base, "P");
    let mut seen = vec![base_hash];
    for variant in variants {
        let hash = hash_of(variant, if variant.starts_with('Q') { "Q" } else { "P" });
        assert!(!seen.contains(&hash), "{variant} collides");
        seen.push(hash);
    }
    // A change deep inside a named child changes the parent, recursive or not.
    let outer = hash_of("O struct { I I }\nI struct { A int8 }", "O");
    let changed = hash_of("O struct { I I }\nI struct { A int16 }", "O");
    assert_ne!(outer, changed);
    let cyclic = hash_of("A struct { B *B }\nB struct { A *A; X int8 }", "A");
    let cyclic_changed = hash_of("A struct { B *B }\nB struct { A *A; X uint8 }", "A");
    assert_ne!(cyclic, cyclic_changed);
    // Two members of one cycle have different hashes.
    assert_ne!(
        cyclic,
        hash_of("A struct { B *B }\nB struct { A *A; X int8 }", "B")
    );
    // Array lengths count.
    assert_ne!(hash_of("K [32]byte", "K"), hash_of("K [64]byte", "K"));
    // `byte` is `uint8`.
    assert_eq!(hash_of("K [32]byte", "K"), hash_of("K [32]uint8", "K"));
}
