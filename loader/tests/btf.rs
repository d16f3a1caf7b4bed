//! The BTF reader: the type model of a clang-built object (testdata's
//! `btf_globals.c`, types worked out from the C), global variables named by
//! BTF, and malformed `.BTF` sections built by hand, each a typed error.

use tinybpf_loader::btf::{Btf, BtfError, Int, Linkage, Member, Type, TypeId};
use tinybpf_loader::{LoadErrorKind, Object};

fn testdata(name: &str) -> Object {
    let path = format!("{}/../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    Object::open(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn global_variables_get_their_names_sections_offsets_sizes_and_types() {
    let object = testdata("btf_globals.o");
    let btf = object.btf.as_ref().expect("clang -g writes .BTF");
    let found: Vec<(&str, &str, u32, u32, String)> = object
        .variables
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.section.as_str(),
                v.offset,
                v.size,
                btf.type_name(v.type_id.unwrap()),
            )
        })
        .collect();
    // From btf_globals.c: .rodata holds config (8 bytes) then limit; .data
    // stats (24 bytes) then total; .bss seen[3] then the static local_hits,
    // aligned to 8. Variables are listed by map (section order), then offset.
    assert_eq!(
        found,
        [
            (
                "config",
                ".rodata",
                0,
                8,
                "const volatile struct config".to_owned()
            ),
            ("limit", ".rodata", 8, 4, "const volatile __u32".to_owned()),
            ("stats", ".data", 0, 24, "struct stats".to_owned()),
            ("total", ".data", 24, 8, "__s64".to_owned()),
            ("seen", ".bss", 0, 12, "__u32[3]".to_owned()),
            ("local_hits", ".bss", 16, 8, "volatile __u64".to_owned()),
        ]
    );
    for variable in &object.variables {
        let map = &object.maps[variable.map_index];
        assert_eq!(map.name, variable.section);
        assert_eq!(
            btf.size_of(variable.type_id.unwrap()).unwrap(),
            variable.size,
            "{}",
            variable.name
        );
        // The section's map value type is its DATASEC.
        let Ok(Type::Datasec { name, .. }) = btf.get(map.value_type.unwrap()) else {
            panic!("{} has no DATASEC", map.name);
        };
        assert_eq!(name, &map.name);
    }
    assert_eq!(object.variable("total").unwrap().map_index, 1);
}

