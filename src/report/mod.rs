//! Reports: each output format is a writer over the finished [`Audit`](crate::audit::Audit).

pub mod csv;
pub mod graph_data;
pub mod html;
pub mod json;
pub mod table;
pub mod timeline;

use std::net::SocketAddr;

/// `ip:port`, IPv6 as `[addr]:port` (SPEC.md §8).
pub fn endpoint(a: SocketAddr) -> String {
    a.to_string()
}
