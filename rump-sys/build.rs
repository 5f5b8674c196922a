//! Build script of rump-sys.
//!
//! - Always: compiles the C front end of the variadic `rumpuser_dprintf` hypercall (unless the
//!   `c-rumpuser` baseline provides it) and declares the `rump_linked` cfg. For a bare-metal
//!   target (`target_os = "none"`) it is compiled freestanding, with its own formatter and
//!   the kernel's code-generation constraints.
//! - With `RUMPKERNEL_DIR` naming a rump kernel build (`include/rump/*.h`, `lib/lib*.a`):
//!   generates bindings to `rump_init`, `rump_boot_*`, `rump_sys_*` and `rump_pub_*` into
//!   `OUT_DIR`, links the components chosen by cargo features whole (their registration is
//!   only reachable through constructors and link sets), and sets `cfg(rump_linked)`.
//! - Without it: links no rump kernel and says so in one warning line.

use std::env;
use std::path::{Path, PathBuf};

/// Archives (without `lib` prefix and `.a`) each feature adds, components before the
/// libraries they depend on.
const FEATURE_ARCHIVES: &[(&str, &[&str])] = &[
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
    println!("cargo::rerun-if-env-changed=RUMPKERNEL_DIR");
    println!("cargo::rerun-if-changed=src/dprintf.c");
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

    generate_bindings(&include, &archives);
}

fn generate_bindings(include: &Path, archives: &[&str]) {
    let mut wrapper = String::from(
        "#include <sys/types.h>\n#include <stdint.h>\n#include <rump/rump.h>\n\
         #include <rump/rump_syscalls.h>\n#include <rump/rumpdefs.h>\n",
    );
    if archives.contains(&"rumpnet_config") {
        wrapper.push_str("#include <rump/netconfig.h>\n");
    }
    if archives.contains(&"rumpnet") {
        wrapper.push_str("#include <rump/rumpnet_if_pub.h>\n");
    }
    let bindings = bindgen::Builder::default()
        .header_contents("rump_wrapper.h", &wrapper)
        .clang_arg(format!("-I{}", include.display()))
        // core::ffi types, so the bindings build without std.
        .use_core()
        .allowlist_function("rump_init")
        .allowlist_function("rump_boot_.*")
        .allowlist_function("rump_sys_.*")
        .allowlist_function("rump_pub_.*")
        .allowlist_var("RUMP_.*")
        .allowlist_type("rump_.*")
        .opaque_type("stat")
        .opaque_type("sockaddr")
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen could not read the rump kernel headers");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("rump_bindings.rs"))
        .expect("could not write the rump kernel bindings");
}
