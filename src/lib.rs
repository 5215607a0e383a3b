//! tcpflow-audit: the TCP story of every connection in a packet capture.
//!
//! The path of the data is the layout of the code; each behaviour is one hop from here:
//!
//! - [`capture`]: reading pcap and pcapng (gzip, stdin), one record at a time
//!   ([`capture::records`] holds the record loop); several files merged in timestamp order as one
//!   capture ([`capture::read_captures`]); `--write-pcap` ([`capture::write`]).
//! - [`decode`]: link ([`decode::link`]), IP ([`decode::ip`]) and TCP ([`decode::tcp`]) headers
//!   into a [`decode::segment::Segment`], or a skip reason.
//! - [`dedup`]: frames the capture holds twice (a file appended to itself, two interfaces),
//!   left out before tracking.
//! - [`track`]: 4-tuples and their incarnations; when a connection is finished.
//! - [`conn`]: one connection. [`conn::fsm`] is the endpoint state machine as one table
//!   (`step(state, event)`), [`conn::transitions`] decides which segment proves which event,
//!   [`conn::handshake`] the handshake, ISNs and capture point, [`conn::summary`] the typed facts
//!   every report prints (outcome, who closed, who held TIME_WAIT), [`conn::sketch`] what the
//!   pictures keep of a connection while it is read (thinned, bounded).
//! - [`analysis`]: what each segment is. [`analysis::classify`] is a pure function returning a
//!   verdict (how a fast retransmission is told from an RTO is there), [`analysis::count`]
//!   applies it to the counters and events, [`analysis::direction`] is the per-direction state,
//!   [`analysis::rtt`] the RFC 6298 estimator.
//! - [`events`]: the capped event log every connection keeps.
//! - [`time_wait`] and [`patterns`]: the capture-wide reports, fed each finished connection.
//! - [`report`]: the output formats behind one trait (table, timeline, JSON, CSV, HTML), and
//!   [`report::parquet`] (files, not a stream);
//!   [`report::columns`] is the one list of connection fields that the table, CSV, `--fail-on`
//!   ([`rules`]) and `--top-by` ([`select`]) share; [`plot`] draws the SVG pictures.
//! - [`audit`] runs the whole pass.

pub mod analysis;
pub mod audit;
pub mod capture;
pub mod conn;
pub mod decode;
pub mod dedup;
pub mod events;
pub mod fastmap;
pub mod patterns;
pub mod plot;
pub mod report;
pub mod rules;
pub mod select;
pub mod seq;
pub mod time;
pub mod time_wait;
pub mod track;
