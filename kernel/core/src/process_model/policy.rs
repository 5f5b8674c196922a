//! Authorization decisions: the policy maps a label to the rights it grants to
//! (user or group, program or any program) pairs.
//!
//! Rights only add up: a pair's rights on a label are the union of every grant that
//! names the label, the user or one of its groups, and the program or any program.
//! There is no deny rule, no superuser and no grant by user alone that cannot be
//! narrowed to a program. This module decides; it must never change any state.

use alloc::vec::Vec;

use ethos_abi::LabelRights;

use super::identity::{GroupName, Label, ProgramId, User, UserName};

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

    /// Every right the policy grants on `label` to `user` running `program`.
    pub fn rights(&self, label: &Label, user: &User, program: &ProgramId) -> LabelRights {
        self.grants
            .iter()
            .filter(|grant| &grant.label == label)
            .filter(|grant| match &grant.principal {
                Principal::User(name) => name == &user.name,
                Principal::Group(group) => user.is_member_of(group),
            })
            .filter(|grant| match grant.program {
                ProgramMatch::Program(identity) => &identity == program,
                ProgramMatch::Any => true,
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
            },
            Grant {
                label: label.clone(),
                principal: Principal::Group(GroupName::new("staff").unwrap()),
                program: ProgramMatch::Any,
                rights: LabelRights::IPC,
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
}
