//! The embedded modules are what the host will accept: intact, WebAssembly,
//! no imports, every export of the task ABI.

use airlock_core::abi::REQUIRED_EXPORTS;
use airlock_default_suite::{SUITE_NAME, modules};
use wasmparser::{Parser, Payload};

#[test]
fn digests_match_the_bytes() {
    assert_eq!(SUITE_NAME, "default");
    for module in modules() {
        assert_eq!(
            *blake3::hash(module.bytes).as_bytes(),
            module.digest,
            "{}",
            module.task_id
        );
    }
}

#[test]
fn modules_are_webassembly() {
    for module in modules() {
        assert!(module.bytes.starts_with(b"\0asm"), "{}", module.task_id);
        assert!(module.file_name.ends_with(".wasm"));
    }
}

#[test]
fn modules_import_nothing_and_export_the_abi() {
    for module in modules() {
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        for payload in Parser::new(0).parse_all(module.bytes) {
            match payload.expect("module parses") {
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        let import = import.expect("import entry parses");
                        imports.push(format!("{}::{}", import.module, import.name));
                    }
                }
                Payload::ExportSection(section) => {
                    for export in section {
                        exports.push(export.expect("export entry parses").name.to_string());
                    }
                }
                _ => {}
            }
        }
        assert!(imports.is_empty(), "{} imports {imports:?}", module.task_id);
        for required in REQUIRED_EXPORTS {
            assert!(
                exports.iter().any(|e| e == required),
                "{} lacks the export {required}; it has {exports:?}",
                module.task_id
            );
        }
    }
}

#[test]
fn modules_validate() {
    for module in modules() {
        wasmparser::Validator::new()
            .validate_all(module.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", module.task_id));
    }
}
