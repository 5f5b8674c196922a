//! Per-process descriptor tables: each slot holds a capability, an (object, rights)
//! pair. A program names objects only through these numbers.
//!
//! The table hands out the lowest free number at or above
//! [`reserved::FIRST_FREE`]; the reserved numbers (root, current, environment and
//! argument directories) are only ever filled when a process is set up. A copy never
//! has more rights than its original. The table must never decide anything about the
//! objects themselves (their lifetimes are counted by the process model).

use alloc::vec::Vec;

use ethos_abi::arguments::{DESCRIPTOR_TABLE_SIZE, reserved};
use ethos_abi::{DescriptorNumber, DescriptorRights, Status};

/// Identifies one local connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// Identifies one advertisement of a service (a new `advertise` after the old listening
/// descriptors are all closed is a new one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListenerId(pub u64);

/// Which end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The end `ipc` returned.
    Client,
    /// The end `import` returned.
    Server,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A kernel object a descriptor can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    /// An advertised service, from which `import` takes connections.
    Listener(ListenerId),
    /// One end of a connection.
    Connection(ConnectionId, Side),
    /// A directory of the typed file system. The store is the directory's owner:
    /// a descriptor holds no count, and one naming a removed directory finds
    /// nothing.
    Directory(ethos_fs::DirectoryId),
}

/// An object together with the rights its holder has on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// What it names.
    pub object: Object,
    /// What it allows.
    pub rights: DescriptorRights,
}

/// One process's descriptors.
#[derive(Clone, Debug)]
pub struct DescriptorTable {
    slots: Vec<Option<Capability>>,
    used: usize,
}

impl Default for DescriptorTable {
    fn default() -> Self {
        Self::new()
    }
}

impl DescriptorTable {
    /// An empty table.
    pub fn new() -> DescriptorTable {
        DescriptorTable {
            slots: alloc::vec![None; DESCRIPTOR_TABLE_SIZE as usize],
            used: 0,
        }
    }

    /// How many descriptors are open.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Puts `capability` in the lowest free slot that is not reserved.
    pub fn install(&mut self, capability: Capability) -> Result<DescriptorNumber, Status> {
        let first = reserved::FIRST_FREE as usize;
        let index = self.slots[first..]
            .iter()
            .position(Option::is_none)
            .map(|offset| first + offset)
            .ok_or(Status::LimitReached)?;
        self.slots[index] = Some(capability);
        self.used += 1;
        DescriptorNumber::new(index as u64).map_err(|_| Status::LimitReached)
    }

    /// Puts `capability` at the reserved `number` (below
    /// [`reserved::FIRST_FREE`]), when a process is set up.
    pub fn install_reserved(&mut self, number: u32, capability: Capability) {
        debug_assert!(number < reserved::FIRST_FREE);
        if let Some(slot) = self.slots.get_mut(number as usize)
            && slot.replace(capability).is_none()
        {
            self.used += 1;
        }
    }

    /// The capability behind `number`.
    pub fn get(&self, number: DescriptorNumber) -> Result<Capability, Status> {
        self.slots
            .get(number.index())
            .copied()
            .flatten()
            .ok_or(Status::NoSuchObject)
    }

    /// The capability behind `number` if it carries every right of `needed`.
    pub fn require(
        &self,
        number: DescriptorNumber,
        needed: DescriptorRights,
    ) -> Result<Capability, Status> {
        let capability = self.get(number)?;
        if capability.rights.contains(needed) {
            Ok(capability)
        } else {
            Err(Status::NotAuthorized)
        }
    }

    /// Empties slot `number` and returns what it held (`close`).
    pub fn remove(&mut self, number: DescriptorNumber) -> Result<Capability, Status> {
        let capability = self
            .slots
            .get_mut(number.index())
            .and_then(Option::take)
            .ok_or(Status::NoSuchObject)?;
        self.used -= 1;
        Ok(capability)
    }

    /// Installs a copy of `number` carrying only `rights` (`copyFd`). The original must
    /// allow copying and hold every right asked for.
    pub fn copy(
        &mut self,
        number: DescriptorNumber,
        rights: DescriptorRights,
    ) -> Result<(DescriptorNumber, Capability), Status> {
        let original = self.require(number, DescriptorRights::COPY)?;
        if !original.rights.contains(rights) {
            return Err(Status::NotAuthorized);
        }
        let copy = Capability {
            object: original.object,
            rights,
        };
        Ok((self.install(copy)?, copy))
    }