#[test]
fn the_type_model_has_members_bitfields_signedness_and_arrays() {
    let object = testdata("btf_globals.o");
    let btf = object.btf.as_ref().unwrap();
    let config = object.variable("config").unwrap().type_id.unwrap();
    // const -> volatile -> struct config
    let Ok(Type::Const { target }) = btf.get(config) else {
        panic!("config is const");
    };
    assert!(matches!(btf.get(*target), Ok(Type::Volatile { .. })));
    let (_, Type::Struct(layout)) = btf.resolved(config).unwrap() else {
        panic!("config is a struct");
    };
    assert_eq!((layout.name.as_deref(), layout.size), (Some("config"), 8));
    let members: Vec<(&str, u32, Option<u8>, String)> = layout
        .members
        .iter()
        .map(|m: &Member| {
            (
                m.name.as_deref().unwrap(),
                m.bit_offset,
                m.bitfield_size,
                btf.type_name(m.type_id),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("scale", 0, None, "__u32".to_owned()),
            ("offset", 32, None, "__s16".to_owned()),
            ("flags", 48, None, "__u8".to_owned()),
            ("mode", 56, Some(3), "__u8".to_owned()),
            ("verbose", 59, Some(1), "__u8".to_owned()),
        ]
    );
    assert_eq!(layout.member("verbose").unwrap().byte_offset(), None);
    assert_eq!(layout.member("flags").unwrap().byte_offset(), Some(6));
    // __s16 is a typedef of a signed 2-byte int; __u8 of an unsigned char.
    let offset = layout.member("offset").unwrap().type_id;
    let (_, Type::Int(short)) = btf.resolved(offset).unwrap() else {
        panic!("__s16 resolves to an int");
    };
    assert_eq!(
        short,
        &Int {
            name: "short".to_owned(),
            size: 2,
            signed: true,
            char: false,
            bool: false,
            bits: 16,
            bit_offset: 0,
        }
    );
    let flags = layout.member("flags").unwrap().type_id;
    let (_, Type::Int(byte)) = btf.resolved(flags).unwrap() else {
        panic!("__u8 resolves to an int");
    };
    assert!(!byte.signed && byte.size == 1);
    // struct stats { __u64 runs; __s32 last; __u16 hist[4]; }
    let stats = object.variable("stats").unwrap().type_id.unwrap();
    let (_, Type::Struct(stats_struct)) = btf.resolved(stats).unwrap() else {
        panic!("stats is a struct");
    };
    let hist = stats_struct.member("hist").unwrap();
    assert_eq!(hist.byte_offset(), Some(12));
    let Ok(Type::Array(array)) = btf.get(hist.type_id) else {
        panic!("hist is an array");
    };
    assert_eq!(array.len, 4);
    assert_eq!(btf.type_name(array.elem), "__u16");
    assert_eq!(btf.size_of(hist.type_id).unwrap(), 8);
    // The program is a FUNC with a prototype.
    let program = btf
        .types()
        .find(|(_, t)| t.name() == Some("btf_globals") && t.kind_name() == "FUNC")
        .map(|(_, t)| t.clone())
        .unwrap();
    let Type::Func { proto, linkage, .. } = program else {
        unreachable!()
    };
    assert_eq!(linkage, Linkage::Global);
    assert_eq!(btf.type_name(proto), "int (void *)");
}

// ---- hand-built .BTF sections ----------------------------------------------

/// Builds a `.BTF` section: types as raw words, names in a string table.
#[derive(Default)]
struct Builder {
    types: Vec<u32>,
    strings: Vec<u8>,
}

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const FUNC_PROTO: u32 = 13;

impl Builder {
    fn new() -> Builder {
        Builder {
            types: Vec::new(),
            strings: vec![0],
        }
    }

    fn name(&mut self, name: &str) -> u32 {
        let at = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        at
    }

    /// Adds a type record: name offset, kind, vlen, kind flag, size or type, then `extra` words.
    fn ty(&mut self, name: u32, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        self.types.extend([name, (kind << 24) | vlen, size_or_type]);
        self.types.extend_from_slice(extra);
        self.types.len() as u32 // not the id: callers count ids themselves
    }

    fn int(&mut self, name: &str, size: u32, signed: bool) {
        let name = self.name(name);
        let encoding = (u32::from(signed) << 24) | (size * 8);
        self.ty(name, INT, 0, size, &[encoding]);
    }

    fn build(&self) -> Vec<u8> {
        let types: Vec<u8> = self.types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for word in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(&self.strings);
        out
    }
}

fn parse(builder: &Builder) -> Result<Btf, BtfError> {
    Btf::parse(&builder.build())
}

#[test]
fn a_hand_built_section_parses() {
    let mut b = Builder::new();
    b.int("int", 4, true); // 1
    b.ty(0, PTR, 0, 1, &[]); // 2: int *
    b.ty(0, ARRAY, 0, 0, &[1, 1, 5]); // 3: int[5]
    let name = b.name("pair");
    let first = b.name("first");
    let second = b.name("second");
    b.ty(name, STRUCT, 2, 16, &[first, 1, 0, second, 2, 64]); // 4
    let btf = parse(&b).unwrap();
    assert_eq!(btf.len(), 5);
    assert_eq!(btf.size_of(TypeId(3)).unwrap(), 20);
    assert_eq!(btf.size_of(TypeId(2)).unwrap(), 8);
    assert_eq!(btf.size_of(TypeId(4)).unwrap(), 16);
    assert_eq!(btf.type_name(TypeId(2)), "int *");
    assert_eq!(btf.type_name(TypeId(3)), "int[5]");
    assert_eq!(btf.type_name(TypeId(4)), "struct pair");
    assert_eq!(
        btf.size_of(TypeId(0)),
        Err(BtfError::NotSized {
            id: 0,
            kind: "VOID"
        })
    );
    assert_eq!(btf.get(TypeId(5)), Err(BtfError::NoSuchType { id: 5 }));
}

#[test]
fn malformed_headers_are_typed_errors() {
    let good = {
        let mut b = Builder::new();
        b.int("int", 4, true);
        b.build()
    };
    assert_eq!(
        Btf::parse(&good[..10]),
        Err(BtfError::Truncated {
            needed: 24,
            available: 10
        })
    );
    let with = |at: usize, bytes: &[u8]| {
        let mut data = good.clone();
        data[at..at + bytes.len()].copy_from_slice(bytes);
        Btf::parse(&data)
    };
    assert_eq!(
        with(0, &[0xeb, 0x9f]),
        Err(BtfError::BadMagic { magic: 0x9feb })
    );
    assert!(matches!(
        with(2, &[2]),
        Err(BtfError::BadHeader {
            field: "version",
            ..
        })
    ));
    assert!(matches!(
        with(3, &[1]),
        Err(BtfError::BadHeader { field: "flags", .. })
    ));
    assert!(matches!(
        with(4, &8u32.to_le_bytes()),
        Err(BtfError::BadHeader {
            field: "hdr_len",
            ..
        })
    ));
    // The string section past the end, and an offset that overflows.
    assert!(matches!(
        with(16, &1000u32.to_le_bytes()),
        Err(BtfError::OutOfSection {
            what: "string section",
            offset: 1000,
            ..
        })
    ));
    assert!(matches!(
        with(20, &u32::MAX.to_le_bytes()),
        Err(BtfError::OutOfSection {
            what: "string section",
            ..
        })
    ));
    // Types and strings overlapping.
    assert!(matches!(
        with(16, &0u32.to_le_bytes()),
        Err(BtfError::BadHeader {
            field: "str_off",
            ..
        })
    ));
    // A string section that does not end with NUL.
    let mut cut = good.clone();
    *cut.last_mut().unwrap() = b'x';
    assert!(matches!(Btf::parse(&cut), Err(BtfError::BadStrings { .. })));
}

#[test]
fn malformed_types_are_typed_errors() {
    // An unknown kind.
    let mut b = Builder::new();
    b.ty(0, 25, 0, 0, &[]);
    assert_eq!(parse(&b), Err(BtfError::UnknownKind { id: 1, kind: 25 }));
    // An absurd count: a struct of 65535 members with the bytes of one.
    let mut b = Builder::new();
    b.int("int", 4, true);
    b.ty(0, STRUCT, 0xffff, 4, &[0, 1, 0]);
    assert_eq!(
        parse(&b),
        Err(BtfError::TruncatedType {
            id: 2,
            needed: 0xffff * 12,
            available: 12
        })
    );
    // A record cut in the middle of its header.
    let mut b = Builder::new();
    b.types.extend([0, INT << 24]);
    assert!(matches!(
        parse(&b),
        Err(BtfError::TruncatedType { id: 1, .. })
    ));
    // A reference to a type that does not exist.
    let mut b = Builder::new();
    b.ty(0, PTR, 0, 7, &[]);
    assert_eq!(
        parse(&b),
        Err(BtfError::BadTypeRef {
            id: 1,
            referenced: 7,
            count: 2
        })
    );
    // A member beyond its struct (a bad offset).
    let mut b = Builder::new();
    b.int("int", 4, true);
    let name = b.name("m");
    b.ty(0, STRUCT, 1, 4, &[name, 1, 64]);
    assert!(matches!(parse(&b), Err(BtfError::BadType { id: 2, .. })));
    // An int wider than its size, and one of an impossible size.
    let mut b = Builder::new();
    let name = b.name("int");
    b.ty(name, INT, 0, 4, &[40]);
    assert!(matches!(parse(&b), Err(BtfError::BadType { id: 1, .. })));
    let mut b = Builder::new();
    let name = b.name("int");
    b.ty(name, INT, 0, 3, &[24]);
    assert!(matches!(parse(&b), Err(BtfError::BadType { id: 1, .. })));
    // A name offset past the strings; a typedef without a name.
    let mut b = Builder::new();
    b.ty(500, PTR, 0, 0, &[]);
    assert!(matches!(
        parse(&b),
        Err(BtfError::BadName {
            id: 1,
            offset: 500,
            ..
        })
    ));
    let mut b = Builder::new();
    b.ty(0, TYPEDEF, 0, 0, &[]);
    assert_eq!(
        parse(&b),
        Err(BtfError::MissingName {
            id: 1,
            kind: "TYPEDEF"
        })
    );
}

#[test]
fn loops_and_long_chains_are_errors_not_hangs() {
    // typedef t t; const -> volatile -> const; an array of itself.
    let mut b = Builder::new();
    let name = b.name("t");
    b.ty(name, TYPEDEF, 0, 1, &[]); // 1: typedef of itself
    b.ty(0, CONST, 0, 3, &[]); // 2: const (3)
    b.ty(0, VOLATILE, 0, 2, &[]); // 3: volatile (2)
    b.ty(0, ARRAY, 0, 0, &[4, 4, 2]); // 4: array of itself
    b.ty(0, PTR, 0, 2, &[]); // 5: pointer into the loop
    let btf = parse(&b).expect("loops are found when types are used");
    assert_eq!(btf.skip_modifiers(TypeId(1)), Err(BtfError::Loop { id: 1 }));
    assert_eq!(btf.size_of(TypeId(2)), Err(BtfError::Loop { id: 2 }));
    assert_eq!(btf.size_of(TypeId(4)), Err(BtfError::Loop { id: 4 }));
    // A pointer's size does not need its pointee.
    assert_eq!(btf.size_of(TypeId(5)), Ok(8));
    assert!(btf.type_name(TypeId(5)).contains("..."));

    // A chain of 40 typedefs is too deep; one of 30 resolves.
    let mut b = Builder::new();
    b.int("int", 4, true);
    for id in 2..=41u32 {
        let name = b.name(&format!("t{id}"));
        b.ty(name, TYPEDEF, 0, id - 1, &[]);
    }
    let btf = parse(&b).unwrap();
    assert_eq!(btf.skip_modifiers(TypeId(31)), Ok(TypeId(1)));
    assert_eq!(btf.size_of(TypeId(41)), Err(BtfError::TooDeep { id: 41 }));
}

#[test]
fn absurd_sizes_are_errors() {
    let mut b = Builder::new();
    b.int("long", 8, true); // 1
    b.ty(0, ARRAY, 0, 0, &[1, 1, u32::MAX]); // 2: long[4294967295]
    b.ty(0, ARRAY, 0, 0, &[2, 1, u32::MAX]); // 3: of those
    b.ty(0, FUNC_PROTO, 0, 1, &[]); // 4: long (void)
    let btf = parse(&b).unwrap();
    assert_eq!(
        btf.size_of(TypeId(2)),
        Err(BtfError::SizeOverflow { id: 2 })
    );
    assert_eq!(
        btf.size_of(TypeId(3)),
        Err(BtfError::SizeOverflow { id: 3 })
    );
    assert_eq!(
        btf.size_of(TypeId(4)),
        Err(BtfError::NotSized {
            id: 4,
            kind: "FUNC_PROTO"
        })
    );
}

#[test]
fn a_malformed_btf_section_names_the_file() {
    // btf_globals.o with the .BTF string section offset pushed past the end.
    let path = format!("{}/../testdata/btf_globals.o", env!("CARGO_MANIFEST_DIR"));
    let mut bytes = std::fs::read(path).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    let btf = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".BTF"))
        .unwrap()
        .sh_offset as usize;
    bytes[btf + 16..btf + 20].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let err = Object::parse("broken.o", &bytes).unwrap_err();
    assert!(
        matches!(
            err.kind,
            LoadErrorKind::Btf(BtfError::OutOfSection {
                what: "string section",
                ..
            })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("broken.o: section .BTF: the string section"),
        "{err}"
    );
}
