//! Build script of rump-sys.
//!
//! - Always: compiles the C front end of the variadic `rumpuser_dprintf` hypercall (unless the
//!   `c-rumpuser` baseline provides it) and declares the `rump_linked` cfg. For a bare-metal
//!   target (`target_os = "none"`) it is compiled freestanding, with its own formatter and
//!   the kernel's code-generation constraints.
//! - With `RUMPKERNEL_DIR` naming a rump kernel build (`include/rump/*.h`, `lib/lib*.a`):
//!   checks the entry points `src/bindings.rs` declares against the build's headers (with
//!   bindgen, on hosted targets), links the components chosen by cargo features whole (their registration is
//!   only reachable through constructors and link sets), and sets `cfg(rump_linked)`.
//! - Without it: links no rump kernel and says so in one warning line.

use std::env;
use std::path::{Path, PathBuf};

/// Archives (without `lib` prefix and `.a`) each feature adds, components before the
/// libraries they depend on.
const FEATURE_ARCHIVES: &[(&str, &[&str])] = &[
    ("SYSPROXY", &["rumpkern_sysproxy"]),
    (
        "VIRTIO_NET",
        &["rumpdev_virtio_if_vioif", "rumpdev_pci_virtio"],
    ),
    ("VIRTIO_BLOCK", &["rumpdev_virtio_ld", "rumpdev_pci_virtio"]),
    (
        "VIRTIO_ENTROPY",
        &["rumpdev_virtio_viornd", "rumpdev_pci_virtio"],
    ),
    ("WM", &["rumpdev_pci_if_wm", "rumpdev_miiphy"]),
    ("PCI", &["rumpdev_pci"]),
    ("TMPFS", &["rumpfs_tmpfs"]),
    ("KERNFS", &["rumpfs_kernfs"]),
    ("FFS", &["rumpfs_ffs"]),
    ("EXT2FS", &["rumpfs_ext2fs"]),
    ("DISK", &["rumpdev_disk"]),
    ("DEV", &["rumpdev"]),
    ("VFS", &["rumpvfs"]),
    ("SHMIF", &["rumpnet_shmif"]),
    ("VIRTIF", &["rumpnet_virtif"]),
    ("INET6", &["rumpnet_netinet6"]),
    ("INET", &["rumpnet_netinet", "rumpnet_config"]),
    ("NET", &["rumpnet_net", "rumpnet"]),
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rump_linked)");
    println!("cargo::rustc-check-cfg=cfg(rump_headers)");
    println!("cargo::rerun-if-env-changed=RUMPKERNEL_DIR");
    println!("cargo::rerun-if-changed=src/dprintf.c");
    println!("cargo::rerun-if-changed=src/bindings.rs");
    println!("cargo::rerun-if-changed=build.rs");

    let baseline = env::var_os("CARGO_FEATURE_C_RUMPUSER").is_some();
    match env::var_os("RUMPKERNEL_DIR") {
        Some(directory) if !directory.is_empty() => {
            link_rump_kernel(Path::new(&directory), baseline);
        }
        _ => {
            println!(
                "cargo::warning=no rump kernel linked: RUMPKERNEL_DIR is not set, so tests that need one are skipped"
            );
        }
    }
    if !baseline {
        compile_dprintf_front_end();
    }
}

fn compile_dprintf_front_end() {
    let mut build = cc::Build::new();
    build
        .file("src/dprintf.c")
        .warnings(true)
        .cargo_metadata(false);
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        // A bare-metal kernel (x86_64-unknown-none): no C library, so the front end uses its
        // own formatter, and code generation follows the Rust target: no red zone
        // (interrupts push onto the kernel stack), no SSE/MMX/AVX registers (the kernel
        // does not save them), no stack protector or unwind tables (nothing provides
        // them). The code is position-independent (RIP-relative), so it links both into
        // the target's default static-pie image and into a kernel linked at a fixed
        // address such as this project's (relocation-model=static, 1 MiB).
        // `-mcmodel=kernel` is not used: GCC refuses it with position-independent code,
        // and its absolute addresses could not go into a static-pie image.
        build
            .define("RUMPSYS_FREESTANDING", None)
            .flag("-ffreestanding")
            .flag("-fno-builtin")
            .flag("-fno-stack-protector")
            .flag("-fno-asynchronous-unwind-tables")
            .flag("-fPIE")
            .flag("-mno-red-zone")
            .flag("-mno-mmx")
            .flag("-mno-sse")
            .flag("-mno-sse2")
            .flag("-mno-avx");
    }
    build.compile("rumpsys_dprintf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rustc-link-search=native={}", out.display());
    // Whole, because only the rump archives reference it.
    println!("cargo::rustc-link-lib=static:+whole-archive,-bundle=rumpsys_dprintf");
}