    /// Every open descriptor, lowest number first.
    pub fn iter(&self) -> impl Iterator<Item = (DescriptorNumber, Capability)> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let number = DescriptorNumber::new(index as u64).ok()?;
            slot.map(|capability| (number, capability))
        })
    }

    /// Empties the table, returning everything it held (a process ending).
    pub fn drain(&mut self) -> Vec<Capability> {
        self.used = 0;
        self.slots.iter_mut().filter_map(Option::take).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    fn connection(number: u64) -> Capability {
        Capability {
            object: Object::Connection(ConnectionId(number), Side::Client),
            rights: DescriptorRights::ALL,
        }
    }

    fn number(value: u64) -> DescriptorNumber {
        DescriptorNumber::new(value).unwrap()
    }

    #[test]
    fn numbers_start_after_the_reserved_ones_and_are_reused_lowest_first() {
        let mut table = DescriptorTable::new();
        let first = table.install(connection(1)).unwrap();
        let second = table.install(connection(2)).unwrap();
        assert_eq!((first.get(), second.get()), (5, 6));
        assert_eq!(table.remove(first), Ok(connection(1)));
        assert_eq!(table.remove(first), Err(Status::NoSuchObject));
        assert_eq!(table.install(connection(3)).unwrap(), first);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn a_full_table_refuses_more() {
        let mut table = DescriptorTable::new();
        let free = DESCRIPTOR_TABLE_SIZE - reserved::FIRST_FREE;
        for index in 0..free {
            table.install(connection(u64::from(index))).unwrap();
        }
        assert_eq!(table.install(connection(0)), Err(Status::LimitReached));
    }

    #[test]
    fn copies_never_gain_rights() {
        let mut table = DescriptorTable::new();
        let read_copy = DescriptorRights::READ | DescriptorRights::COPY;
        let original = table
            .install(Capability {
                object: Object::Listener(ListenerId(9)),
                rights: read_copy,
            })
            .unwrap();
        let (copy, _) = table.copy(original, DescriptorRights::READ).unwrap();
        assert_eq!(table.get(copy).unwrap().rights, DescriptorRights::READ);
        assert_eq!(
            table.copy(original, DescriptorRights::WRITE),
            Err(Status::NotAuthorized)
        );
        // The copy lacks COPY, so it cannot be copied at all.
        assert_eq!(
            table.copy(copy, DescriptorRights::READ),
            Err(Status::NotAuthorized)
        );
        assert_eq!(
            table.copy(number(700), DescriptorRights::NONE),
            Err(Status::NoSuchObject)
        );
    }

    #[derive(Clone, Debug)]
    enum Operation {
        Install(u8),
        Remove(u16),
        Copy(u16, u32),
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            any::<u8>().prop_map(Operation::Install),
            (0..1024u16).prop_map(Operation::Remove),
            ((0..1024u16), (0..32u32)).prop_map(|(slot, rights)| Operation::Copy(slot, rights)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The table behaves like a map from number to capability that hands out the
        /// lowest free unreserved number and never amplifies rights.
        #[test]
        fn behaves_like_the_model(operations in proptest::collection::vec(operation(), 1..200)) {
            let mut table = DescriptorTable::new();
            let mut model: BTreeMap<u32, Capability> = BTreeMap::new();
            let lowest_free = |model: &BTreeMap<u32, Capability>| {
                (reserved::FIRST_FREE..DESCRIPTOR_TABLE_SIZE).find(|slot| !model.contains_key(slot))
            };
            for operation in operations {
                match operation {
                    Operation::Install(rights) => {
                        let capability = Capability {
                            object: Object::Listener(ListenerId(u64::from(rights))),
                            rights: DescriptorRights::from_bits(u64::from(rights & 0b1_1111)).unwrap(),
                        };
                        let expected = lowest_free(&model);
                        let got = table.install(capability).unwrap();
                        prop_assert_eq!(Some(got.get()), expected);
                        model.insert(got.get(), capability);
                    }
                    Operation::Remove(slot) => {
                        let got = table.remove(number(u64::from(slot)));
                        prop_assert_eq!(got.ok(), model.remove(&u32::from(slot)));
                    }
                    Operation::Copy(slot, rights) => {
                        let rights = DescriptorRights::from_bits(u64::from(rights)).unwrap();
                        let expected_number = lowest_free(&model);
                        match table.copy(number(u64::from(slot)), rights) {
                            Ok((copy, capability)) => {
                                let original = model.get(&u32::from(slot)).copied();
                                prop_assert!(original.is_some());
                                let original = original.unwrap();
                                prop_assert!(original.rights.contains(rights | DescriptorRights::COPY));
                                prop_assert_eq!(Some(copy.get()), expected_number);
                                prop_assert_eq!(capability.object, original.object);
                                model.insert(copy.get(), capability);
                            }
                            Err(status) => {
                                let expected = match model.get(&u32::from(slot)) {
                                    None => Status::NoSuchObject,
                                    Some(_) => Status::NotAuthorized,
                                };
                                prop_assert_eq!(status, expected);
                            }
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            let held: Vec<(u32, Capability)> = table.iter().map(|(number, capability)| (number.get(), capability)).collect();
            let modelled: Vec<(u32, Capability)> = model.into_iter().collect();
            prop_assert_eq!(held, modelled);
        }
    }
}
