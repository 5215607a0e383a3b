//! The TIME-WAIT state, and what the tracker does around it.

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// Tests for the TIME-WAIT state
// ---------------------------------------------------------------------------------------------

#[test]
fn time_wait_retransmitted_fin() {
    // The client's last ACK (frame 7) was lost beyond the capture point: the server resends
    // its FIN, which reaches the client in TIME_WAIT; the client acknowledges it again.
    let mut cap = time_wait();
    cap.at(360, Segment { ack: c(2), ..S_FIN });
    cap.at(
        361,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(
        events(&conn, EventKind::TimeWaitSegment).first(),
        Some(&(Some(8), Some(S)))
    );
    assert_eq!(conn.dirs[S].stats.fin_retransmissions, 1);
    assert_eq!(conn.dirs[S].stats.retransmissions, 1);
    assert_eq!(
        events(&conn, EventKind::FinRetransmission),
        [(Some(8), Some(S))]
    );
    // TIME_WAIT is not restarted as a new state and nothing else changes.
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(conn.ends[C].transitions.len(), 5);
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_expires_after_duration() {
    // TIME_WAIT entered at 160 ms (frame 6); the capture ends 61 s later.
    let conn = time_wait().finish_one(61_160);
    let last = *conn.ends[C].transitions.last().unwrap();
    assert_eq!((last.from, last.to), (TimeWait, Closed));
    assert_eq!(last.frame, None);
    assert!(last.inferred);
    assert_eq!(last.ts, ts(60_160));
    assert_eq!(conn.ends[C].state, Closed);
    // It was held, even though it is over.
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_still_held_at_capture_end() {
    let conn = time_wait().finish_one(59_160);
    assert_eq!(conn.ends[C].state, TimeWait);
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_expired_new_syn_is_new_connection() {
    // 70 s after TIME_WAIT began, the client reuses its port with a fresh ISN.
    let mut cap = time_wait();
    cap.at(
        70_160,
        Segment {
            seq: SeqNumber(0x0000_2000),
            ..C_SYN
        },
    );
    let conns = cap.finish(71_000);
    assert_eq!(conns.len(), 2);
    let (old, new) = (&conns[0], &conns[1]);
    let last = *old.ends[C].transitions.last().unwrap();
    assert_eq!((last.from, last.to, last.frame), (TimeWait, Closed, None));
    assert!(last.inferred);
    assert_eq!(last.ts, ts(60_160));
    assert!(old.reused_by.is_none());
    assert!(new.reuse.is_none());
    assert_eq!(steps(&new.ends[C]), [(SynSent, Some(8))]);
}

/// The server holds TIME_WAIT (frame 6, 151 ms); 1 s later the client sends `syn` (frame 8),
/// and the server answers with a SYN-ACK (frame 9) and the client ACKs (frame 10) if `accept`.
fn reuse_of_server_time_wait(
    client_tsval: Option<u32>,
    syn: Segment,
    accept: bool,
) -> (Connection, Connection) {
    let mut cap = server_time_wait(client_tsval);
    let f8 = cap.at(1151, syn);
    assert_eq!(f8, 8);
    if accept {
        const NEW_SERVER_ISN: SeqNumber = SeqNumber(0x5000_0000);
        cap.at(
            1200,
            Segment {
                seq: NEW_SERVER_ISN,
                ack: syn.seq + 1,
                ..S_SYN_ACK
            },
        );
        cap.at(
            1201,
            Segment {
                seq: syn.seq + 1,
                ack: NEW_SERVER_ISN + 1,
                ..C_ACK
            },
        );
    }
    let mut conns = cap.finish(2000);
    assert_eq!(conns.len(), 2, "the SYN starts a second incarnation");
    let new = conns.pop().unwrap();
    let old = conns.pop().unwrap();
    // The old incarnation's holder left TIME_WAIT at the new SYN's frame.
    assert_eq!(old.reused_by, Some((new.id, ts(1151), 8)));
    let last = *old.ends[S].transitions.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.frame, last.inferred),
        (TimeWait, Closed, Some(8), false)
    );
    assert_eq!(last.ts, ts(1151));
    assert_eq!(events(&old, EventKind::Reuse).len(), 1);
    let reuse = new.reuse.as_ref().expect("the reuse is recorded");
    assert_eq!(reuse.previous, old.id);
    assert_eq!(reuse.holder, S);
    assert_eq!(reuse.holder_addr, SERVER);
    assert!(
        (reuse.held_for_s - 1.0).abs() < 1e-6,
        "{}",
        reuse.held_for_s
    );
    assert_eq!(events(&new, EventKind::Reuse), [(Some(8), Some(C))]);
    (old, new)
}

#[test]
fn time_wait_syn_reuse_isn_above_is_acceptable() {
    // The old client's last sequence number is c(2) = 0xFFFF_FF02; 0x0000_2000 is above it
    // on the circle although below it as a raw u32.
    let syn = Segment {
        seq: SeqNumber(0x0000_2000),
        ..C_SYN
    };
    let (_, new) = reuse_of_server_time_wait(None, syn, true);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(reuse.acceptable, "{}", reuse.reason);
    assert_eq!(reuse.outcome.name(), "accepted (SYN-ACK)");
    assert_eq!(
        steps(&new.ends[C]),
        [(SynSent, Some(8)), (Established, Some(10))]
    );
    assert_eq!(
        steps(&new.ends[S]),
        [(SynReceived, Some(9)), (Established, Some(10))]
    );
    assert!(new.handshake.valid());
}

#[test]
fn time_wait_syn_reuse_isn_below_is_not_acceptable() {
    let syn = Segment {
        seq: SeqNumber(0xFFFF_0000),
        ..C_SYN
    };
    let (_, new) = reuse_of_server_time_wait(None, syn, false);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(!reuse.acceptable, "{}", reuse.reason);
    assert_eq!(reuse.outcome.name(), "no answer in the capture");
}

#[test]
fn time_wait_syn_reuse_tsval_greater_is_acceptable() {
    // RFC 6191: with timestamps the TSval decides, even for an ISN below the old sequence.
    let syn = with_tsval(
        Segment {
            seq: SeqNumber(0xFFFF_0000),
            ..C_SYN
        },
        2000,
    );
    let (_, new) = reuse_of_server_time_wait(Some(1000), syn, true);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(reuse.acceptable, "{}", reuse.reason);
}

#[test]
fn time_wait_syn_reuse_tsval_not_greater_is_not_acceptable() {
    let syn = with_tsval(
        Segment {
            seq: SeqNumber(0x0000_2000),
            ..C_SYN
        },
        900,
    );
    let (_, new) = reuse_of_server_time_wait(Some(1000), syn, false);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(!reuse.acceptable, "{}", reuse.reason);
}

/// Events stop at `MAX_EVENTS` a connection; the rest are counted, never lost: here one data
/// segment resent 400 times, each resend a retransmission event.
#[test]
fn events_beyond_the_cap_are_counted_not_kept() {
    use tcpflow_audit::conn::MAX_EVENTS;
    let data = Segment {
        flags: PSH_ACK,
        payload_len: 100,
        ..CLIENT_SEG
    };
    let uncapped = {
        let mut cap = established();
        cap.at(100, data);
        cap.finish_one(1000).events.len()
    };
    let mut cap = established();
    cap.at(100, data);
    for i in 0..400 {
        cap.at(1000 + i * 1000, data);
    }
    let conn = cap.finish_one(500_000);
    assert_eq!(conn.dirs[C].stats.retransmissions, 400);
    assert_eq!(conn.events.len(), MAX_EVENTS);
    assert_eq!(
        conn.events.len() + conn.events.dropped() as usize,
        uncapped + 400
    );
    assert!(conn.events.anomaly_count() >= 400);
}

// ---------------------------------------------------------------------------------------------
// A RST reaching TIME_WAIT (issue #14, cause 6): Linux's default ends it, RFC 1337 keeps it
// ---------------------------------------------------------------------------------------------

/// `time_wait()`, tracked with `options`.
fn time_wait_with(options: TrackOptions) -> Capture {
    let mut cap = Capture {
        tracker: Tracker::new(TimelineSelect::None, TIME_WAIT_S).with_options(options),
        frame: 0,
    };
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(100, C_FIN);
    cap.at(
        150,
        Segment {
            ack: c(2),
            ..SERVER_SEG
        },
    );
    cap.at(160, Segment { ack: c(2), ..S_FIN });
    cap.at(161, Segment { ack: s(2), ..C_ACK });
    cap
}

/// The server's RST at `seq` (relative), 1 s into the client's TIME_WAIT.
fn rst_at(rel: u32) -> Segment {
    Segment {
        seq: s(rel),
        flags: RST,
        ack: SeqNumber(0),
        ..SERVER_SEG
    }
}

#[test]
fn time_wait_in_window_rst_ends_it_as_linux_does_by_default() {
    // net.ipv4.tcp_rfc1337 = 0: a RST at exactly RCV.NXT ends TIME_WAIT at once.
    let mut cap = time_wait_with(TrackOptions::default());
    let rst = cap.at(1161, rst_at(2));
    let conn = cap.finish_one(2000);
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(Closed, Some(rst))));
    assert_eq!(conn.time_wait_holders().count(), 0);
    let detail = &conn
        .events
        .iter()
        .find(|e| e.kind == EventKind::Reset)
        .unwrap()
        .detail;
    assert!(detail.contains("ends the peer's TIME_WAIT"), "{detail}");
    assert!(
        !conn.events.iter().any(|e| e.detail.contains("ignores it")),
        "no event may say Linux ignores it"
    );
}

