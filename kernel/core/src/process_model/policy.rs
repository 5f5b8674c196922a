//! Authorization decisions: the policy maps a label to the rights it grants to
//! (user or group, program or any program) pairs.
//!
//! Rights only add up: a pair's rights on a label are the union of every grant that
//! names the label, the user or one of its groups, and the program or any program.
//! There is no deny rule, no superuser and no grant by user alone that cannot be
//! narrowed to a program. This module decides; it must never change any state.
//!
//! Grants name hosts too. A grant without a host covers this host's processes
//! only; a grant naming another host (or every host) covers connections between
//! this host and that one, and nothing local. A client's kernel asks for a grant
//! naming the host it connects to, for its user and program; a server's kernel asks
//! for one naming the host the connection comes from, for the user the tunnel
//! authenticated. The server's kernel cannot learn which program the remote user
//! runs (MinimaLT carries the user, not the program), so there only grants for any
//! program count: the program is the client's kernel's to check.

use alloc::vec::Vec;

use ethos_abi::LabelRights;

use super::identity::{GroupName, Label, ProgramId, User, UserName};
use crate::hosts::HostName;

/// Whom a grant names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// One user.
    User(UserName),
    /// Every member of a group.
    Group(GroupName),
}

/// Which programs a grant covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramMatch {
    /// Only the program with this identity.
    Program(ProgramId),
    /// Any program running for the principal.
    Any,
}

/// Which hosts a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// This host's own processes.
    Local,
    /// Connections between this host and the host of this name.
    Host(HostName),
    /// Connections between this host and any other.
    Any,
}

impl HostMatch {
    /// Whether the grant covers a connection with `host` (`None`: a local one).
    fn covers(&self, host: Option<&str>) -> bool {
        match (self, host) {
            (HostMatch::Local, None) | (HostMatch::Any, Some(_)) => true,
            (HostMatch::Host(name), Some(host)) => name.as_str() == host,
            _ => false,
        }
    }
}

/// One rule of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The label the rule is about.
    pub label: Label,
    /// Whom it grants to.
    pub principal: Principal,
    /// For which programs.
    pub program: ProgramMatch,
    /// What it grants.
    pub rights: LabelRights,
    /// Between which hosts.
    pub host: HostMatch,
}

/// The whole policy, from the boot image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    grants: Vec<Grant>,
}

impl Policy {
    /// A policy made of `grants`.
    pub fn new(grants: Vec<Grant>) -> Policy {
        Policy { grants }
    }

    /// Every right the policy grants on `label` to `user` running `program` here.
    pub fn rights(&self, label: &Label, user: &User, program: &ProgramId) -> LabelRights {
        self.rights_with(label, user, Some(program), None)
    }

    /// Every right on `label` of the grants covering `user` across `host` (`None`:
    /// here) running `program` (`None`: a program this kernel cannot know, so only
    /// grants for any program count).
    fn rights_with(
        &self,
        label: &Label,
        user: &User,
        program: Option<&ProgramId>,
        host: Option<&str>,
    ) -> LabelRights {
        self.grants
            .iter()
            .filter(|grant| &grant.label == label && grant.host.covers(host))
            .filter(|grant| match &grant.principal {
                Principal::User(name) => name == &user.name,
                Principal::Group(group) => user.is_member_of(group),
            })
            .filter(|grant| match (grant.program, program) {
                (ProgramMatch::Program(identity), Some(program)) => &identity == program,
                (ProgramMatch::Program(_), None) => false,
                (ProgramMatch::Any, _) => true,
            })
            .fold(LabelRights::NONE, |rights, grant| rights | grant.rights)
    }

    /// Whether `user` running `program` holds every right of `needed` on `label`.
    pub fn allows(
        &self,
        label: &Label,
        user: &User,
        program: &ProgramId,
        needed: LabelRights,
    ) -> bool {
        self.rights(label, user, program).contains(needed)
    }

    /// Whether `user` running `program` here may do `needed` on `label` of a
    /// service on `host` (a client's kernel asks this before it connects).
    pub fn allows_to_host(
        &self,
        label: &Label,
        user: &User,
        program: &ProgramId,
        host: &str,
        needed: LabelRights,
    ) -> bool {
        self.rights_with(label, user, Some(program), Some(host))
            .contains(needed)
    }

