//! The CLOSED, LISTEN and SYN-SENT states: the handshake.

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSED and LISTEN states
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_syn_goes_to_syn_sent() {
    let conn = syn_sent().finish_one(10);
    assert_eq!(conn.client, C);
    assert_eq!(conn.role_rule, RoleRule::Syn);
    assert_eq!(conn.ends[C].initial, Closed);
    assert!(!conn.ends[C].initial_inferred);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    // The server is implied to be listening; nothing it sent proves any change.
    assert_eq!(conn.ends[S].initial, Listen);
    assert!(conn.ends[S].initial_inferred);
    assert_eq!(steps(&conn.ends[S]), []);
}

#[test]
fn listen_syn_ack_goes_to_syn_received() {
    let conn = syn_received().finish_one(60);
    assert_eq!(steps(&conn.ends[S]), [(SynReceived, Some(2))]);
    // SPEC.md §2: SYN_SENT → ESTABLISHED is proved by the client's ACK, not by the SYN-ACK.
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.history(), "Sh");
    assert!(conn.handshake.ack.is_none());
}

// ---------------------------------------------------------------------------------------------
// Tests for the SYN-SENT state
// ---------------------------------------------------------------------------------------------

#[test]
fn syn_sent_syn_ack_then_ack_goes_to_established() {
    let conn = established().finish_one(100);
    // The client becomes ESTABLISHED at its own ACK (frame 3), the proof that the SYN-ACK
    // arrived; the server at the same ACK, which acknowledges its SYN.
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Established, Some(3))]
    );
    assert_eq!(conn.ends[S].initial, Listen);
    assert_eq!(
        steps(&conn.ends[S]),
        [(SynReceived, Some(2)), (Established, Some(3))]
    );
    assert!(conn.ends[C].transitions.iter().all(|t| !t.inferred));
    assert!(conn.ends[S].transitions.iter().all(|t| !t.inferred));
    assert_eq!(conn.dirs[C].isn, Some(c(0)));
    assert_eq!(conn.dirs[S].isn, Some(s(0)));
    assert!(conn.handshake.valid());
    assert_eq!(conn.handshake.synack_ack_ok, Some(true));
    assert_eq!(conn.summary().outcome.name(), "S1");
    assert_eq!(conn.history(), "ShA");
    assert_eq!(conn.summary().close_initiator.map(|p| p.name()), None);
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), None);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn syn_sent_syn_retransmitted_same_isn() {
    let mut cap = syn_sent();
    cap.at(1000, C_SYN);
    cap.at(1050, S_SYN_ACK);
    cap.at(1051, C_ACK);
    let conn = cap.finish_one(2000);
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Established, Some(4))]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [(SynReceived, Some(3)), (Established, Some(4))]
    );
    let st = conn.dirs[C].stats;
    assert_eq!(st.packets, 3);
    assert_eq!(st.retransmissions, 1);
    assert_eq!(st.syn_retransmissions, 1);
    assert_eq!(st.rto_retransmissions, 1);
    assert_eq!(conn.dirs[C].syn_count, 2);
    assert_eq!(
        events(&conn, EventKind::SynRetransmission),
        [(Some(2), Some(C))]
    );
    assert!(events(&conn, EventKind::NewAttempt).is_empty());
    assert!(conn.handshake.valid());
}

#[test]
fn syn_sent_no_answer_is_s0() {
    let mut cap = syn_sent();
    cap.at(1000, C_SYN);
    cap.at(3000, C_SYN);
    let conn = cap.finish_one(10_000);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.ends[S].state, Listen);
    assert_eq!(conn.dirs[C].stats.syn_retransmissions, 2);
    assert_eq!(conn.dirs[S].stats.packets, 0);
    assert_eq!(conn.summary().outcome.name(), "S0");
    assert_eq!(conn.history(), "S");
    assert!(!conn.handshake.valid());
}

#[test]
fn syn_sent_rst_ack_refused() {
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: RST_ACK,
            seq: SeqNumber(0),
            ack: c(1),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(10);
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Closed, Some(2))]
    );
    assert_eq!(steps(&conn.ends[S]), [(Closed, Some(2))]);
    assert_eq!(conn.summary().outcome.name(), "REJ");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.history(), "Sr");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(2), Some(S))]);
    assert_eq!(conn.dirs[S].stats.resets, 1);
    assert!(!conn.handshake.valid());
}

#[test]
fn syn_sent_rst_with_wrong_ack_is_ignored() {
    // RFC 9293 §3.10.7.3: in SYN_SENT a RST is acceptable only if it acknowledges the SYN.
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: RST_ACK,
            seq: SeqNumber(0),
            ack: c(1000),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(10);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), None);
}

#[test]
fn syn_sent_syn_ack_with_wrong_ack() {
    let mut cap = syn_sent();
    // The SYN-ACK acknowledges ISN+5 instead of ISN+1 (across the wrap from the client's view
    // it is still "ahead"); the client answers with a RST at SEG.ACK as RFC 9293 §3.10.7.3 says.
    cap.at(
        50,
        Segment {
            ack: c(5),
            ..S_SYN_ACK
        },
    );
    cap.at(
        51,
        Segment {
            flags: RST,
            seq: c(5),
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(100);
    assert_eq!(conn.handshake.synack_ack_ok, Some(false));
    assert!(!conn.handshake.valid());
    assert_eq!(
        events(&conn, EventKind::BadHandshakeAck),
        [(Some(2), Some(S))]
    );
    assert!(!conn.ends[C].passed_through(Established));
    // RFC 9293 §3.10.7.3 (SYN-SENT, "If the ACK bit is set"): send <SEQ=SEG.ACK><CTL=RST>,
    // discard the segment and return: the client stays in SYN_SENT and will resend its SYN.
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(events(&conn, EventKind::Reset), [(Some(3), Some(C))]);
    assert_eq!(
        conn.summary().reset_by.map(|p| p.name()),
        None,
        "a RST answering a bad ACK does not abort the attempt"
    );
}

#[test]
fn syn_sent_bare_syn_simultaneous_open() {
    // RFC 9293 §3.5 figure 8: both ends send a bare SYN (frames 1, 2), then each a SYN-ACK
    // (client frame 3, server frame 4).
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: SYN,
            seq: s(0),
            ack: SeqNumber(0),
            options: SYN_OPTIONS,
            ..SERVER_SEG
        },
    );
    cap.at(
        2,
        Segment {
            flags: SYN_ACK,
            ack: s(1),
            ..C_SYN
        },
    );
    cap.at(3, S_SYN_ACK);
    let conns = cap.finish(10);
    // SPEC.md §1: a bare SYN from the other side is not a new incarnation; it is one connection.
    assert_eq!(conns.len(), 1, "the two crossing SYNs are one connection");
    let conn = &conns[0];
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (SynReceived, Some(2)),
            (Established, Some(4))
        ]
    );
    assert_eq!(
        states(&conn.ends[S]),
        [SynSent, SynReceived, Established],
        "the server side also opens actively"
    );
    assert_eq!(conn.ends[S].transitions[0].frame, Some(2));
    assert_eq!(anomalies(conn), [], "{:?}", conn.events);
}
