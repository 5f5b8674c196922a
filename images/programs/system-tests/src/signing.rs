//! `sign-check`: `sign` and `authenticate` from a program. It signs a value with its
//! user's kernel-held key and checks the signature under the public key `sign`
//! answered; then that a tampered value, a tampered signature and another user's key
//! are each refused with `InvalidAuthentication`, and prints
//! `sign-check: every check passed`.
//!
//! On a kernel that holds no key for its user (the default image holds none) `sign`
//! must be refused with `NotAuthorized`: it prints `sign-check: sign refused:
//! NotAuthorized`, checks that a signature nobody made is refused all the same, and
//! exits 3.
//!
//! Exit status: 0 every check passed; 1 a check failed (the line says which); 2 a
//! call failed with a status no check expects; 3 the kernel holds no key for the user.

use ethos_abi::Status;
use ethos_compat::{authenticate, println, sign_blocking};

const NAME: &str = "sign-check";

/// The value signed: any bytes will do.
const VALUE: &[u8] = b"a value signed by its user's kernel-held key";

/// Another user's public key: the X25519 base point (u = 9), a key of large order
/// whose private key no user of the image holds.
const ANOTHER_KEY: [u8; 32] = {
    let mut key = [0; 32];
    key[0] = 9;
    key
};

/// Exit statuses.
pub mod status {
    /// A check failed.
    pub const CHECK: i32 = 1;
    /// A call failed with a status no check expects.
    pub const CALL: i32 = 2;
    /// The kernel holds no key for the user.
    pub const NO_KEY: i32 = 3;
}

/// Whether `authenticate` refused as it must; prints the line either way.
fn refused(what: &str, answer: Result<(), Status>) -> bool {
    match answer {
        Err(Status::InvalidAuthentication) => {
            println!("{NAME}: {what} refused: InvalidAuthentication");
            true
        }
        Ok(()) => {
            println!("{NAME}: {what} was accepted");
            false
        }
        Err(status) => {
            println!("{NAME}: {what} answered {status:?}, not InvalidAuthentication");
            false
        }
    }
}

/// `sign-check`.
pub fn check() -> i32 {
    let signed = match sign_blocking(VALUE) {
        Ok(signed) => signed,
        Err(Status::NotAuthorized) => {
            println!("{NAME}: sign refused: NotAuthorized");
            let forged = authenticate(&ANOTHER_KEY, VALUE, &[0x5a; 64]);
            if !refused("a signature nobody made", forged) {
                return status::CHECK;
            }
            return status::NO_KEY;
        }
        Err(status) => {
            println!("{NAME}: sign failed: {status:?}");
            return status::CALL;
        }
    };
    match authenticate(&signed.public_key, VALUE, &signed.signature) {
        Ok(()) => println!(
            "{NAME}: signed {} bytes, verified under the signer's key",
            VALUE.len()
        ),
        Err(status) => {
            println!("{NAME}: its own signature was refused: {status:?}");
            return status::CHECK;
        }
    }
    let mut tampered_value = [0u8; VALUE.len()];
    tampered_value.copy_from_slice(VALUE);
    tampered_value[0] ^= 1;
    let mut tampered_signature = signed.signature;
    tampered_signature[40] ^= 0x10;
    let checks = [
        refused(
            "a tampered value",
            authenticate(&signed.public_key, &tampered_value, &signed.signature),
        ),
        refused(
            "a tampered signature",
            authenticate(&signed.public_key, VALUE, &tampered_signature),
        ),
        refused(
            "another user's key",
            authenticate(&ANOTHER_KEY, VALUE, &signed.signature),
        ),
    ];
    if checks.contains(&false) {
        return status::CHECK;
    }
    println!("{NAME}: every check passed");
    0
}
