//! `rumpuser_getparam`: the values the rump kernel asks its host for at boot — the two
//! mandatory ones (`_RUMPUSER_NCPU`, `_RUMPUSER_HOSTNAME`) and optional `RUMP_*` tunables
//! taken from the host configuration (the environment when hosted).
//!
//! Pure functions over a source of configuration, so the rules are testable without a rump
//! kernel. Called before the rump kernel's scheduler exists: must never block.

use alloc::format;
use alloc::string::{String, ToString};

use crate::abi::{PARAMETER_HOSTNAME, PARAMETER_NCPU};
use crate::error::HypercallError;
use crate::host;

/// Number of virtual CPUs when `RUMP_NCPU` is unset (as the reference implementation).
pub const DEFAULT_VIRTUAL_CPUS: usize = 2;

/// Where parameter values come from.
pub trait ParameterSource {
    /// A configuration variable (`RUMP_NCPU`, `RUMP_VERBOSE`, ...).
    fn variable(&self, name: &str) -> Option<String>;
    /// Host CPU count, for `RUMP_NCPU=host`.
    fn host_cpu_count(&self) -> usize;
    /// Host name, if any.
    fn host_name(&self) -> Option<String>;
    /// Identifier of the hosting process.
    fn process_id(&self) -> u32;
}

/// The value of parameter `name`, as text.
pub fn parameter_value(
    name: &str,
    source: &impl ParameterSource,
) -> Result<String, HypercallError> {
    if name == PARAMETER_NCPU {
        return virtual_cpu_count(source).map(|count| count.to_string());
    }
    if name == PARAMETER_HOSTNAME {
        let process = source.process_id();
        return Ok(match source.host_name() {
            Some(host) => format!("rump-{process:05}.{host}"),
            None => format!("rump-{process:05}"),
        });
    }
    if name.starts_with('_') {
        return Err(HypercallError::UnknownMandatoryParameter);
    }
    source.variable(name).ok_or(HypercallError::ParameterNotSet)
}

/// The number of virtual CPUs: `RUMP_NCPU` (a positive number or `host`), default 2.
pub fn virtual_cpu_count(source: &impl ParameterSource) -> Result<usize, HypercallError> {
    match source.variable("RUMP_NCPU") {
        None => Ok(DEFAULT_VIRTUAL_CPUS),
        Some(text) if text.trim() == "host" => Ok(source.host_cpu_count().max(1)),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(HypercallError::InvalidArgument),
        },
    }
}

/// Copies `value` and a terminating NUL into `buffer`.
pub fn copy_with_nul(value: &str, buffer: &mut [u8]) -> Result<(), HypercallError> {
    let needed = value.len() + 1;
    if needed > buffer.len() {
        return Err(HypercallError::BufferTooSmall {
            needed,
            available: buffer.len(),
        });
    }
    buffer[..value.len()].copy_from_slice(value.as_bytes());
    buffer[value.len()] = 0;
    Ok(())
}

/// The host's own configuration as parameter source.
#[derive(Debug)]
pub struct HostParameters;

impl ParameterSource for HostParameters {
    fn variable(&self, name: &str) -> Option<String> {
        host::active().configuration_value(name)
    }

    fn host_cpu_count(&self) -> usize {
        host::active().host_cpu_count()
    }

    fn host_name(&self) -> Option<String> {
        host::active().host_name()
    }

    fn process_id(&self) -> u32 {
        host::active().process_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use std::collections::HashMap;

    struct FixedSource {
        variables: HashMap<&'static str, &'static str>,
        host_name: Option<&'static str>,
    }

    impl FixedSource {
        fn new(variables: &[(&'static str, &'static str)]) -> FixedSource {
            FixedSource {
                variables: variables.iter().copied().collect(),
                host_name: Some("builder"),
            }
        }
    }

    impl ParameterSource for FixedSource {
        fn variable(&self, name: &str) -> Option<String> {
            self.variables.get(name).map(|value| (*value).to_owned())
        }
        fn host_cpu_count(&self) -> usize {
            12
        }
        fn host_name(&self) -> Option<String> {
            self.host_name.map(str::to_owned)
        }
        fn process_id(&self) -> u32 {
            42
        }
    }

    #[test]
    fn cpu_count_defaults_to_two_and_follows_rump_ncpu() {
        let unset = FixedSource::new(&[]);
        assert_eq!(parameter_value("_RUMPUSER_NCPU", &unset).unwrap(), "2");
        let four = FixedSource::new(&[("RUMP_NCPU", "4")]);
        assert_eq!(parameter_value("_RUMPUSER_NCPU", &four).unwrap(), "4");
        let host = FixedSource::new(&[("RUMP_NCPU", "host")]);
        assert_eq!(parameter_value("_RUMPUSER_NCPU", &host).unwrap(), "12");
        let zero = FixedSource::new(&[("RUMP_NCPU", "0")]);
        assert_eq!(
            parameter_value("_RUMPUSER_NCPU", &zero).unwrap_err(),
            HypercallError::InvalidArgument
        );
    }

    #[test]
    fn hostname_names_the_process_and_the_host() {
        let mut source = FixedSource::new(&[]);
        assert_eq!(
            parameter_value("_RUMPUSER_HOSTNAME", &source).unwrap(),
            "rump-00042.builder"
        );
        source.host_name = None;
        assert_eq!(
            parameter_value("_RUMPUSER_HOSTNAME", &source).unwrap(),
            "rump-00042"
        );
    }

    #[test]
    fn unknown_mandatory_names_are_invalid_and_unset_tunables_are_absent() {
        let source = FixedSource::new(&[("RUMP_VERBOSE", "1"), ("RUMP_MEMLIMIT", "64m")]);
        assert_eq!(
            parameter_value("_RUMPUSER_SOMETHING", &source)
                .unwrap_err()
                .errno(),
            crate::errno::NetbsdErrno::EINVAL
        );
        assert_eq!(
            parameter_value("RUMP_THREADS", &source)
                .unwrap_err()
                .errno(),
            crate::errno::NetbsdErrno::ENOENT
        );
        assert_eq!(parameter_value("RUMP_VERBOSE", &source).unwrap(), "1");
        assert_eq!(parameter_value("RUMP_MEMLIMIT", &source).unwrap(), "64m");
    }

    #[test]
    fn values_are_copied_with_a_nul_or_refused() {
        let mut buffer = [0xffu8; 4];
        copy_with_nul("abc", &mut buffer).unwrap();
        assert_eq!(&buffer, b"abc\0");
        assert_eq!(
            copy_with_nul("abcd", &mut buffer).unwrap_err(),
            HypercallError::BufferTooSmall {
                needed: 5,
                available: 4
            }
        );
        assert_eq!(
            copy_with_nul("abcd", &mut buffer).unwrap_err().errno(),
            crate::errno::NetbsdErrno::ERANGE
        );
    }
}
