//! `deadlock-after-cancel`: a cancelled timer, then `block` on what never comes.
//!
//! It sets a `beep` an hour ahead and cancels it, leaves an `import` on its own
//! service pending (nobody else connects), says so, and blocks on the import. It is
//! the only process of its set, so nothing can wake it; the cancelled timer must not
//! count as something that can, so the kernel must end it as deadlocked at once
//! rather than wait out the hour. It never ends by itself.

use ethos_compat::{beep, block, cancel, get_time, import, println};

use super::{MILLISECOND, advertise_service};

/// How far ahead the cancelled beep is: an hour.
pub const FAR_AHEAD: u64 = 3_600_000 * MILLISECOND;

/// Exit statuses of `deadlock-after-cancel`, which the kernel should end instead.
pub mod status {
    /// The `beep` or its `cancel` failed.
    pub const BEEP: i32 = 1;
    /// Advertising or the `import` failed.
    pub const IMPORT: i32 = 2;
    /// `block` answered, though nothing can complete the import.
    pub const WOKE: i32 = 3;
}

const NAME: &str = "deadlock-after-cancel";

/// `deadlock-after-cancel`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let far = get_time().unwrap_or(0).saturating_add(FAR_AHEAD);
    if let Err(error) = beep(far).and_then(cancel) {
        println!("{NAME}: a beep an hour ahead and its cancel failed: {error}");
        return status::BEEP;
    }
    let Ok(listening) = advertise_service(NAME) else {
        return status::IMPORT;
    };
    let pending = match import(listening) {
        Ok(pending) => pending,
        Err(error) => {
            println!("{NAME}: import failed: {error}");
            return status::IMPORT;
        }
    };
    println!("{NAME}: a beep an hour ahead cancelled; blocking on an import nobody answers");
    let woke = block(&[pending]);
    println!("{NAME}: block answered {woke:?}");
    status::WOKE
}
