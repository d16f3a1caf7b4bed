//! What a run leaves besides r0 and the maps, as the command line shows it:
//! the redirect target (`bpf_redirect`, `bpf_redirect_map`), by map name.

use std::fmt;

use tinybpf_vm::{Redirect, RunOutcome};

use crate::json::quote;
use crate::object::Program;

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
