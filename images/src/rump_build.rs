//! Checks that a rump kernel build can go into this kernel, before it is linked.
//!
//! A rump kernel build is made outside the project (`rump-sys/README.md` states the
//! properties it must have); a build that lacks one of them would link and then fail
//! inside the kernel in ways far from the cause. What can be read from the archives'
//! symbol tables is checked here, with a message naming the archive and the property:
//!
//! - every archive the kernel links is there;
//! - no object needs the stack protector's runtime (`__stack_chk_fail`: nothing in
//!   the kernel provides it) or general-dynamic TLS (`__tls_get_addr`: the PIC
//!   archives; the kernel gives rump's `curlwp` a local-exec TLS block only);
//! - NetBSD's PCI glue was built with port I/O (`rumpcomp_pci_iospace_init`: the
//!   virtio transport of these sources uses the legacy I/O BAR) and DMA freeing
//!   (`rumpcomp_pci_dmafree`) and without host-side hypercalls compiled in (the
//!   kernel defines every `rumpcomp_pci_*` itself; a second definition would clash);
//! - nothing the archives need is left undefined except what the kernel supplies:
//!   the `rumpuser_*` and `rumpcomp_pci_*` hypercalls and linker-made symbols.
//!
//! Code generation (no SSE or red zone in kernel objects) cannot be read from a
//! symbol table; the README states it and NetBSD's kernel flags provide it.

use std::collections::BTreeSet;
use std::path::Path;

use object::read::archive::ArchiveFile;
use object::{Object, ObjectSymbol};

use crate::XtaskError;

/// Defined and undefined global symbols of one archive.
#[derive(Debug, Default)]
struct Symbols {
    defined: BTreeSet<String>,
    undefined: BTreeSet<String>,
}

fn read_archive(path: &Path) -> Result<Symbols, String> {
    let data = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let archive = ArchiveFile::parse(&*data)
        .map_err(|error| format!("{}: not an archive: {error}", path.display()))?;
    let mut symbols = Symbols::default();
    for member in archive.members() {
        let member = member.map_err(|error| format!("{}: {error}", path.display()))?;
        let name = String::from_utf8_lossy(member.name()).into_owned();
        let bytes = member
            .data(&*data)
            .map_err(|error| format!("{}({name}): {error}", path.display()))?;
        let file = object::File::parse(bytes)
            .map_err(|error| format!("{}({name}): not an object file: {error}", path.display()))?;
        if file.architecture() != object::Architecture::X86_64 {
            return Err(format!(
                "{}({name}) is built for {:?}, not x86_64",
                path.display(),
                file.architecture()
            ));
        }
        for symbol in file.symbols() {
            if !symbol.is_global() {
                continue;
            }
            let Ok(symbol_name) = symbol.name() else {
                continue;
            };
            if symbol.is_undefined() {
                symbols.undefined.insert(symbol_name.to_string());
            } else {
                symbols.defined.insert(symbol_name.to_string());
            }
        }
    }
    Ok(symbols)
}

/// Whether the kernel (or its linker) supplies `symbol`.
fn supplied_by_kernel(symbol: &str) -> bool {
    symbol.starts_with("rumpuser_")
        || symbol.starts_with("rumpcomp_pci_")
        || symbol.starts_with("__start_")
        || symbol.starts_with("__stop_")
        || symbol == "_GLOBAL_OFFSET_TABLE_"
}

/// Checks the archives `names` (each `lib<name>.a` under `directory/lib`).
pub fn check_archives(directory: &Path, names: &[&str]) -> Result<(), XtaskError> {
    let problem = |text: String| {
        XtaskError::Prerequisite(format!(
            "RUMPKERNEL_DIR={}: {text} (see rump-sys/README.md for the properties the build must have)",
            directory.display()
        ))
    };
    let mut all = Symbols::default();
    let mut per_archive = Vec::new();
    for name in names {
        let path = directory.join("lib").join(format!("lib{name}.a"));
        if !path.is_file() {
            return Err(problem(format!(
                "lib/lib{name}.a is missing; the kernel's rump backends link it (NetBSD's PCI \
                 and virtio components are built only on request)"
            )));
        }
        let symbols = read_archive(&path).map_err(problem)?;
        all.defined.extend(symbols.defined.iter().cloned());
        all.undefined.extend(symbols.undefined.iter().cloned());
        per_archive.push((*name, symbols));
    }
    for (name, symbols) in &per_archive {
        if symbols.undefined.contains("__stack_chk_fail") {
            return Err(problem(format!(
                "lib{name}.a was built with the stack protector (it calls __stack_chk_fail, \
                 which the kernel lacks)"
            )));
        }
        if symbols.undefined.contains("__tls_get_addr") {
            return Err(problem(format!(
                "lib{name}.a uses general-dynamic TLS (__tls_get_addr): use the non-PIC archives"
            )));
        }
        if let Some(defined) = symbols
            .defined
            .iter()
            .find(|symbol| symbol.starts_with("rumpcomp_pci_"))
        {
            return Err(problem(format!(
                "lib{name}.a defines {defined}: its PCI glue was built with host-side \
                 hypercalls, which the kernel provides itself"
            )));
        }
    }
    if let Some((_, pci)) = per_archive.iter().find(|(name, _)| *name == "rumpdev_pci") {
        for (symbol, feature) in [
            (
                "rumpcomp_pci_iospace_init",
                "RUMPCOMP_USERFEATURE_PCI_IOSPACE (port I/O)",
            ),
            (
                "rumpcomp_pci_dmafree",
                "RUMPCOMP_USERFEATURE_PCI_DMAFREE (freeing DMA memory)",
            ),
        ] {
            if !pci.undefined.contains(symbol) {
                return Err(problem(format!(
                    "librumpdev_pci.a was built without {feature}: it never calls {symbol}"
                )));
            }
        }
    }
    let missing: Vec<&String> = all
        .undefined
        .iter()
        .filter(|symbol| !all.defined.contains(*symbol) && !supplied_by_kernel(symbol))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing
            .iter()
            .take(8)
            .map(|symbol| symbol.as_str())
            .collect();
        return Err(problem(format!(
            "the archives need {} symbol(s) nothing defines, e.g. {}",
            missing.len(),
            shown.join(" ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_supplies_hypercalls_and_linker_symbols_only() {
        for symbol in [
            "rumpuser_malloc",
            "rumpcomp_pci_dmalloc",
            "__start_link_set_domains",
            "__stop_link_set_modules",
            "_GLOBAL_OFFSET_TABLE_",
        ] {
            assert!(supplied_by_kernel(symbol), "{symbol}");
        }
        for symbol in [
            "__stack_chk_fail",
            "__tls_get_addr",
            "memcpy",
            "rumpns_memcpy",
        ] {
            assert!(!supplied_by_kernel(symbol), "{symbol}");
        }
    }

    #[test]
    fn a_missing_archive_is_named() {
        let directory = std::env::temp_dir().join("ethos-no-rump-build");
        let error = check_archives(&directory, &["rump"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("lib/librump.a is missing"), "{error}");
        assert!(error.contains("RUMPKERNEL_DIR="), "{error}");
    }

    #[test]
    fn a_file_that_is_no_archive_is_refused() {
        let directory = std::env::temp_dir().join(format!("ethos-bad-rump-{}", std::process::id()));
        std::fs::create_dir_all(directory.join("lib")).unwrap();
        std::fs::write(directory.join("lib").join("librump.a"), b"not an archive").unwrap();
        let error = check_archives(&directory, &["rump"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an archive"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
