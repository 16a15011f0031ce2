//! The entry checks, on real wasmtime artifacts in temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const MODULE: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;
const VERSION: &str = "48.0.8";
const SETTINGS: [u8; 32] = [7; 32];
const RUNNER: [u8; 32] = [9; 32];

fn engine() -> Engine {
    Engine::new(&wasmtime::Config::new()).unwrap()
}

fn cache(dir: &Path, secret: [u8; 32], runner: [u8; 32]) -> ModuleCache {
    ModuleCache::open(dir, StationSecret::from_bytes(&secret), runner).unwrap()
}

fn answer(engine: &Engine, module: &Module) -> i32 {
    let mut store = wasmtime::Store::new(engine, ());
    let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
    let f = instance
        .get_typed_func::<(), i32>(&mut store, "answer")
        .unwrap();
    f.call(&mut store, ()).unwrap()
}

fn load(cache: &ModuleCache, engine: &Engine, bytes: &[u8]) -> Source {
    let (module, source) = cache
        .load_or_compile(engine, SETTINGS, VERSION, bytes)
        .unwrap();
    assert_eq!(answer(engine, &module), 42);
    source
}

#[test]
fn second_load_is_a_hit_and_the_entry_is_bound_in_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let bytes = wat::parse_str(MODULE).unwrap();
    let cache = cache(dir.path(), [1; 32], RUNNER);
    assert_eq!(
        load(&cache, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Missing,
            stored: true
        }
    );
    assert_eq!(load(&cache, &engine, &bytes), Source::Cache);
    let path = cache.entry_path(&engine, SETTINGS, VERSION, &bytes);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&blake3::hash(&bytes).to_hex().to_string()));
    // Another settings digest is another file.
    assert_ne!(path, cache.entry_path(&engine, [8; 32], VERSION, &bytes));
    assert_ne!(path, cache.entry_path(&engine, SETTINGS, "48.0.9", &bytes));
}

#[test]
fn every_one_byte_change_and_every_truncation_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let bytes = wat::parse_str(MODULE).unwrap();
    let cache = cache(dir.path(), [1; 32], RUNNER);
    load(&cache, &engine, &bytes);
    let path = cache.entry_path(&engine, SETTINGS, VERSION, &bytes);
    let entry = fs::read(&path).unwrap();
    let binding = cache.binding(&engine, SETTINGS, VERSION, &bytes);
    assert!(verify(&entry, &binding, &cache.secret).is_ok());
    for at in 0..entry.len() {
        let mut changed = entry.clone();
        changed[at] ^= 0x01;
        let refusal = verify(&changed, &binding, &cache.secret).err();
        let expected = if at < 16 {
            Refusal::Magic
        } else {
            Refusal::Mac
        };
        assert_eq!(refusal, Some(expected), "byte {at} of {}", entry.len());
    }
    for len in [0, 1, HEADER_LEN, HEADER_LEN + MAC_LEN - 1] {
        assert_eq!(
            verify(&entry[..len], &binding, &cache.secret).err(),
            Some(Refusal::Truncated)
        );
    }
    for len in [HEADER_LEN + MAC_LEN, entry.len() - 1] {
        assert_eq!(
            verify(&entry[..len], &binding, &cache.secret).err(),
            Some(Refusal::Mac)
        );
    }
}

#[test]
fn a_changed_entry_is_recompiled_and_rewritten_whole() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let bytes = wat::parse_str(MODULE).unwrap();
    let cache = cache(dir.path(), [1; 32], RUNNER);
    load(&cache, &engine, &bytes);
    let path = cache.entry_path(&engine, SETTINGS, VERSION, &bytes);
    let good = fs::read(&path).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x80;
    fs::write(&path, &bad).unwrap();
    assert_eq!(
        load(&cache, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Mac,
            stored: true
        }
    );
    // Compiling is deterministic, so the rewritten entry is the first one.
    assert_eq!(fs::read(&path).unwrap(), good);
    assert_eq!(load(&cache, &engine, &bytes), Source::Cache);
    fs::write(&path, &good[..good.len() / 3]).unwrap();
    assert_eq!(
        load(&cache, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Mac,
            stored: true
        }
    );
    fs::write(&path, b"").unwrap();
    assert!(matches!(
        load(&cache, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Truncated,
            ..
        }
    ));
    assert_eq!(load(&cache, &engine, &bytes), Source::Cache);
}

#[test]
fn an_entry_of_another_runner_settings_or_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let bytes = wat::parse_str(MODULE).unwrap();
    let ours = cache(dir.path(), [1; 32], RUNNER);
    load(&ours, &engine, &bytes);
    let entry = fs::read(ours.entry_path(&engine, SETTINGS, VERSION, &bytes)).unwrap();

    // Another runner build: the same secret, a valid MAC, the wrong binding.
    let other_runner = cache(dir.path(), [1; 32], [10; 32]);
    let target = other_runner.entry_path(&engine, SETTINGS, VERSION, &bytes);
    fs::write(&target, &entry).unwrap();
    assert_eq!(
        load(&other_runner, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Bound("runner build"),
            stored: true
        }
    );

    // Other engine settings.
    let target = ours.entry_path(&engine, [8; 32], VERSION, &bytes);
    fs::write(&target, &entry).unwrap();
    let (_, source) = ours
        .load_or_compile(&engine, [8; 32], VERSION, &bytes)
        .unwrap();
    assert!(matches!(
        source,
        Source::Compiled {
            refused: Refusal::Bound("engine settings"),
            ..
        }
    ));

    // Another module's entry under this module's name.
    let other =
        wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 43))"#).unwrap();
    fs::write(ours.entry_path(&engine, SETTINGS, VERSION, &other), &entry).unwrap();
    let (_, source) = ours
        .load_or_compile(&engine, SETTINGS, VERSION, &other)
        .unwrap();
    assert!(matches!(
        source,
        Source::Compiled {
            refused: Refusal::Bound("module"),
            ..
        }
    ));

    // Another station's secret.
    let theirs_dir = tempfile::tempdir().unwrap();
    let theirs = cache(theirs_dir.path(), [2; 32], RUNNER);
    load(&theirs, &engine, &bytes);
    let planted = fs::read(theirs.entry_path(&engine, SETTINGS, VERSION, &bytes)).unwrap();
    fs::write(ours.entry_path(&engine, SETTINGS, VERSION, &bytes), planted).unwrap();
    assert_eq!(
        load(&ours, &engine, &bytes),
        Source::Compiled {
            refused: Refusal::Mac,
            stored: true
        }
    );
    assert_eq!(load(&ours, &engine, &bytes), Source::Cache);
}

#[test]
fn the_secret_is_created_once_private_and_reread() {
    let dir = tempfile::tempdir().unwrap();
    let path = StationSecret::path_for_key(&dir.path().join("station.key"));
    assert_eq!(path, dir.path().join("station.cache-key"));
    let made = StationSecret::load_or_create(&path).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), SECRET_LEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = StationSecret::load_or_create(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes, "an existing key is kept");
    assert_eq!(made.mac_key, again.mac_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            StationSecret::load(&path),
            Err(CacheError::Secret { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::write(&path, [0u8; 31]).unwrap();
    assert!(matches!(
        StationSecret::load(&path),
        Err(CacheError::Secret { .. })
    ));
}

#[test]
fn an_unknown_runner_digest_gets_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        ModuleCache::open(dir.path(), StationSecret::from_bytes(&[1; 32]), [0; 32]),
        Err(CacheError::UnknownRunner)
    ));
}
