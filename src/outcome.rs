//! What a run leaves besides r0 and the maps, as the command line shows it:
//! the redirect target (`bpf_redirect`, `bpf_redirect_map`), by map name,
//! and the events sent to user space (ring buffers, perf event arrays).

use std::fmt;

use tinybpf_maps::{MapType, PerfEvent};
use tinybpf_vm::{Redirect, RunOutcome};

use crate::error::Error;
use crate::json::{hex, quote};
use crate::object::{Object, Program};

/// The records one map carried to user space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The map's name.
    pub map: String,
    /// Each record's bytes, in delivery order: a ring buffer's records as
    /// submitted, a perf event array's raw samples with the kernel's
    /// padding (so that 4 + length is a multiple of 8).
    pub records: Vec<Vec<u8>>,
    /// Perf samples lost because an entry's buffer was full.
    pub lost: u64,
}

/// Attaches a perf event to every entry of the object's perf event arrays
/// that user space left empty (entry `i` to CPU `i`), what a reader such
/// as libbpf's `perf_buffer__new` does before programs run; without it,
/// `bpf_perf_event_output` returns -ENOENT as in the kernel. An array that
/// already has entries (filled by `--maps-in`) is left as it is.
pub fn attach_perf_readers(object: &Object) -> Result<(), Error> {
    for map in object.maps() {
        if map.map_type() == MapType::PerfEventArray && map.bpf_map().entries().next().is_none() {
            map.bpf_map()
                .perf_attach_all()
                .map_err(|source| Error::Map {
                    object: object.name().to_owned(),
                    map: map.name().to_owned(),
                    source,
                })?;
        }
    }
    Ok(())
}

/// Consumes the records `program`'s ring buffers and perf event arrays
/// hold, one log per such map (in the program's map order), as user space
/// reading them after the runs would.
pub fn drain_events(program: &Program) -> Vec<EventLog> {
    let mut logs = Vec::new();
    for map in program.maps() {
        let mut log = EventLog {
            map: map.name().to_owned(),
            records: Vec::new(),
            lost: 0,
        };
        let bpf_map = map.bpf_map();
        // Neither can fail on the map types that reach them.
        match map.map_type() {
            MapType::Ringbuf => {
                let _ = bpf_map.ringbuf_consume(&mut |record| log.records.push(record.to_vec()));
            }
            MapType::PerfEventArray => {
                let _ = bpf_map.perf_drain(&mut |event| match event {
                    PerfEvent::Sample { data, .. } => log.records.push(data),
                    PerfEvent::Lost { count, .. } => log.lost += count,
                });
            }
            _ => continue,
        }
        logs.push(log);
    }
    logs
}

/// `{"MAP": ["HEX", ...], ...}`.
pub(crate) fn events_json(logs: &[EventLog]) -> String {
    let maps: Vec<String> = logs
        .iter()
        .map(|log| {
            let records: Vec<String> = log
                .records
                .iter()
                .map(|r| format!("\"{}\"", hex(r)))
                .collect();
            format!("{}: [{}]", quote(&log.map), records.join(", "))
        })
        .collect();
    format!("{{{}}}", maps.join(", "))
}

/// A run's redirect target with the map named, for output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectReport {
    /// The target as the VM recorded it.
    pub target: Redirect,
    /// The name of the map of a `bpf_redirect_map` target.
    pub map_name: Option<String>,
}

impl RedirectReport {
    /// The target `outcome` records, with its map named from `program`'s
    /// map table; `None` when the run set no target.
    pub fn of(program: &Program, outcome: &RunOutcome) -> Option<RedirectReport> {
        let target = outcome.redirect?;
        let map_name = match target {
            Redirect::Map { map, .. } => program.maps().get(map).map(|m| m.name().to_owned()),
            Redirect::Ifindex { .. } => None,
        };
        Some(RedirectReport { target, map_name })
    }

    /// The target as a JSON object: `{"ifindex": 3, "ingress": false}`, or
    /// `{"map": "tx_ports", "map_type": "devmap", "key": 1, "target": 5,
    /// "broadcast": false, "exclude_ingress": false}` (`target` null for a
    /// broadcast through an empty key).
    pub fn to_json(&self) -> String {
        match self.target {
            Redirect::Ifindex { ifindex, ingress } => {
                format!("{{\"ifindex\": {ifindex}, \"ingress\": {ingress}}}")
            }
            Redirect::Map {
                map_type,
                key,
                target,
                broadcast,
                ..
            } => format!(
                "{{\"map\": {}, \"map_type\": \"{}\", \"key\": {key}, \"target\": {}, \"broadcast\": {}, \"exclude_ingress\": {}}}",
                quote(self.map_name.as_deref().unwrap_or("")),
                map_type.name(),
                target.map_or_else(|| "null".to_owned(), |t| t.to_string()),
                broadcast.is_some(),
                broadcast.is_some_and(|b| b.exclude_ingress),
            ),
        }
    }
}

impl fmt::Display for RedirectReport {
    /// `ifindex 3`, `tx_ports[1] (devmap) -> ifindex 5`, `cpus[0] (cpumap)
    /// -> CPU 0`, `sockets[2] (xskmap) -> socket 77`, `broadcast through
    /// tx_hash (devmap_hash), excluding the ingress device`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (map_type, key, target, broadcast) = match self.target {
            Redirect::Ifindex { ifindex, ingress } => {
                let ingress = if ingress { " (ingress)" } else { "" };
                return write!(f, "ifindex {ifindex}{ingress}");
            }
            Redirect::Map {
                map_type,
                key,
                target,
                broadcast,
                ..
            } => (map_type.name(), key, target, broadcast),
        };
        let name = self.map_name.as_deref().unwrap_or("?");
        if let Some(broadcast) = broadcast {
            let exclude = if broadcast.exclude_ingress {
                ", excluding the ingress device"
            } else {
                ""
            };
            return write!(f, "broadcast through {name} ({map_type}){exclude}");
        }
        let what = match map_type {
            "cpumap" => "CPU",
            "xskmap" => "socket",
            _ => "ifindex",
        };
        match target {
            Some(target) => write!(f, "{name}[{key}] ({map_type}) -> {what} {target}"),
            None => write!(f, "{name}[{key}] ({map_type})"),
        }
    }
}
