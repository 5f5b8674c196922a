//! The results of `cargo xtask test` as a JUnit XML file (`--junit PATH`), the form CI
//! services read: one `<testsuite>` per kind of test (host tests by test binary, image
//! checks, hosted rows, QEMU system tests, matrix rows), one `<testcase>` per test with
//! its time, and `<failure>` or `<skipped>` with the reason.
//!
//! Written by hand: the document is three element kinds with escaped text, less than a
//! crate's worth, and no XML crate of the workspace writes it today.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ethos_tests::harness::Verdict;

/// One test's result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Case {
    /// The `<testsuite>` it belongs to, e.g. `qemu` or `host.ethos_abi`.
    pub(crate) suite: String,
    pub(crate) name: String,
    pub(crate) seconds: f64,
    pub(crate) verdict: Verdict,
    /// The serial log of a QEMU row, written as the case's `<system-out>`.
    pub(crate) log: Option<PathBuf>,
}

/// Reads one `cargo test` per-test line (`test NAME ... ok`), within the test binary
/// named by the last `Running`/`Doc-tests` line, as a case of suite `host.BINARY`.
#[derive(Debug, Default)]
pub(crate) struct CargoLines {
    binary: String,
}

impl CargoLines {
    pub(crate) fn read(&mut self, line: &str) -> Option<Case> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Running ") {
            // `Running unittests src/lib.rs (target/debug/deps/ethos_abi-0123abcd)`
            let path = rest
                .rsplit_once('(')
                .map_or(rest, |(_, path)| path.trim_end_matches(')'));
            let file = path.rsplit('/').next().unwrap_or(path);
            self.binary = match file.rsplit_once('-') {
                Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name,
                _ => file,
            }
            .to_string();
            return None;
        }
        if let Some(crate_name) = line.strip_prefix("Doc-tests ") {
            self.binary = format!("{crate_name}.doctests");
            return None;
        }
        let (name, result) = line.strip_prefix("test ")?.rsplit_once(" ... ")?;
        let verdict = if result == "ok" {
            Verdict::Passed
        } else if result == "FAILED" {
            Verdict::Failed("the test failed (its output is in the log above)".into())
        } else if let Some(reason) = result.strip_prefix("ignored") {
            let reason = reason.trim_start_matches(',').trim();
            Verdict::Skipped(if reason.is_empty() {
                "ignored".into()
            } else {
                reason.into()
            })
        } else {
            return None;
        };
        Some(Case {
            suite: format!("host.{}", self.binary),
            name: name.to_string(),
            seconds: 0.0,
            verdict,
            log: None,
        })
    }
}

