//! The hosted kernel's console: standard output, or a list of lines a test reads.
//!
//! Lines are written whole, one at a time, while the kernel's state is locked, so the
//! lines of concurrent programs never interleave. A program's text is shown as the
//! x86_64 console shows it: each line after `user NAME: `, control characters as `?`,
//! so no program can write a line the harness would read as a report.

use std::io::Write;

use ethos_abi::Report;
use ethos_core::process_model::identity::UserName;

/// Where the console's lines go.
#[derive(Debug)]
pub enum Console {
    /// Standard output, line by line, as they are written.
    Standard,
    /// Kept in order, for whoever runs the system to read.
    Collected(Vec<String>),
}

impl Console {
    /// A console that keeps its lines.
    pub fn collected() -> Console {
        Console::Collected(Vec::new())
    }

    /// Writes one line.
    pub fn line(&mut self, line: &str) {
        match self {
            Console::Standard => {
                // Nothing is left to tell if standard output is gone.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Console::Collected(lines) => lines.push(line.to_string()),
        }
    }

    /// Writes a structured report line.
    pub fn report(&mut self, report: Report<'_>) {
        self.line(&report.to_string());
    }

    /// Writes `text` printed by a process of `user`.
    pub fn print(&mut self, user: &UserName, text: &str) {
        for line in text.split('\n') {
            let shown: String = line
                .chars()
                .map(|character| {
                    if character.is_control() {
                        '?'
                    } else {
                        character
                    }
                })
                .collect();
            self.line(&format!("user {}: {shown}", user.as_str()));
        }
    }

    /// The lines kept so far (none for standard output).
    pub fn lines(&self) -> &[String] {
        match self {
            Console::Standard => &[],
            Console::Collected(lines) => lines,
        }
    }
}