fn link_rump_kernel(directory: &Path, baseline: bool) {
    let include = directory.join("include");
    let lib = directory.join("lib");
    let header = include.join("rump").join("rump.h");
    if !header.is_file() {
        panic!(
            "RUMPKERNEL_DIR={} has no include/rump/rump.h: it must name a rump kernel build with include/ and lib/",
            directory.display()
        );
    }
    for name in [
        "rump.h",
        "rump_syscalls.h",
        "rumpdefs.h",
        "rumpkern_if_pub.h",
    ] {
        println!(
            "cargo::rerun-if-changed={}",
            include.join("rump").join(name).display()
        );
    }

    let mut archives: Vec<&str> = Vec::new();
    for (feature, names) in FEATURE_ARCHIVES {
        if env::var_os(format!("CARGO_FEATURE_{feature}")).is_some() {
            archives.extend(names.iter().copied());
        }
    }
    archives.push("rump");
    // An archive two features need is linked once, where the first put it.
    let mut seen = Vec::new();
    archives.retain(|archive| {
        let first = !seen.contains(archive);
        seen.push(*archive);
        first
    });

    println!("cargo::rustc-link-search=native={}", lib.display());
    for archive in &archives {
        let path = lib.join(format!("lib{archive}.a"));
        if !path.is_file() {
            panic!(
                "RUMPKERNEL_DIR={} lacks lib/lib{archive}.a, which the selected cargo features need",
                directory.display()
            );
        }
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-link-lib=static:+whole-archive,-bundle={archive}");
    }
    if baseline {
        // Upstream's C hypercalls, for the benchmark baseline.
        println!("cargo::rustc-link-lib=static:-bundle=rumpuser");
        println!("cargo::rustc-link-lib=dylib=dl");
        println!("cargo::rustc-link-lib=dylib=pthread");
    }
    // Keep the sections reached only through __start_/__stop_ symbols (link sets).
    println!("cargo::rustc-link-arg=-Wl,-z,nostart-stop-gc");
    println!("cargo::rustc-cfg=rump_linked");

    generate_bindings(&include);
}

fn generate_bindings(include: &Path) {
    // The declarations in src/bindings.rs are checked against the headers of the build.
    // bindgen reads them with the C library's headers of the host; for a bare-metal
    // target there are none, and the declarations do not depend on the target (the rump
    // kernel's ABI is the same x86_64 SysV one), so the host build checks them.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        return;
    }
    // Every header of the build is read, whatever components this build links, so every
    // declaration is checked.
    let wrapper = "#include <sys/types.h>\n#include <stdint.h>\n#include <rump/rump.h>\n\
                   #include <rump/rump_syscalls.h>\n#include <rump/rumpdefs.h>\n\
                   #include <rump/netconfig.h>\n#include <rump/rumpnet_if_pub.h>\n";
    let declared = declared_entry_points();
    let mut builder = bindgen::Builder::default()
        .header_contents("rump_wrapper.h", wrapper)
        .clang_arg(format!("-I{}", include.display()))
        // core::ffi types, so the bindings build without std.
        .use_core()
        .allowlist_var("RUMP_.*")
        .allowlist_var("rump_sigmodel_.*")
        .allowlist_var("rump_etfs_type_.*")
        // The declarations' own opaque types stand in for these, so pointers compare.
        .blocklist_type("sockaddr|stat|statvfs|pollfd")
        .layout_tests(false)
        .generate_comments(false);
    for name in &declared {
        builder = builder.allowlist_function(name);
    }
    let bindings = builder
        .generate()
        .expect("bindgen could not read the rump kernel headers");
    let text = bindings.to_string();
    let mut missing: Vec<&String> = declared
        .iter()
        .filter(|name| !text.contains(&format!("pub fn {name}(")))
        .collect();
    missing.sort();
    if !missing.is_empty() {
        panic!(
            "src/bindings.rs declares rump kernel entry points the headers of RUMPKERNEL_DIR do not: {missing:?}"
        );
    }
    let mut checked = String::from("use super::{pollfd, sockaddr, stat, statvfs};\n");
    checked.push_str(&text);
    // The symbol each generated declaration links to (`link_name`, else its name).
    checked.push_str("pub(super) mod symbols {\n");
    let mut link_name: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#[link_name = \"") {
            let symbol = rest.trim_end_matches("\"]").trim_start_matches("\\u{1}");
            link_name = Some(symbol.to_string());
        } else if let Some(rest) = line.strip_prefix("pub fn ") {
            let name = rest.split('(').next().unwrap_or_default();
            let symbol = link_name.take().unwrap_or_else(|| name.to_string());
            checked.push_str(&format!("    pub const {name}: &str = \"{symbol}\";\n"));
        }
    }
    checked.push_str("}\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("rump_bindings.rs"), checked)
        .expect("could not write the rump kernel bindings");
    println!("cargo::rustc-cfg=rump_headers");
}

/// The names `src/bindings.rs` declares in its `entry_points!` list and extern block.
fn declared_entry_points() -> Vec<String> {
    let source = std::fs::read_to_string("src/bindings.rs").expect("src/bindings.rs is readable");
    source
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("fn ")
                .or_else(|| line.strip_prefix("pub fn "))?;
            let name = rest.split('(').next()?;
            name.starts_with("rump_").then(|| name.to_string())
        })
        .collect()
}
