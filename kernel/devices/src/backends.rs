//! Which (class, backend) pairs a kernel can serve, and the boot-time check that a
//! [`BackendChoice`] asks only for those.
//!
//! The platform lists its drivers as [`DriverEntry`]s; the choice comes from the
//! initial image and the command line. A choice the kernel cannot serve is refused
//! before any device is probed, with an error that says what to build: a kernel
//! never serves a class from another backend than the one chosen.

use core::fmt;

use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};

/// One driver a kernel has: the class it serves, the backend it belongs to, and
/// the name the kernel reports for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverEntry {
    pub class: DeviceClass,
    pub backend: Backend,
    pub driver: &'static str,
}

/// The first driver of `drivers` for `(class, backend)`.
pub fn find_driver(
    drivers: &[DriverEntry],
    class: DeviceClass,
    backend: Backend,
) -> Option<&DriverEntry> {
    drivers
        .iter()
        .find(|entry| entry.class == class && entry.backend == backend)
}

/// A class is to be served by a backend this kernel has no driver of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendUnavailable {
    pub class: DeviceClass,
    pub backend: Backend,
    /// Whether the kernel has any driver of that backend (for rump: whether a
    /// rump kernel is linked at all).
    pub backend_linked: bool,
}

impl fmt::Display for BackendUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (class, backend) = (self.class.name(), self.backend.name());
        match (self.backend, self.backend_linked) {
            (Backend::Rump, false) => write!(
                f,
                "the {class} class is to be served by the rump backend, but no rump kernel is \
                 linked into this kernel (a rump backend needs a kernel linked with the rump \
                 kernel build that RUMPKERNEL_DIR names, see rump-sys/README.md); choose \
                 `native` for {class}"
            ),
            _ => write!(
                f,
                "the {class} class is to be served by the {backend} backend, but this kernel \
                 has no {backend} driver for it"
            ),
        }
    }
}

/// Checks that `drivers` has a driver for every class's chosen backend; the first
/// class (in [`DeviceClass::ALL`] order) that has none is the error.
pub fn check_choice(
    choice: &BackendChoice,
    drivers: &[DriverEntry],
) -> Result<(), BackendUnavailable> {
    for (class, backend) in choice.iter() {
        if find_driver(drivers, class, backend).is_none() {
            return Err(BackendUnavailable {
                class,
                backend,
                backend_linked: drivers.iter().any(|entry| entry.backend == backend),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE_ONLY: [DriverEntry; 5] = [
        DriverEntry {
            class: DeviceClass::Network,
            backend: Backend::Native,
            driver: "virtio-net",
        },
        DriverEntry {
            class: DeviceClass::Datagram,
            backend: Backend::Native,
            driver: "smoltcp",
        },
        DriverEntry {
            class: DeviceClass::Block,
            backend: Backend::Native,
            driver: "virtio-blk",
        },
        DriverEntry {
            class: DeviceClass::Entropy,
            backend: Backend::Native,
            driver: "virtio-rng",
        },
        DriverEntry {
            class: DeviceClass::Console,
            backend: Backend::Native,
            driver: "uart-16550",
        },
    ];

    #[test]
    fn a_native_kernel_serves_the_native_choice() {
        assert_eq!(check_choice(&BackendChoice::NATIVE, &NATIVE_ONLY), Ok(()));
        assert_eq!(
            find_driver(&NATIVE_ONLY, DeviceClass::Datagram, Backend::Native)
                .map(|entry| entry.driver),
            Some("smoltcp")
        );
        assert_eq!(
            find_driver(&NATIVE_ONLY, DeviceClass::Network, Backend::Rump),
            None
        );
    }

    #[test]
    fn a_native_kernel_refuses_rump_and_says_what_to_build() {
        let mut choice = BackendChoice::NATIVE;
        choice.choose(DeviceClass::Network, Backend::Rump);
        let refused = check_choice(&choice, &NATIVE_ONLY).unwrap_err();
        assert_eq!(
            refused,
            BackendUnavailable {
                class: DeviceClass::Network,
                backend: Backend::Rump,
                backend_linked: false,
            }
        );
        let message = refused.to_string();
        assert!(message.contains("RUMPKERNEL_DIR"), "{message}");
        assert!(message.contains("network"), "{message}");
    }

    #[test]
    fn a_rump_kernel_without_a_driver_for_the_class_says_so() {
        let mut drivers = NATIVE_ONLY.to_vec();
        drivers.push(DriverEntry {
            class: DeviceClass::Network,
            backend: Backend::Rump,
            driver: "vioif",
        });
        let mut choice = BackendChoice::NATIVE;
        choice.choose(DeviceClass::Network, Backend::Rump);
        assert_eq!(check_choice(&choice, &drivers), Ok(()));
        choice.choose(DeviceClass::Block, Backend::Rump);
        let refused = check_choice(&choice, &drivers).unwrap_err();
        assert_eq!(refused.class, DeviceClass::Block);
        assert!(refused.backend_linked);
        assert!(!refused.to_string().contains("RUMPKERNEL_DIR"));
    }
}
