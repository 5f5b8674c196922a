//! `sign` and `authenticate`: signatures over values with the keys the kernel holds
//! for the users who work on this host.
//!
//! A program never sees a private key: `sign` signs with the key of the calling
//! process's user, and answers the signature with that user's public key, which is
//! the user's identity. `authenticate` checks a signature against a public key, which
//! needs no key the kernel holds, so it answers for any user, local or remote.
//!
//! Every signature is over [`VALUE_SIGNATURE_CONTEXT`], the signer's public key and
//! the value, in that order: a value signature cannot be replayed as a signature over
//! anything the kernel will sign for other purposes, nor moved to another signer.
//!
//! This module must never return, copy or log a private key, and never signs for a
//! user other than the caller's.

use alloc::vec::Vec;

use ethos_abi::arguments::results::SIGNED_BYTES;
use ethos_abi::arguments::{EVENT_KERNEL_BYTES, VALUE_SIGNATURE_CONTEXT};
use ethos_abi::{EventId, ProcessId, Status};
use ethos_crypto::{PublicKeyBytes, SIGNATURE_RANDOM_LENGTH, Signature, SignatureError};

use super::model::ProcessModel;

impl ProcessModel {
    /// `sign`: an event completed with the signature of `value` by the key of
    /// `process`'s user, then that user's public key. `random` is fresh randomness
    /// for the signature's nonce. `NotAuthorized` when this host holds no key for
    /// the user; `LimitReached` when the process may not hold the result.
    pub fn sign(
        &mut self,
        process: ProcessId,
        value: &[u8],
        random: &[u8; SIGNATURE_RANDOM_LENGTH],
    ) -> Result<EventId, Status> {
        let user = self.user_of(process)?;
        let key = self.user_key(user).ok_or(Status::NotAuthorized)?;
        self.ensure_room_for(process, EVENT_KERNEL_BYTES + SIGNED_BYTES)?;
        let public_key = key.public_key();
        let signature = key.sign_parts(&[VALUE_SIGNATURE_CONTEXT, &public_key.0, value], random);
        let mut result = Vec::new();
        result
            .try_reserve_exact(SIGNED_BYTES)
            .map_err(|_| Status::NoMemory)?;
        result.extend_from_slice(&signature.0);
        result.extend_from_slice(&public_key.0);
        self.completed_value(process, result)
    }

    /// `authenticate`: whether `signature` is the signature of `value` by the user
    /// whose public key is `public_key`, as [`ProcessModel::sign`] makes it.
    /// `InvalidAuthentication` when it is not; `InvalidArgument` when the key is not
    /// one any user could have.
    pub fn authenticate(
        &self,
        process: ProcessId,
        public_key: &[u8; 32],
        value: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), Status> {
        self.user_of(process)?;
        PublicKeyBytes(*public_key)
            .verify_parts(
                &[VALUE_SIGNATURE_CONTEXT, public_key, value],
                &Signature(*signature),
            )
            .map_err(|error| match error {
                SignatureError::UnusablePublicKey => Status::InvalidArgument,
                SignatureError::Invalid => Status::InvalidAuthentication,
            })
    }
}
