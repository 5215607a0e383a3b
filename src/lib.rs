//! tcpflow-audit: the TCP story of every connection in a packet capture.
//!
//! The path of the data is the layout of the code:
//! [`capture`] (reading pcap/pcapng) → [`decode`] (link, IP, TCP into a [`segment::Segment`]) →
//! [`tracker`] (4-tuples and their incarnations) → [`connection`] (per-endpoint [`state`] machines,
//! handshake and close) with [`analysis`] (segment classes) and [`rtt`] → capture-wide
//! [`time_wait`] and [`patterns`] → [`report`] (table, timeline, JSON, HTML) and [`plot`] (SVG
//! pictures). [`audit`] runs the pass.

pub mod analysis;
pub mod audit;
pub mod capture;
pub mod connection;
pub mod decode;
pub mod patterns;
pub mod plot;
pub mod report;
pub mod rtt;
pub mod rules;
pub mod segment;
pub mod select;
pub mod seq;
pub mod state;
pub mod time;
pub mod time_wait;
pub mod tracker;
