//! One crafted test per segment class that the recorded traces alone would cover (SPEC.md §4):
//! spurious, RTO, after-RTO and tail-loss-probe retransmissions, out-of-order, window full; and
//! a FIN before any SYN-ACK, which no row of the state table fits at either end.
//!
//! Every scenario starts from `established()` (capture near the client: SYN→SYN-ACK 50 ms,
//! SYN-ACK→ACK 1 ms), so the client's segments are seen as sent and the server's as received.

use tcpflow_audit::analysis::{RetransKind, SegClass};

use crate::harness::*;

/// `len` bytes from the client at relative sequence `rel`.
fn client_data(rel: u32, len: u32) -> Segment {
    Segment {
        seq: c(rel),
        flags: PSH_ACK,
        payload_len: len,
        ..CLIENT_SEG
    }
}

/// `len` bytes from the server at relative sequence `rel`.
fn server_data(rel: u32, len: u32) -> Segment {
    Segment {
        seq: s(rel),
        flags: PSH_ACK,
        payload_len: len,
        ..SERVER_SEG
    }
}

/// The handshake (frames 1–3), recording every segment's class.
fn handshake() -> Capture {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap
}

/// Three 100-byte segments from the client at 100 ms (frames 4, 5, 6).
fn three_segments_sent() -> Capture {
    let mut cap = handshake();
    for rel in [1, 101, 201] {
        cap.at(100, client_data(rel, 100));
    }
    cap
}

#[test]
fn spurious_retransmission_resends_acknowledged_data() {
    let mut cap = three_segments_sent();
    let ack = Segment {
        ack: c(301),
        ..SERVER_SEG
    };
    cap.at(150, ack);
    let resent = cap.at(400, client_data(1, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(
        class_of(&conn, resent),
        SegClass::Retransmission(RetransKind::Spurious)
    );
    assert_eq!(conn.dirs[C].stats.spurious_retransmissions, 1);
    assert_eq!(conn.dirs[C].stats.retransmissions, 1);
    assert_eq!(
        events(&conn, EventKind::Retransmission),
        [(Some(resent), Some(C))]
    );
}

#[test]
fn rto_then_after_rto_in_loss_recovery() {
    // Nothing acknowledged: the head is resent 300 ms later (RTO floor 200 ms), then the next
    // segment at once, in the loss recovery that timeout started (Linux's TCPSlowStartRetrans).
    let mut cap = three_segments_sent();
    let head = cap.at(400, client_data(1, 100));
    let next = cap.at(401, client_data(101, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(
        class_of(&conn, head),
        SegClass::Retransmission(RetransKind::Rto)
    );
    assert_eq!(
        class_of(&conn, next),
        SegClass::Retransmission(RetransKind::AfterRto)
    );
    let st = conn.dirs[C].stats;
    assert_eq!(
        (st.rto_retransmissions, st.after_rto_retransmissions),
        (1, 1)
    );
}

#[test]
fn tail_loss_probe_resends_the_last_segment() {
    // The first segment is acknowledged after 50 ms (SRTT 50 ms, RTO 200 ms); the last is resent
    // 110 ms after the peer last spoke: more than 1.5 SRTT, less than 0.8 RTO (RFC 8985 §7).
    let mut cap = three_segments_sent();
    let ack = Segment {
        ack: c(101),
        ..SERVER_SEG
    };
    cap.at(150, ack);
    let probe = cap.at(260, client_data(201, 100));
    let conn = cap.finish_one(1000);
    assert_eq!(
        class_of(&conn, probe),
        SegClass::Retransmission(RetransKind::TailLossProbe)
    );
    assert_eq!(conn.dirs[C].stats.tail_loss_probes, 1);
}

#[test]
fn out_of_order_fills_a_gap_sooner_than_a_round_trip() {
    // Away from the sender (the server), a gap filled 1 ms after it opened was reordered: a
    // resent segment needs a round trip (51 ms here) to come.
    let mut cap = handshake();
    let ahead = cap.at(100, server_data(101, 100));
    let late = cap.at(101, server_data(1, 100));
    let conn = cap.finish_one(1000);
    assert!(
        conn.timeline.as_ref().unwrap()[ahead as usize - 1]
            .seg_flags
            .prev_not_captured
    );
    assert_eq!(class_of(&conn, late), SegClass::OutOfOrder);
    assert_eq!(conn.dirs[S].stats.out_of_order, 1);
    assert_eq!(conn.dirs[S].stats.retransmissions, 0);
    assert_eq!(
        events(&conn, EventKind::OutOfOrder),
        [(Some(late), Some(S))]
    );
}

#[test]
fn out_of_order_needs_the_gap_to_be_young() {
    // The same gap filled 200 ms later: a retransmission, not reordering.
    let mut cap = handshake();
    cap.at(100, server_data(101, 100));
    let late = cap.at(300, server_data(1, 100));
    let conn = cap.finish_one(1000);
    assert!(matches!(class_of(&conn, late), SegClass::Retransmission(_)));
    assert_eq!(conn.dirs[S].stats.out_of_order, 0);
}

#[test]
fn window_full_reaches_the_right_edge_exactly() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    // The client's handshake ACK advertises 1000 bytes.
    cap.at(
        51,
        Segment {
            window: 1000,
            ..C_ACK
        },
    );
    let short = cap.at(100, server_data(1, 600));
    let full = cap.at(100, server_data(601, 400));
    let conn = cap.finish_one(1000);
    let flags_of = |frame: u64| {
        conn.timeline
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.frame == frame)
            .unwrap()
            .seg_flags
    };
    assert!(!flags_of(short).window_full);
    assert!(flags_of(full).window_full);
    assert_eq!(conn.dirs[S].stats.window_full, 1);
    assert_eq!(
        events(&conn, EventKind::WindowFull),
        [(Some(full), Some(S))]
    );
}

#[test]
fn fin_before_any_syn_ack_is_unexpected_at_both_ends() {
    let mut cap = Capture::new();
    cap.at(0, C_SYN);
    let fin = cap.at(
        300,
        Segment {
            flags: TcpFlags(TcpFlags::FIN),
            ack: SeqNumber(0),
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(
        events(&conn, EventKind::Unexpected),
        [(Some(fin), Some(C)), (Some(fin), Some(S))]
    );
    assert_eq!(states(&conn.ends[C]), [SynSent, FinWait1]);
    assert_eq!(states(&conn.ends[S]), []);
}