    /// Whether `user`, authenticated on a connection from `host`, may do `needed` on
    /// `label` here (a server's kernel asks this of each incoming connection).
    pub fn allows_from_host(
        &self,
        label: &Label,
        user: &User,
        host: &str,
        needed: LabelRights,
    ) -> bool {
        self.rights_with(label, user, None, Some(host))
            .contains(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_model::identity::PublicKey;
    use alloc::vec;

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: UserName::new(name).unwrap(),
            public_key: PublicKey([0; 32]),
            groups: groups
                .iter()
                .map(|group| GroupName::new(group).unwrap())
                .collect(),
        }
    }

    #[test]
    fn grants_look_at_user_group_and_program() {
        let chat = ProgramId::of_executable(b"chat");
        let other = ProgramId::of_executable(b"other");
        let label = Label::new("chat").unwrap();
        let policy = Policy::new(vec![
            Grant {
                label: label.clone(),
                principal: Principal::User(UserName::new("alice").unwrap()),
                program: ProgramMatch::Program(chat),
                rights: LabelRights::ADVERTISE | LabelRights::IMPORT,
                host: HostMatch::Local,
            },
            Grant {
                label: label.clone(),
                principal: Principal::Group(GroupName::new("staff").unwrap()),
                program: ProgramMatch::Any,
                rights: LabelRights::IPC,
                host: HostMatch::Local,
            },
        ]);
        let alice = user("alice", &[]);
        let bob = user("bob", &["staff"]);
        let carol = user("carol", &["guests"]);
        assert!(policy.allows(&label, &alice, &chat, LabelRights::ADVERTISE));
        assert!(!policy.allows(&label, &alice, &other, LabelRights::ADVERTISE));
        assert!(!policy.allows(&label, &alice, &chat, LabelRights::IPC));
        assert!(policy.allows(&label, &bob, &other, LabelRights::IPC));
        assert!(!policy.allows(&label, &bob, &chat, LabelRights::IMPORT));
        assert_eq!(policy.rights(&label, &carol, &chat), LabelRights::NONE);
        let elsewhere = Label::new("mail").unwrap();
        assert_eq!(policy.rights(&elsewhere, &alice, &chat), LabelRights::NONE);
    }

    #[test]
    fn grants_name_the_hosts_they_cover() {
        let client = ProgramId::of_executable(b"client");
        let label = Label::new("across").unwrap();
        let grant = |principal: &str, program: ProgramMatch, host: HostMatch| Grant {
            label: label.clone(),
            principal: Principal::User(UserName::new(principal).unwrap()),
            program,
            rights: LabelRights::IPC,
            host,
        };
        let policy = Policy::new(vec![
            grant(
                "alice",
                ProgramMatch::Program(client),
                HostMatch::Host(HostName::new("beta").unwrap()),
            ),
            grant(
                "alice",
                ProgramMatch::Any,
                HostMatch::Host(HostName::new("alpha").unwrap()),
            ),
            grant("bob", ProgramMatch::Program(client), HostMatch::Any),
            grant("carol", ProgramMatch::Any, HostMatch::Local),
        ]);
        let (alice, bob, carol) = (user("alice", &[]), user("bob", &[]), user("carol", &[]));
        let ipc = LabelRights::IPC;
        // A client's kernel: the user, the program and the host connected to.
        assert!(policy.allows_to_host(&label, &alice, &client, "beta", ipc));
        assert!(!policy.allows_to_host(&label, &alice, &client, "gamma", ipc));
        let other = ProgramId::of_executable(b"other");
        assert!(!policy.allows_to_host(&label, &bob, &other, "beta", ipc));
        assert!(policy.allows_to_host(&label, &bob, &client, "gamma", ipc));
        // A server's kernel: the user and the host the connection comes from; a
        // grant for one program does not count, the program being unknown there.
        assert!(policy.allows_from_host(&label, &alice, "alpha", ipc));
        assert!(!policy.allows_from_host(&label, &alice, "gamma", ipc));
        assert!(!policy.allows_from_host(&label, &bob, "alpha", ipc));
        // Local grants stay local, remote ones remote.
        assert!(!policy.allows_from_host(&label, &carol, "alpha", ipc));
        assert!(policy.allows(&label, &carol, &client, ipc));
        assert!(!policy.allows(&label, &alice, &client, ipc));
    }
}
