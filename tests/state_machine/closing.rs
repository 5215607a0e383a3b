//! The FIN-WAIT-1, CLOSE-WAIT and FIN-WAIT-2 states, and CLOSED after a reset.

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// Tests for the FIN-WAIT-1 state
// ---------------------------------------------------------------------------------------------

#[test]
fn fin_wait_1_ack_goes_to_fin_wait_2() {
    let conn = fin_wait_2().finish_one(155);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(5))]
    );
    assert_eq!(steps(&conn.ends[S])[2..], [(CloseWait, Some(5))]);
    assert_eq!(conn.summary().outcome.name(), "S2");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
}

#[test]
fn fin_wait_1_fin_ack_goes_to_time_wait() {
    // The server's FIN also acknowledges the client's FIN. SPEC.md §2's table folds this into
    // FIN_WAIT_1 → TIME_WAIT; issue 3 expects FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT, which is how
    // RFC 9293 §3.10.7.4 and Linux process it (the ACK, then the FIN), so both steps are
    // recorded at the same frame.
    let mut cap = fin_wait_1();
    cap.at(150, Segment { ack: c(2), ..S_FIN });
    cap.at(
        151,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(5))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (LastAck, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn fin_wait_1_fin_simultaneous_close() {
    // The FINs cross: the server's FIN (frame 5) does not acknowledge the client's (frame 4).
    let mut cap = fin_wait_1();
    cap.at(101, S_FIN);
    cap.at(
        150,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    cap.at(
        151,
        Segment {
            seq: s(2),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);
    // The client gets the FIN that does not ack its own (CLOSING), then the ACK of its FIN.
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (Closing, Some(5)), (TimeWait, Some(7))]
    );
    // The server sent its FIN before the client's arrived (its FIN acks only c(1)), and TCP
    // delivers the client's FIN before the client's later ACK: it passes CLOSING too.
    assert_eq!(
        states(&conn.ends[S])[2..],
        [FinWait1, Closing, TimeWait],
        "{:?}",
        conn.ends[S].transitions
    );
    assert_eq!(conn.ends[S].transitions[2].frame, Some(5));
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("both")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("both")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
}

#[test]
fn fin_wait_1_data_after_fin() {
    let mut cap = fin_wait_1();
    cap.at(
        110,
        Segment {
            flags: PSH_ACK,
            seq: c(2),
            payload_len: 10,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(events(&conn, EventKind::DataAfterFin), [(Some(5), Some(C))]);
    assert_eq!(conn.ends[C].state, FinWait1);
}

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSE-WAIT state
// ---------------------------------------------------------------------------------------------

#[test]
fn close_wait_data_is_a_half_close() {
    // The client closed its half; the server keeps sending (across its wrap at 16 bytes).
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            flags: PSH_ACK,
            ack: c(2),
            payload_len: 100,
            ..SERVER_SEG
        },
    );
    cap.at(
        201,
        Segment {
            seq: c(2),
            ack: s(101),
            ..C_ACK
        },
    );
    cap.at(
        250,
        Segment {
            flags: PSH_ACK,
            seq: s(101),
            ack: c(2),
            payload_len: 100,
            ..SERVER_SEG
        },
    );
    cap.at(
        251,
        Segment {
            seq: c(2),
            ack: s(201),
            ..C_ACK
        },
    );
    cap.at(
        300,
        Segment {
            seq: s(201),
            ack: c(2),
            ..S_FIN
        },
    );
    cap.at(
        301,
        Segment {
            seq: c(2),
            ack: s(202),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(anomalies(&conn), [], "{:#?}", conn.events);
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [
            (CloseWait, Some(5)),
            (LastAck, Some(10)),
            (Closed, Some(11))
        ]
    );
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(10))
        ]
    );
    assert_eq!(conn.dirs[S].stats.payload_bytes, 200);
    assert_eq!(conn.dirs[S].stats.retransmissions, 0);
    assert_eq!(conn.summary().outcome.name(), "SF");
}

// ---------------------------------------------------------------------------------------------
// Tests for the FIN-WAIT-2 state
// ---------------------------------------------------------------------------------------------

#[test]
fn fin_wait_2_rst_after_fin() {
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            flags: RST_ACK,
            ack: c(2),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(300);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.summary().outcome.name(), "RSTR");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
}

#[test]
fn fin_wait_2_new_isn_syn_is_new_connection() {
    // SPEC.md §1: after the old incarnation sent FIN, a SYN with a different ISN is a new one.
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            seq: SeqNumber(0x1234_5678),
            ..C_SYN
        },
    );
    let conns = cap.finish(300);
    assert_eq!(conns.len(), 2);
    let (old, new) = (&conns[0], &conns[1]);
    assert_eq!(old.dirs[C].stats.packets, 3);
    assert_eq!(new.dirs[C].isn, Some(SeqNumber(0x1234_5678)));
    assert_eq!(steps(&new.ends[C]), [(SynSent, Some(6))]);
    assert!(new.reuse.is_none());
    assert!(old.reused_by.is_none());
}

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSED state (after a reset)
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_fin_after_rst_is_anomaly() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST,
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    cap.at(101, S_FIN);
    let conn = cap.finish_one(200);
    assert_eq!(
        events(&conn, EventKind::SegmentAfterReset),
        [(Some(5), Some(S))]
    );
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTO");
}

#[test]
fn closed_after_rst_new_isn_syn_is_new_connection() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST,
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    cap.at(
        200,
        Segment {
            seq: SeqNumber(0x0000_0100),
            ..C_SYN
        },
    );
    let conns = cap.finish(300);
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].summary().outcome.name(), "RSTO");
    assert_eq!(steps(&conns[1].ends[C]), [(SynSent, Some(5))]);
    assert!(conns[1].reuse.is_none());
}