/// `text` as XML character data or attribute value: markup escaped, and characters
/// XML 1.0 cannot hold at all shown as `\u{…}`.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(character),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit document for `cases`, suites in name order, cases in run order.
pub(crate) fn document(cases: &[Case], commit: &str) -> String {
    let mut suites: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in cases {
        suites.entry(&case.suite).or_default().push(case);
    }
    let count = |cases: &[&Case], wanted: fn(&Verdict) -> bool| {
        cases.iter().filter(|case| wanted(&case.verdict)).count()
    };
    let failed = |verdict: &Verdict| matches!(verdict, Verdict::Failed(_));
    let skipped = |verdict: &Verdict| matches!(verdict, Verdict::Skipped(_));
    let all: Vec<&Case> = cases.iter().collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"cargo xtask test\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        all.len(),
        count(&all, failed),
        count(&all, skipped),
        cases.iter().map(|case| case.seconds).sum::<f64>()
    );
    for (suite, cases) in &suites {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
            escaped(suite),
            cases.len(),
            count(cases, failed),
            count(cases, skipped),
            cases.iter().map(|case| case.seconds).sum::<f64>()
        );
        let _ = writeln!(
            xml,
            "    <properties><property name=\"commit\" value=\"{}\"/></properties>",
            escaped(commit)
        );
        for case in cases {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escaped(suite),
                escaped(&case.name),
                case.seconds
            );
            let body = match &case.verdict {
                Verdict::Passed => String::new(),
                Verdict::Failed(reason) => format!(
                    "      <failure message=\"{0}\">{0}</failure>\n",
                    escaped(reason)
                ),
                Verdict::Skipped(reason) => {
                    format!("      <skipped message=\"{}\"/>\n", escaped(reason))
                }
            };
            let log = case.log.as_deref().map(|log| {
                format!(
                    "      <system-out>serial log: {}</system-out>\n",
                    escaped(&log.display().to_string())
                )
            });
            match (body.is_empty(), log) {
                (true, None) => xml.push_str("/>\n"),
                (_, log) => {
                    xml.push_str(">\n");
                    xml.push_str(&body);
                    xml.push_str(log.as_deref().unwrap_or(""));
                    xml.push_str("    </testcase>\n");
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Writes the document, creating its directory.
pub(crate) fn write(path: &Path, cases: &[Case], commit: &str) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, document(cases, commit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn case(suite: &str, name: &str, verdict: Verdict) -> Case {
        Case {
            suite: suite.into(),
            name: name.into(),
            seconds: 1.25,
            verdict,
            log: None,
        }
    }

    #[test]
    fn cargo_lines_become_cases_of_their_binary() {
        let mut lines = CargoLines::default();
        assert_eq!(
            lines.read(
                "     Running unittests src/lib.rs (target/debug/deps/ethos_abi-0123abcdef012345)"
            ),
            None
        );
        let passed = lines.read("test tests::sizes ... ok").unwrap();
        assert_eq!(
            (passed.suite.as_str(), passed.name.as_str()),
            ("host.ethos_abi", "tests::sizes")
        );
        assert_eq!(passed.verdict, Verdict::Passed);
        assert!(matches!(
            lines.read("test a::b ... FAILED").unwrap().verdict,
            Verdict::Failed(_)
        ));
        assert_eq!(
            lines
                .read("test slow ... ignored, needs a rump kernel")
                .unwrap()
                .verdict,
            Verdict::Skipped("needs a rump kernel".into())
        );
        assert_eq!(lines.read("   Doc-tests ethos_typesys"), None);
        let doc = lines
            .read("test src/lib.rs - Value (line 12) ... ok")
            .unwrap();
        assert_eq!(doc.suite, "host.ethos_typesys.doctests");
        assert_eq!(doc.name, "src/lib.rs - Value (line 12)");
        assert_eq!(lines.read("running 3 tests"), None);
        assert_eq!(lines.read("test result: ok. 3 passed; 0 failed"), None);
    }

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            escaped("a<b>&\"c'\u{1b}[0m\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\\u{1b}[0m\n"
        );
    }

    /// The document as a JUnit reader sees it: Debian's `python3-junitparser` (which
    /// ci/install-prerequisites.sh installs) parses it and reports every suite's
    /// counts and every case's outcome, which must be what was written. The
    /// interpreter is Debian's own, which the package serves, whatever else `python3`
    /// names on the PATH.
    #[test]
    fn a_junit_library_reads_what_was_written() {
        let mut logged = case("qemu", "boot-pc <kvm>", Verdict::Passed);
        logged.log = Some("target/logs/boot \"pc\".log".into());
        let cases = vec![
            case("host.ethos_abi", "tests::sizes", Verdict::Passed),
            case(
                "host.ethos_abi",
                "tests::wrong",
                Verdict::Failed("expected 3 & got <4>\u{7}".into()),
            ),
            logged,
            case(
                "qemu",
                "matrix-rump",
                Verdict::Skipped("no RUMPKERNEL_DIR".into()),
            ),
            case("matrix", "virtio-net", Verdict::Passed),
        ];
        let path = std::env::temp_dir().join(format!("ethos-junit-{}.xml", std::process::id()));
        write(&path, &cases, "0123abc").unwrap();
        let script = r#"
import sys
from junitparser import JUnitXml, Failure, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    print("suite", suite.name, suite.tests, suite.failures, suite.skipped)
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        messages = [r.message for r in case.result]
        print("case", case.classname, case.name, ",".join(kinds) or "passed", "|".join(messages))
"#;
        let output = Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&path)
            .output();
        let _ = std::fs::remove_file(&path);
        let output = output.expect(
            "/usr/bin/python3 runs (the JUnit check needs Debian's python3 and \
             python3-junitparser; ci/install-prerequisites.sh installs them)",
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "junitparser refused the document (install python3-junitparser, as \
             ci/install-prerequisites.sh does): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = "\
suite host.ethos_abi 2 1 0
case host.ethos_abi tests::sizes passed 
case host.ethos_abi tests::wrong Failure expected 3 & got <4>\\u{7}
suite matrix 1 0 0
case matrix virtio-net passed 
suite qemu 2 0 1
case qemu boot-pc <kvm> passed 
case qemu matrix-rump Skipped no RUMPKERNEL_DIR
";
        assert_eq!(stdout, expected);
    }
}
