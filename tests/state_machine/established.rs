//! The ESTABLISHED state.

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// Tests for the ESTABLISHED state
// ---------------------------------------------------------------------------------------------

#[test]
fn established_mid_stream_is_inferred() {
    // The capture starts with data: no handshake was seen. The client's data crosses the wrap.
    let data = Segment {
        flags: PSH_ACK,
        seq: SeqNumber(0xFFFF_FFC0),
        ack: SeqNumber(0x8000_0000),
        payload_len: 100,
        ..CLIENT_SEG
    };
    let mut cap = Capture::new();
    cap.at(0, data);
    cap.at(
        40,
        Segment {
            seq: SeqNumber(0x8000_0000),
            ack: data.end(),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(100);
    for side in [C, S] {
        assert_eq!(conn.ends[side].initial, Established);
        assert!(conn.ends[side].initial_inferred);
        assert_eq!(steps(&conn.ends[side]), []);
    }
    assert_eq!(conn.client, C);
    assert_eq!(conn.role_rule, RoleRule::WellKnownPort);
    assert_eq!(conn.summary().outcome.name(), "OTH");
    assert_eq!(conn.history(), "Da");
    assert!(!conn.handshake.valid());
    assert_eq!(conn.dirs[S].stats.acked_unseen, 0);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_mid_stream_close_runs_the_machine() {
    // The capture begins with the client's FIN, which sits on the very last sequence number:
    // the ACK of it is 0.
    const MID_C: SeqNumber = SeqNumber(0xFFFF_FFFF);
    const MID_S: SeqNumber = SeqNumber(0x0000_1000);
    let mut cap = Capture::new();
    cap.at(
        0,
        Segment {
            seq: MID_C,
            ack: MID_S,
            ..C_FIN
        },
    );
    cap.at(
        40,
        Segment {
            seq: MID_S,
            ack: SeqNumber(0),
            ..SERVER_SEG
        },
    );
    cap.at(
        41,
        Segment {
            seq: MID_S,
            ack: SeqNumber(0),
            ..S_FIN
        },
    );
    cap.at(
        42,
        Segment {
            seq: SeqNumber(0),
            ack: MID_S + 1,
            ..C_ACK
        },
    );
    let conn = cap.finish_one(100);
    assert!(conn.ends[C].initial_inferred && conn.ends[S].initial_inferred);
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (FinWait1, Some(1)),
            (FinWait2, Some(2)),
            (TimeWait, Some(3))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [(CloseWait, Some(2)), (LastAck, Some(3)), (Closed, Some(4))]
    );
    assert_eq!(conn.summary().outcome.name(), "OTH");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_client_closes_first() {
    let conn = time_wait().finish_one(1000);
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (Established, Some(3)),
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (CloseWait, Some(5)),
            (LastAck, Some(6)),
            (Closed, Some(7)),
        ]
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(conn.history(), "ShAFaf");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.ends[C].time_wait_entered, Some(ts(160)));
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_server_closes_first() {
    let conn = server_time_wait(None).finish_one(1000);
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (Established, Some(3)),
            (CloseWait, Some(5)),
            (LastAck, Some(6)),
            (Closed, Some(7)),
        ]
    );
    // SPEC.md §6: a server that closes first holds TIME_WAIT on its own port.
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("server")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("server")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(conn.history(), "ShAfFa");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_close_wait_stamped_at_ack_of_fin() {
    // SPEC.md §2: ESTABLISHED → CLOSE_WAIT is proved by the receiver's ACK of the FIN, not by
    // the FIN itself nor by a segment that does not acknowledge it yet.
    let mut cap = fin_wait_1();
    cap.at(
        101,
        Segment {
            flags: PSH_ACK,
            payload_len: 10,
            ..SERVER_SEG
        },
    );
    cap.at(
        150,
        Segment {
            seq: s(11),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (CloseWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(6))]
    );
}

#[test]
fn established_fin_piggybacked_on_data() {
    // 300 bytes from the client's relative seq 1 cross the wrap; the FIN takes seq 301.
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: FIN_PSH_ACK,
            payload_len: 300,
            ..CLIENT_SEG
        },
    );
    cap.at(
        150,
        Segment {
            ack: c(302),
            ..SERVER_SEG
        },
    );
    cap.at(
        160,
        Segment {
            ack: c(302),
            ..S_FIN
        },
    );
    cap.at(
        161,
        Segment {
            seq: c(302),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[C].fin_seq, Some(c(301)));
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (LastAck, Some(6)), (Closed, Some(7))]
    );
    assert_eq!(conn.dirs[C].stats.payload_bytes, 300);
    assert_eq!(conn.history(), "ShADFaf");
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_rst_from_client_is_rsto() {
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
    let conn = cap.finish_one(200);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTO");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("client"));
    assert_eq!(conn.history(), "ShAR");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(4), Some(C))]);
    assert_eq!(conn.dirs[C].stats.resets, 1);
    assert_eq!(conn.summary().close_initiator.map(|p| p.name()), None);
}