#[test]
fn time_wait_in_window_rst_is_ignored_with_rfc1337() {
    let mut cap = time_wait_with(TrackOptions {
        rfc1337: true,
        ..TrackOptions::default()
    });
    cap.at(1161, rst_at(2));
    let conn = cap.finish_one(2000);
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(conn.time_wait_holders().collect::<Vec<_>>(), [C]);
    assert!(
        conn.events
            .iter()
            .any(|e| e.detail.contains("ignored in TIME_WAIT (RFC 1337"))
    );
}

#[test]
fn time_wait_rst_not_at_rcv_nxt_is_ignored_even_by_linux() {
    // tcp_timewait_state_process takes a RST only at exactly RCV.NXT.
    let mut cap = time_wait_with(TrackOptions::default());
    cap.at(1161, rst_at(3));
    let conn = cap.finish_one(2000);
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(events(&conn, EventKind::Unexpected), [(Some(8), Some(S))]);
}

// ---------------------------------------------------------------------------------------------
// A D-SACK reaching TIME_WAIT is not read (Linux's timewait socket parses options for PAWS only)
// ---------------------------------------------------------------------------------------------

/// The server closes first and resends its FIN once (frame 5) before the client's ACK of it
/// (frame 6); the client's reply to the duplicate FIN carries a D-SACK for it. With
/// `fin_first`, the client's FIN (frame 7) goes before that reply and puts the server in
/// TIME_WAIT; otherwise the reply (frame 7) reaches the server in FIN_WAIT_2. Returns the
/// connection and the reply's frame.
fn dsack_for_a_resent_fin(fin_first: bool) -> (Connection, u64) {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(100, S_FIN);
    cap.at(130, S_FIN);
    cap.at(150, Segment { ack: s(2), ..C_ACK });
    let mut options = NO_OPTIONS;
    options.sack[0] = SackBlock {
        left: s(1),
        right: s(2),
    };
    options.sack_count = 1;
    let reply = Segment {
        ack: s(2),
        options,
        ..C_ACK
    };
    let dsack = if fin_first {
        cap.at(151, Segment { ack: s(2), ..C_FIN });
        cap.at(152, Segment { seq: c(2), ..reply })
    } else {
        let at = cap.at(151, reply);
        cap.at(152, Segment { ack: s(2), ..C_FIN });
        at
    };
    cap.at(
        200,
        Segment {
            seq: s(2),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    (cap.finish_one(1000), dsack)
}

#[test]
fn time_wait_dsack_reaching_it_is_not_read() {
    // The client's FIN put the server in TIME_WAIT before the D-SACK arrived: the client did
    // send it, the server's TCP never read it (kernel fixture tw_rst_rfc1337_1: TCPDSACKRecv 0).
    let (conn, dsack) = dsack_for_a_resent_fin(true);
    assert_eq!(conn.ends[S].state, TimeWait);
    assert_eq!(conn.dirs[S].stats.fin_retransmissions, 1);
    assert_eq!(conn.dirs[C].stats.dsacks_sent, 1);
    assert_eq!(conn.dirs[S].stats.dsacked_retransmissions, 0);
    assert_eq!(events(&conn, EventKind::Dsack), [(Some(dsack), Some(C))]);
    let detail = &conn
        .events
        .iter()
        .find(|e| e.kind == EventKind::Dsack)
        .unwrap()
        .detail;
    assert!(detail.contains("TIME_WAIT"), "{detail}");
}

#[test]
fn fin_wait_2_dsack_is_read() {
    // The same D-SACK before the client's FIN: the server is in FIN_WAIT_2, a full socket that
    // reads SACK blocks.
    let (conn, dsack) = dsack_for_a_resent_fin(false);
    assert_eq!(conn.ends[S].state, TimeWait);
    assert_eq!(conn.dirs[C].stats.dsacks_sent, 1);
    assert_eq!(conn.dirs[S].stats.dsacked_retransmissions, 1);
    assert_eq!(events(&conn, EventKind::Dsack), [(Some(dsack), Some(C))]);
    assert!(
        !conn
            .events
            .iter()
            .any(|e| e.kind == EventKind::Dsack && e.detail.contains("TIME_WAIT"))
    );
}
