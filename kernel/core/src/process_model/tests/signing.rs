//! `sign` and `authenticate`: a user whose key the host holds signs values, anyone
//! checks them against the user's public key, and nothing else verifies.

use alloc::vec::Vec;

use ethos_abi::arguments::results::SIGNED_BYTES;
use ethos_abi::arguments::{EVENT_KERNEL_BYTES, VALUE_SIGNATURE_CONTEXT};
use ethos_abi::{ProcessId, Status};
use ethos_crypto::SecretKey;

use super::super::events::Outcome;
use super::super::identity::PublicKey;
use super::{model, model_with_limit, program, user};
use crate::hosts::UserKeys;
use crate::process_model::ProcessModel;

const RANDOM: [u8; 64] = [7; 64];

/// The model with alice's and bob's keys held; carol's is not.
fn with_keys(mut model: ProcessModel) -> ProcessModel {
    let mut keys = UserKeys::default();
    for (name, secret) in [("alice", 1), ("bob", 2)] {
        let key = SecretKey::from_bytes([secret; 32]);
        let public = PublicKey(key.public_key().0);
        assert!(keys.insert(user(name), &public, key));
    }
    model.install_user_keys(keys);
    model
}

fn public_of(secret: u8) -> [u8; 32] {
    SecretKey::from_bytes([secret; 32]).public_key().0
}

/// The signature and public key `sign` completed its event with.
fn signed(model: &mut ProcessModel, process: ProcessId, value: &[u8]) -> ([u8; 64], [u8; 32]) {
    let event = model.sign(process, value, &RANDOM).unwrap();
    completed_signature(model, process, event)
}

/// The signature and public key a completed `sign` or `signFile` event holds.
pub(super) fn completed_signature(
    model: &mut ProcessModel,
    process: ProcessId,
    event: ethos_abi::EventId,
) -> ([u8; 64], [u8; 32]) {
    let Ok(Outcome::Value(bytes)) = model.retire(process, event) else {
        panic!("the signing completed with no value");
    };
    assert_eq!(bytes.len(), SIGNED_BYTES);
    let mut signature = [0; 64];
    signature.copy_from_slice(&bytes[..64]);
    let mut public_key = [0; 32];
    public_key.copy_from_slice(&bytes[64..]);
    (signature, public_key)
}

#[test]
fn a_signed_value_authenticates_under_its_signer() {
    let mut model = with_keys(model());
    let alice = model
        .create_process(&user("alice"), &program("client"))
        .unwrap();
    let carol = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    let (signature, public_key) = signed(&mut model, alice, b"a value");
    assert_eq!(public_key, public_of(1), "sign answers the signer's key");
    // Anyone checks it, even a user who cannot sign.
    for checker in [alice, carol] {
        assert_eq!(
            model.authenticate(checker, &public_key, b"a value", &signature),
            Ok(())
        );
    }
}

#[test]
fn another_user_a_tampered_value_or_signature_is_refused() {
    let mut model = with_keys(model());
    let alice = model
        .create_process(&user("alice"), &program("client"))
        .unwrap();
    let bob = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let (signature, alice_key) = signed(&mut model, alice, b"pay bob 10");
    let refused = Err(Status::InvalidAuthentication);
    assert_eq!(
        model.authenticate(bob, &public_of(2), b"pay bob 10", &signature),
        refused
    );
    assert_eq!(
        model.authenticate(bob, &alice_key, b"pay bob 11", &signature),
        refused
    );
    let mut tampered = signature;
    tampered[10] ^= 1;
    assert_eq!(
        model.authenticate(bob, &alice_key, b"pay bob 10", &tampered),
        refused
    );
    // Bob's own signature over the same value is bob's, not alice's.
    let (bobs, bob_key) = signed(&mut model, bob, b"pay bob 10");
    assert_eq!(bob_key, public_of(2));
    assert_eq!(
        model.authenticate(alice, &alice_key, b"pay bob 10", &bobs),
        refused
    );
}

#[test]
fn the_signature_binds_the_context_and_the_signer() {
    // Made with alice's key over the bare value, or over the context with another
    // key in place of hers, it is not a value signature of alice's.
    let mut model = with_keys(model());
    let bob = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let alice_key = SecretKey::from_bytes([1; 32]);
    let bare = alice_key.sign(b"value", &RANDOM);
    let other_signer =
        alice_key.sign_parts(&[VALUE_SIGNATURE_CONTEXT, &public_of(2), b"value"], &RANDOM);
    let bound = alice_key.sign_parts(&[VALUE_SIGNATURE_CONTEXT, &public_of(1), b"value"], &RANDOM);
    for wrong in [bare, other_signer] {
        assert_eq!(
            model.authenticate(bob, &public_of(1), b"value", &wrong.0),
            Err(Status::InvalidAuthentication)
        );
    }
    assert_eq!(
        model.authenticate(bob, &public_of(1), b"value", &bound.0),
        Ok(())
    );
}

#[test]
fn a_user_whose_key_the_host_does_not_hold_cannot_sign() {
    let mut model = with_keys(model());
    let carol = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    assert_eq!(
        model.sign(carol, b"value", &RANDOM),
        Err(Status::NotAuthorized)
    );
    let mut keyless = super::model();
    let alice = keyless
        .create_process(&user("alice"), &program("client"))
        .unwrap();
    assert_eq!(
        keyless.sign(alice, b"value", &RANDOM),
        Err(Status::NotAuthorized)
    );
    assert_eq!(keyless.event_count(alice), Ok(0));
}

#[test]
fn bounds_are_checked() {
    // A public key no user could have is an argument out of range; the result is
    // charged to the signer's kernel memory; a process that is gone is no caller.
    let mut model = with_keys(model_with_limit(
        ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY,
    ));
    let alice = model
        .create_process(&user("alice"), &program("client"))
        .unwrap();
    assert_eq!(
        model.authenticate(alice, &[0; 32], b"value", &[0; 64]),
        Err(Status::InvalidArgument)
    );
    let mut held = Vec::new();
    let most =
        ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY / (EVENT_KERNEL_BYTES + SIGNED_BYTES);
    for _ in 0..most {
        held.push(model.sign(alice, b"value", &RANDOM).unwrap());
    }
    assert_eq!(
        model.sign(alice, b"value", &RANDOM),
        Err(Status::LimitReached)
    );
    model.retire(alice, held[0]).unwrap();
    assert!(model.sign(alice, b"value", &RANDOM).is_ok());
    model.end_process(alice).unwrap();
    assert_eq!(
        model.sign(alice, b"value", &RANDOM),
        Err(Status::NoSuchObject)
    );
    assert_eq!(
        model.authenticate(alice, &public_of(1), b"value", &[0; 64]),
        Err(Status::NoSuchObject)
    );
}
