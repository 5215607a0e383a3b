//! Support for the fuzz targets: the checks every capture must pass ([`check`]) and the
//! structure-aware capture builder ([`craft`]). The pcap, pcapng and packet builders are the
//! integration tests' own (`tests/common/mod.rs`), included rather than copied.

#[path = "../../tests/common/mod.rs"]
pub mod common;

pub mod check;
pub mod craft;
