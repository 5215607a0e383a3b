//! CSV: one row per connection with the table's columns (RFC 4180 quoting).

use std::fmt::Write as _;

use crate::conn::Connection;
use crate::report::endpoint;

pub const HEADER: &str = "id,client,server,start_ts,end_ts,outcome,history,handshake_valid,handshake_rtt_ms,close_initiator,time_wait,reset_by,client_packets,server_packets,client_bytes,server_bytes,client_retransmissions,server_retransmissions,client_dup_acks,server_dup_acks,anomalies";

pub fn row(c: &Connection, digits: u8) -> String {
    let (cl, sv) = (&c.dirs[c.client].stats, &c.dirs[c.server()].stats);
    let rtt = c
        .syn_to_synack_ms()
        .zip(c.synack_to_ack_ms())
        .map(|(a, b)| format!("{:.3}", a + b))
        .unwrap_or_default();
    let mut s = String::new();
    let fields = [
        c.id.to_string(),
        endpoint(c.addrs[c.client]),
        endpoint(c.addrs[c.server()]),
        c.first_ts.display(digits).to_string(),
        c.last_ts.display(digits).to_string(),
        c.conn_state().to_string(),
        c.history(),
        c.handshake_valid().to_string(),
        rtt,
        c.close_initiator().unwrap_or("").to_string(),
        c.time_wait_holder().unwrap_or("").to_string(),
        c.reset_by().unwrap_or("").to_string(),
        cl.packets.to_string(),
        sv.packets.to_string(),
        cl.payload_bytes.to_string(),
        sv.payload_bytes.to_string(),
        cl.retransmissions.to_string(),
        sv.retransmissions.to_string(),
        cl.dup_acks.to_string(),
        sv.dup_acks.to_string(),
        c.anomaly_count().to_string(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if f.contains([',', '"', '\n']) {
            let _ = write!(s, "\"{}\"", f.replace('"', "\"\""));
        } else {
            s.push_str(f);
        }
    }
    s
}
