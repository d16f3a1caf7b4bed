//! `loader`: arbitrary bytes as an object file. Parsing either fails with a
//! typed error or gives an object whose every program links (or is refused
//! with a typed error); every map says whether it can be created; the BTF
//! types of every map and variable can be named and sized (errors, never
//! hangs). Then, through the facade, every program loads (or is refused)
//! and runs to an end under a small budget, in both lookup modes, over a
//! small input; listings and map dumps never panic.
//!
//! Objects whose maps need more than 16 MiB are only parsed and linked,
//! not opened: creating them is cheap (their memory is zeroed lazily since
//! finding F2 was fixed), but dumping millions of entries would take seconds.
//! Every program is linked, but only the first [`MAX_LOADED_PROGRAMS`] are
//! loaded, listed and run through the facade: the seed corpus's large
//! objects have thousands of programs, and loading each twice under
//! AddressSanitizer would pass the resource mode's time limit by sheer
//! count (linear work, not a finding) while adding no new path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinybpf::vm::RunContext;
use tinybpf::{LoadOptions, Object};

/// Most value-area bytes an object may ask for and still be opened here.
const MAX_MAP_BYTES: u64 = 16 << 20;
/// Most programs of one object loaded, listed and run here.
const MAX_LOADED_PROGRAMS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(linked) = tinybpf::loader::Object::parse("fuzz.o", data) else {
        return;
    };
    let map_bytes: u64 = linked
        .maps
        .iter()
        .map(|m| u64::from(m.def.value_size).saturating_mul(u64::from(m.def.max_entries)))
        .fold(0, u64::saturating_add);
    for program in &linked.programs {
        if let Ok(code) = linked.link_program(program) {
            assert!(code.maps.iter().all(|&m| m < linked.maps.len()));
        }
    }
    for map in &linked.maps {
        let _ = map.cannot_create();
    }
    if let Some(btf) = &linked.btf {
        let types = linked
            .maps
            .iter()
            .flat_map(|m| [m.key_type, m.value_type])
            .chain(linked.variables.iter().map(|v| v.type_id))
            .flatten();
        for type_id in types {
            let _ = btf.type_name(type_id);
            let _ = btf.size_of(type_id);
        }
    }
    if map_bytes > MAX_MAP_BYTES {
        return;
    }
    let Ok(object) = Object::parse("fuzz.o", data) else {
        return;
    };
    let names: Vec<String> = object
        .program_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    for name in names.iter().take(MAX_LOADED_PROGRAMS) {
        for inline_lookups in [true, false] {
            let options = LoadOptions {
                inline_lookups,
                ..LoadOptions::default()
            };
            let Ok(program) = object.program_with(name, options) else {
                continue;
            };
            let _ = tinybpf::listing(&object, &program);
            let mut input = tinybpf::default_packet();
            let mut ctx = RunContext::new().with_budget(10_000);
            let _ = program.run_with(&mut input, &mut ctx);
        }
    }
    let _ = object.select_program(None, LoadOptions::default());
    for map in object.maps() {
        let _ = map.dump(true);
    }
});
