//! Formatted text on the console through `print`: the [`println!`](crate::println)
//! macro.
//!
//! The kernel ends every line a program prints and puts the user's name before it, so
//! one `println!` is one `print` of the formatted text, without a newline. Printing is
//! best effort: a refused `print` is not reported, as a console cannot report its own
//! failure. This module never allocates more than the formatted text.

use alloc::string::String;
use core::fmt::{self, Write};

/// Prints formatted text as one `print`; used by [`println!`](crate::println).
pub fn print_formatted(arguments: fmt::Arguments<'_>) {
    match arguments.as_str() {
        Some(text) => {
            let _ = crate::calls::print(text);
        }
        None => {
            let mut text = String::new();
            if text.write_fmt(arguments).is_ok() {
                let _ = crate::calls::print(&text);
            }
        }
    }
}

/// Prints one line (formatted like `format!`) on the console, through `print`.
#[macro_export]
macro_rules! println {
    ($($argument:tt)*) => {
        $crate::console::print_formatted(::core::format_args!($($argument)*))
    };
}
