//! `--ctx-in`: the `__sk_buff` fields user space may set before a run, as
//! `BPF_PROG_TEST_RUN`'s `ctx_in` lets it (a JSON object of field names).

use thiserror::Error;
use tinybpf_vm::exec::ctx::skb::SkbInput;

use crate::json::{CtxValue, SyntaxError, parse_ctx_in};

/// Why a `--ctx-in` document was refused.
#[derive(Debug, Error)]
pub enum CtxInError {
    /// Not the JSON expected.
    #[error("{0}")]
    Syntax(#[from] SyntaxError),
    /// A field the kernel's test run does not let user space set (it
    /// refuses a non-zero value there with EINVAL), or that does not exist.
    #[error(
        "field {0:?} cannot be set (the settable fields: mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp)"
    )]
    NotSettable(String),
    /// A value that is not a number of the field's width, or a `cb` that is
    /// not a list of at most 5 of them.
    #[error("field {field}: {problem}")]
    BadValue {
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A field given twice.
    #[error("field {0:?} is given twice")]
    Duplicate(String),
}

/// Reads a `--ctx-in` document into the fields it sets.
///
/// ```
/// let input = tinybpf::ctx_in::read_ctx_in(r#"{"mark": 5, "cb": [1, 2, 3, 4, 5]}"#).unwrap();
/// assert_eq!((input.mark, input.cb), (5, [1, 2, 3, 4, 5]));
/// assert!(tinybpf::ctx_in::read_ctx_in(r#"{"len": 5}"#).is_err());
/// ```
pub fn read_ctx_in(text: &str) -> Result<SkbInput, CtxInError> {
    let mut input = SkbInput::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in parse_ctx_in(text)? {
        if seen.contains(&name) {
            return Err(CtxInError::Duplicate(name));
        }
        let bad = |problem: String| CtxInError::BadValue {
            field: name.clone(),
            problem,
        };
        match (name.as_str(), &value) {
            ("cb", CtxValue::List(items)) => {
                if items.len() > 5 {
                    return Err(bad(format!("{} values, at most 5", items.len())));
                }
                for (slot, item) in input.cb.iter_mut().zip(items) {
                    *slot = u32::try_from(number(item).map_err(&bad)?)
                        .map_err(|_| bad(format!("{item} does not fit in 32 bits")))?;
                }
            }
            ("tstamp" | "hwtstamp", CtxValue::Number(text)) => {
                let v = number(text).map_err(&bad)?;
                if name == "tstamp" {
                    input.tstamp = v;
                } else {
                    input.hwtstamp = v;
                }
            }
            (
                "mark" | "priority" | "ingress_ifindex" | "ifindex" | "wire_len" | "gso_segs"
                | "gso_size",
                CtxValue::Number(text),
            ) => {
                let v = u32::try_from(number(text).map_err(&bad)?)
                    .map_err(|_| bad(format!("{text} does not fit in 32 bits")))?;
                let slot = match name.as_str() {
                    "mark" => &mut input.mark,
                    "priority" => &mut input.priority,
                    "ingress_ifindex" => &mut input.ingress_ifindex,
                    "ifindex" => &mut input.ifindex,
                    "wire_len" => &mut input.wire_len,
                    "gso_segs" => &mut input.gso_segs,
                    _ => &mut input.gso_size,
                };
                *slot = v;
            }
            ("cb", CtxValue::Number(_)) => {
                return Err(bad("expected a list of up to 5 numbers".to_owned()));
            }
            (
                "mark" | "priority" | "ingress_ifindex" | "ifindex" | "wire_len" | "gso_segs"
                | "gso_size" | "tstamp" | "hwtstamp",
                CtxValue::List(_),
            ) => return Err(bad("expected a number".to_owned())),
            _ => return Err(CtxInError::NotSettable(name)),
        }
        seen.push(name);
    }
    Ok(input)
}

/// A non-negative decimal integer.
fn number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{text} is not a non-negative integer of at most 64 bits"))
}
