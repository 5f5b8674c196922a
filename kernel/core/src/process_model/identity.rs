//! Who and what: users (name, public key, groups), programs (identified by the SHA-512
//! of their executable), and the names and labels of services.
//!
//! Every name is checked once, when it is built: non-empty, at most
//! [`MAXIMUM_NAME_LENGTH`] bytes, and free of `/` and control characters. Nothing here
//! decides an access; that is [`super::policy`]'s job.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::arguments::MAXIMUM_NAME_LENGTH;
use sha2::{Digest, Sha512};

/// Why a name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name has no bytes.
    Empty,
    /// The name is longer than [`MAXIMUM_NAME_LENGTH`].
    TooLong,
    /// The name holds `/` or a control character.
    ForbiddenCharacter,
}

impl fmt::Display for NameError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            NameError::Empty => "name is empty",
            NameError::TooLong => "name is longer than 255 bytes",
            NameError::ForbiddenCharacter => "name holds '/' or a control character",
        })
    }
}

/// Whether `text` is a valid name of any kind: non-empty, at most
/// [`MAXIMUM_NAME_LENGTH`] bytes, free of `/` and control characters.
pub fn check_name(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if text.len() as u64 > MAXIMUM_NAME_LENGTH {
        return Err(NameError::TooLong);
    }
    if text
        .chars()
        .any(|character| character == '/' || character.is_control())
    {
        return Err(NameError::ForbiddenCharacter);
    }
    Ok(())
}

macro_rules! checked_name {
    ($(#[$documentation:meta])* $name:ident) => {
        $(#[$documentation])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The name, if `text` is a valid one.
            pub fn new(text: &str) -> Result<$name, NameError> {
                check_name(text)?;
                Ok($name(String::from(text)))
            }

            /// The name's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

checked_name!(
    /// The name of a user.
    UserName
);
checked_name!(
    /// The name of a group of users.
    GroupName
);
checked_name!(
    /// The name of a program, as found in `/programs`.
    ProgramName
);
checked_name!(
    /// The name of a local service, as found in `/services`.
    ServiceName
);
checked_name!(
    /// An authorization label on a service, directory or program.
    Label
);

/// A user's Curve25519 public key: the user's identity on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// A user record, from the boot image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's name.
    pub name: UserName,
    /// The user's public key.
    pub public_key: PublicKey,
    /// The groups the user belongs to.
    pub groups: Vec<GroupName>,
}

impl User {
    /// Whether the user belongs to `group`.
    pub fn is_member_of(&self, group: &GroupName) -> bool {
        self.groups.iter().any(|member_of| member_of == group)
    }
}

/// A program's identity: the SHA-512 of its executable. Two programs with the same
/// bytes are the same program, whatever their names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgramId(pub [u8; 64]);

impl ProgramId {
    /// The identity of the program whose executable is `executable`.
    pub fn of_executable(executable: &[u8]) -> ProgramId {
        let digest = Sha512::digest(executable);
        let mut bytes = [0; 64];
        bytes.copy_from_slice(&digest);
        ProgramId(bytes)
    }
}

impl fmt::Debug for ProgramId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ProgramId(")?;
        for byte in &self.0[..8] {
            write!(formatter, "{byte:02x}")?;
        }
        formatter.write_str("…)")
    }
}

/// A program the kernel knows, from the boot image's `/programs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Its name in `/programs`.
    pub name: ProgramName,
    /// The hash of its executable.
    pub identity: ProgramId,
    /// The label of its file: what `fdReceive` for its virtual processes is checked on.
    pub label: Label,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(UserName::new("alice").is_ok());
        assert_eq!(UserName::new(""), Err(NameError::Empty));
        assert_eq!(ServiceName::new("a/b"), Err(NameError::ForbiddenCharacter));
        assert_eq!(Label::new("tab\there"), Err(NameError::ForbiddenCharacter));
        let longest = "x".repeat(255);
        assert!(ProgramName::new(&longest).is_ok());
        assert_eq!(ProgramName::new(&"x".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn program_identity_is_the_sha512_of_the_executable() {
        // SHA-512 of the empty string begins cf83e135.
        let empty = ProgramId::of_executable(b"");
        assert_eq!(&empty.0[..4], &[0xcf, 0x83, 0xe1, 0x35]);
        assert_ne!(empty, ProgramId::of_executable(b"\0"));
    }

    #[test]
    fn group_membership() {
        let user = User {
            name: UserName::new("alice").unwrap(),
            public_key: PublicKey([7; 32]),
            groups: alloc::vec![GroupName::new("staff").unwrap()],
        };
        assert!(user.is_member_of(&GroupName::new("staff").unwrap()));
        assert!(!user.is_member_of(&GroupName::new("wheel").unwrap()));
    }
}
