//! The native store against the memory store (the model): random calls, reads and
//! remounts; every answer and, at the end, every byte must agree.

use alloc::vec::Vec;

use proptest::prelude::*;

use crate::memory::MemoryStore;
use crate::native;
use crate::{DirectoryId, Store};

use super::{Operation, apply, formatted, name, root_record, snapshot};

#[derive(Clone, Debug)]
enum Step {
    Call {
        kind: u8,
        directory: usize,
        name: usize,
        length: usize,
        fill: u8,
    },
    Inspect {
        directory: usize,
        name: usize,
    },
    Remount,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..6, any::<usize>(), 0usize..5, 0usize..2000, any::<u8>()).prop_map(
            |(kind, directory, name, length, fill)| Step::Call {
                kind,
                directory,
                name,
                length,
                fill,
            }
        ),
        3 => (any::<usize>(), 0usize..5)
            .prop_map(|(directory, name)| Step::Inspect { directory, name }),
        1 => Just(Step::Remount),
    ]
}

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_native_store_answers_as_the_model(steps in proptest::collection::vec(step(), 1..60)) {
        let mut store = formatted(1024);
        let mut model = MemoryStore::new(root_record());
        let mut directories = Vec::from([DirectoryId::ROOT]);
        for (index, step) in steps.into_iter().enumerate() {
            let now = 10 + index as u64;
            match step {
                Step::Call { kind, directory, name: which, length, fill } => {
                    let directory = directories[directory % directories.len()];
                    let name = name(NAMES[which]);
                    let operation = match kind {
                        0..=2 => Operation::Write {
                            directory,
                            name,
                            value: (0..length).map(|at| fill.wrapping_add((at as u8).wrapping_mul(31))).collect(),
                        },
                        3 => Operation::CreateDirectory {
                            directory,
                            name,
                            label: alloc::string::String::from("label"),
                        },
                        _ => Operation::Remove { directory, name },
                    };
                    let answer = apply(&mut store, &operation, now);
                    prop_assert_eq!(&answer, &apply(&mut model, &operation, now), "{:?}", operation);
                    if let Ok(Some(created)) = answer {
                        directories.push(created);
                    }
                }
                Step::Inspect { directory, name: which } => {
                    let directory = directories[directory % directories.len()];
                    let name = name(NAMES[which]);
                    prop_assert_eq!(store.lookup(directory, &name), model.lookup(directory, &name));
                    prop_assert_eq!(store.read_file(directory, &name), model.read_file(directory, &name));
                    prop_assert_eq!(store.information(directory, &name), model.information(directory, &name));
                    prop_assert_eq!(store.directory(directory), model.directory(directory));
                    prop_assert_eq!(
                        store.next_name(directory, Some(&name)),
                        model.next_name(directory, Some(&name))
                    );
                }
                Step::Remount => {
                    let mut device = store.into_device();
                    let report = native::check(&mut device);
                    prop_assert!(report.is_clean(), "{}", report);
                    store = native::mount(device).unwrap();
                }
            }
        }
        prop_assert_eq!(snapshot(&mut store), snapshot(&mut model));
        let mut device = store.into_device();
        let report = native::check(&mut device);
        prop_assert!(report.is_clean(), "{}", report);
        let mut remounted = native::mount(device).unwrap();
        prop_assert_eq!(snapshot(&mut remounted), snapshot(&mut model));
    }
}