#[test]
fn established_rst_from_server_is_rstr() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST_ACK,
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTR");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.history(), "ShAr");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(4), Some(S))]);
    assert_eq!(conn.dirs[S].stats.resets, 1);
}

#[test]
fn established_ack_of_unseen_data() {
    // The server acknowledges 1000 bytes the client never sent in the capture.
    let mut cap = established();
    cap.at(
        100,
        Segment {
            ack: c(1001),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(conn.dirs[S].stats.acked_unseen, 1);
    assert_eq!(events(&conn, EventKind::AckedUnseen), [(Some(4), Some(S))]);
    // An anomaly, not a state change.
    assert_eq!(conn.ends[C].state, Established);
    assert_eq!(conn.ends[S].state, Established);
}

#[test]
fn established_dsack_marks_a_retransmission_spurious() {
    let mut cap = established();
    // Frame 4: 100 bytes; frame 5: the same 100 bytes again (the ACK was only delayed).
    let data = Segment {
        flags: PSH_ACK,
        seq: c(1),
        payload_len: 100,
        ..CLIENT_SEG
    };
    cap.at(100, data);
    cap.at(400, data);
    // Frame 6: the server acks 101 and reports [1, 101) as received twice (RFC 2883: a first SACK
    // block below the cumulative ACK), across the 2^32 wrap.
    let mut options = NO_OPTIONS;
    options.sack[0] = SackBlock {
        left: c(1),
        right: c(101),
    };
    options.sack_count = 1;
    cap.at(
        401,
        Segment {
            ack: c(101),
            options,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[S].stats.dsacks_sent, 1);
    assert_eq!(conn.dirs[C].stats.dsacked_retransmissions, 1);
    assert_eq!(conn.dirs[C].stats.retransmissions, 1);
    assert_eq!(events(&conn, EventKind::Dsack), [(Some(6), Some(S))]);
    // An ordinary SACK block above the ACK is not a D-SACK.
    let mut cap = established();
    cap.at(100, data);
    let mut options = NO_OPTIONS;
    options.sack[0] = SackBlock {
        left: c(201),
        right: c(301),
    };
    options.sack_count = 1;
    cap.at(
        150,
        Segment {
            ack: c(101),
            options,
            ..SERVER_SEG
        },
    );
    assert_eq!(cap.finish_one(1000).dirs[S].stats.dsacks_sent, 0);
}

#[test]
fn established_triple_dup_ack_then_fast_retransmission() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    // Four 100-byte segments (frames 4-7) from relative seq 1: they cross the wrap at 256.
    for i in 0..4 {
        cap.at(
            100 + u64::from(i),
            Segment {
                flags: PSH_ACK,
                seq: c(1 + 100 * i),
                payload_len: 100,
                ..CLIENT_SEG
            },
        );
    }
    // Frame 8 acks the first; 9-11 repeat that ACK: the second segment was lost downstream.
    let ack_101 = Segment {
        ack: c(101),
        ..SERVER_SEG
    };
    for i in 0..4 {
        cap.at(151 + i, ack_101);
    }
    // Frame 12: the client resends the second segment at once.
    cap.at(
        155,
        Segment {
            flags: PSH_ACK,
            seq: c(101),
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    cap.at(
        205,
        Segment {
            ack: c(401),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);

    assert_eq!(class_of(&conn, 8), SegClass::Normal);
    assert_eq!(class_of(&conn, 9), SegClass::DupAck(1));
    assert_eq!(class_of(&conn, 10), SegClass::DupAck(2));
    assert_eq!(class_of(&conn, 11), SegClass::DupAck(3));
    assert_eq!(
        class_of(&conn, 12),
        SegClass::Retransmission(RetransKind::Fast)
    );
    let srv = conn.dirs[S].stats;
    assert_eq!(srv.dup_acks, 3);
    assert_eq!(srv.triple_dup_acks, 1);
    let cli = conn.dirs[C].stats;
    assert_eq!(cli.retransmissions, 1);
    assert_eq!(cli.fast_retransmissions, 1);
    assert_eq!(cli.retransmitted_bytes, 100);
    assert_eq!(cli.payload_bytes, 500);
    assert_eq!(
        events(&conn, EventKind::TripleDupAck),
        [(Some(11), Some(S))]
    );
    assert_eq!(
        events(&conn, EventKind::Retransmission),
        [(Some(12), Some(C))]
    );
    assert_eq!(conn.ends[C].state, Established);
}

#[test]
fn established_keep_alive_with_open_window() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(
        100,
        Segment {
            flags: PSH_ACK,
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    cap.at(
        150,
        Segment {
            ack: c(101),
            ..SERVER_SEG
        },
    );
    // 75 s idle, then 1 byte at SND.NXT-1 while the server's window is open.
    let probe = Segment {
        seq: c(100),
        payload_len: 1,
        ..CLIENT_SEG
    };
    cap.at(75_150, probe);
    cap.at(
        75_200,
        Segment {
            ack: c(101),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(76_000);
    assert_eq!(class_of(&conn, 6), SegClass::KeepAlive);
    assert_eq!(class_of(&conn, 7), SegClass::KeepAliveAck);
    assert_eq!(conn.dirs[C].stats.keep_alives, 1);
    assert_eq!(conn.dirs[C].stats.zero_window_probes, 0);
    assert_eq!(conn.dirs[C].stats.retransmissions, 0);
    assert_eq!(conn.dirs[S].stats.keep_alive_acks, 1);
    assert_eq!(events(&conn, EventKind::KeepAlive), [(Some(6), Some(C))]);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_zero_window_probe() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(
        100,
        Segment {
            flags: PSH_ACK,
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    // The server's buffer is full: it acknowledges with a zero window.
    let zero = Segment {
        ack: c(101),
        window: 0,
        ..SERVER_SEG
    };
    cap.at(150, zero);
    // Linux form: 1 byte at SND.NXT-1, the same shape as a keep-alive.
    cap.at(
        350,
        Segment {
            seq: c(100),
            payload_len: 1,
            ..CLIENT_SEG
        },
    );
    cap.at(400, zero);
    // BSD/Windows form: 1 byte at SND.NXT.
    cap.at(
        800,
        Segment {
            seq: c(101),
            payload_len: 1,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(class_of(&conn, 6), SegClass::ZeroWindowProbe);
    assert_eq!(class_of(&conn, 7), SegClass::ZeroWindowProbeAck);
    assert_eq!(class_of(&conn, 8), SegClass::ZeroWindowProbe);
    assert_eq!(conn.dirs[C].stats.zero_window_probes, 2);
    assert_eq!(conn.dirs[C].stats.keep_alives, 0);
    assert_eq!(conn.dirs[C].stats.retransmissions, 0);
    assert_eq!(conn.dirs[S].stats.zero_window, 2);
    assert_eq!(conn.dirs[S].stats.zero_window_episodes, 1);
    assert_eq!(
        events(&conn, EventKind::ZeroWindowProbe),
        [(Some(6), Some(C)), (Some(8), Some(C))]
    );
    assert!(events(&conn, EventKind::KeepAlive).is_empty());
}
