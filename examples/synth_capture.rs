//! Synthetic bulk-transfer capture for benchmarks (std only).
//!
//!     cargo run --release --example synth_capture -- OUT.pcap N_CONNECTIONS SEGMENTS_PER_CONN LOSS_PER_MILLE SEED [START_GAP_US]
//!
//! Writes a little-endian microsecond pcap (Ethernet, IPv4, TCP, snaplen 96: only the first 96
//! bytes of each frame are stored, with the true `orig_len` and the true IP total length) of
//! N connections interleaved in time, as seen by a capture next to the clients:
//!
//! - three-way handshake with MSS, SACK-permitted, timestamps and window scale (Linux option order);
//! - SEGMENTS_PER_CONN segments of 1448 bytes from client to server, paced every 300 µs, the
//!   receiver acknowledging every second segment (one RTT later at the capture point);
//! - deterministic loss (xorshift64* seeded by SEED, LOSS_PER_MILLE per segment): a lost segment is
//!   captured once (at the sender, it is dropped after the capture point); every later segment that
//!   reaches the receiver before the hole is filled produces an immediate duplicate ACK with a SACK
//!   block; the sender fast-retransmits 15 µs after the third duplicate ACK. A loss is only drawn
//!   outside loss recovery and with at least four segments behind it (so three duplicate ACKs
//!   always come back); retransmissions are never lost. Each injected loss is therefore exactly one
//!   fast retransmission;
//! - the server closes first: server FIN+ACK, client ACK, client FIN+ACK, server ACK (the server
//!   holds TIME_WAIT).
//!
//! Connection c uses client port 1024 + (c + 31744) % 64512 (starting at 32768, Linux's ephemeral
//! range, and wrapping over 1024..=65535) from client 10.0.(h / 250).(h % 250 + 1) with
//! h = (c + 31744) / 64512, to server 10.200.0.1:5001. Round-trip times are 10 ms plus up to 1 ms of per-connection jitter,
//! connections start every START_GAP_US (default 1000) plus up to 0.5 ms. Totals (packets, bytes, injected losses) go to stderr.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

const SNAPLEN: usize = 96;
const MSS: u32 = 1448;
const PACE_US: u64 = 300;
const BASE_RTT_US: u64 = 10_000;
const RTT_JITTER_US: u64 = 1_000;
const START_GAP_US: u64 = 1_000;
const START_JITTER_US: u64 = 500;
const FAST_RETX_DELAY_US: u64 = 15;
const EPOCH_S: u64 = 1_700_000_000;
const SERVER_IP: [u8; 4] = [10, 200, 0, 1];
const SERVER_PORT: u16 = 5001;
const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// xorshift64* — small, deterministic, good enough for loss draws and jitter.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that small seeds do not start in a weak state.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
enum Opts {
    /// MSS, SACK_PERM, TS, NOP, WS (20 bytes).
    Syn,
    /// NOP, NOP, TS (12 bytes).
    Ts,
    /// NOP, NOP, TS, NOP, NOP, SACK with one block (24 bytes).
    TsSack(u32, u32),
}

#[derive(Clone, Copy)]
struct Pkt {
    t_us: u64,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    win: u16,
    payload: u16,
    opts: Opts,
    tsval: u32,
    tsecr: u32,
}

struct Conn {
    client_ip: [u8; 4],
    client_port: u16,
    pkts: Vec<Pkt>,
    next: usize,
    ip_id_client: u16,
    ip_id_server: u16,
}

/// Receiver (server) state, in segment indices.
struct Receiver {
    rcv_nxt: u32,
    /// Highest segment held above the hole, while there is one.
    ooo_hi: Option<u32>,
    /// In-order segments not yet acknowledged (delayed ACK every second segment).
    pending: u32,
    /// TSval of the last in-order segment, echoed in TSecr.
    ts_recent: u32,
}

struct Params {
    segments: u32,
    loss_per_mille: u64,
}

struct Totals {
    packets: u64,
    losses: u64,
    file_bytes: u64,
    wire_bytes: u64,
}

/// Builds the packets of connection `c`, sorted by capture time.
fn build_conn(c: u64, start_us: u64, p: &Params, rng: &mut Rng, losses: &mut u64) -> Conn {
    // Ports start at 32768 (Linux's ephemeral range) and wrap over 1024..=65535 with the next
    // client address.
    let slot = c + (32768 - 1024);
    let host = slot / 64512;
    let client_ip = [10, 0, (host / 250) as u8, (host % 250 + 1) as u8];
    let client_port = 1024 + (slot % 64512) as u16;
    let rtt = BASE_RTT_US + rng.below(RTT_JITTER_US + 1);
    let half = rtt / 2;
    let isn_c = rng.next() as u32;
    let isn_s = rng.next() as u32;
    let tsc_base = rng.next() as u32;
    let tss_base = rng.next() as u32;
    let ts_c = |t: u64| tsc_base.wrapping_add((t / 1000) as u32);
    let ts_s = |t: u64| tss_base.wrapping_add((t / 1000) as u32);
    let n = p.segments;
    let mut pkts: Vec<Pkt> = Vec::with_capacity(n as usize * 3 / 2 + 16);

    // Handshake, as seen next to the client.
    let t_syn = start_us;
    let t_synack = t_syn + rtt;
    let t_ack = t_synack + 30;
    let c_seq0 = isn_c.wrapping_add(1);
    let s_seq0 = isn_s.wrapping_add(1);
    pkts.push(Pkt {
        t_us: t_syn,
        from_client: true,
        flags: SYN,
        seq: isn_c,
        ack: 0,
        win: 64240,
        payload: 0,
        opts: Opts::Syn,
        tsval: ts_c(t_syn),
        tsecr: 0,
    });
    pkts.push(Pkt {
        t_us: t_synack,
        from_client: false,
        flags: SYN | ACK,
        seq: isn_s,
        ack: c_seq0,
        win: 65160,
        payload: 0,
        opts: Opts::Syn,
        tsval: ts_s(t_synack - half),
        tsecr: ts_c(t_syn),
    });
    pkts.push(Pkt {
        t_us: t_ack,
        from_client: true,
        flags: ACK,
        seq: c_seq0,
        ack: s_seq0,
        win: 502, // x128
        payload: 0,
        opts: Opts::Ts,
        tsval: ts_c(t_ack),
        tsecr: ts_s(t_synack - half),
    });

    // Bulk transfer. Segment k is first sent at t_data + k * PACE_US. The receiver sees the
    // sends in send order (one-way delay is constant), its ACK for a send at time s is
    // captured at s + rtt.
    let t_data = t_ack + 20;
    let send_time = |k: u32| t_data + k as u64 * PACE_US;
    let seq_of = |k: u32| c_seq0.wrapping_add(k.wrapping_mul(MSS));
    let srv_win: u16 = 3000; // x128 = 384000 bytes
    let mut rx = Receiver {
        rcv_nxt: 0,
        ooo_hi: None,
        pending: 0,
        ts_recent: ts_c(t_ack),
    };
    // Sender state.
    let mut retx: Option<(u64, u32)> = None; // (time, segment) of the scheduled fast retransmission
    let mut recovery_until: u64 = 0; // no new loss is drawn for sends before this time
    let mut last_send: u64 = t_data;

    // A segment sent at `s` reaches the receiver; the ACKs it triggers are captured at s + rtt.
    let receive = |rx: &mut Receiver, pkts: &mut Vec<Pkt>, k: u32, s: u64, tsval: u32| {
        let t = s + rtt;
        let mk = |ack_k: u32, opts: Opts, tsecr: u32| Pkt {
            t_us: t,
            from_client: false,
            flags: ACK,
            seq: s_seq0,
            ack: seq_of(ack_k),
            win: srv_win,
            payload: 0,
            opts,
            tsval: ts_s(s + half),
            tsecr,
        };
        if k == rx.rcv_nxt {
            rx.ts_recent = tsval;
            if let Some(hi) = rx.ooo_hi.take() {
                // The retransmission fills the hole: immediate cumulative ACK.
                rx.rcv_nxt = hi + 1;
                rx.pending = 0;
                pkts.push(mk(rx.rcv_nxt, Opts::Ts, rx.ts_recent));
            } else {
                rx.rcv_nxt += 1;
                rx.pending += 1;
                if rx.pending == 2 {
                    rx.pending = 0;
                    pkts.push(mk(rx.rcv_nxt, Opts::Ts, rx.ts_recent));
                }
            }
        } else if k > rx.rcv_nxt {
            // Out of order: immediate (duplicate) ACK with a SACK block; TSecr stays at the
            // last in-order segment (RFC 7323 §4.3).
            let hi = rx.ooo_hi.map_or(k, |h| h.max(k));
            rx.ooo_hi = Some(hi);
            rx.pending = 0;
            let sack = Opts::TsSack(seq_of(rx.rcv_nxt + 1), seq_of(hi + 1));
            pkts.push(mk(rx.rcv_nxt, sack, rx.ts_recent));
        }
    };

    // The fast retransmission of segment `lost` at `tr`, and what the receiver makes of it.
    let resend = |rx: &mut Receiver, pkts: &mut Vec<Pkt>, lost: u32, tr: u64| {
        pkts.push(data_pkt(
            tr,
            seq_of(lost),
            s_seq0,
            ts_c(tr),
            ts_s(tr - half),
            false,
        ));
        receive(rx, pkts, lost, tr, ts_c(tr));
    };
    for k in 0..n {
        let s = send_time(k);
        if let Some((tr, lost)) = retx
            && tr < s
        {
            retx = None;
            resend(&mut rx, &mut pkts, lost, tr);
            last_send = last_send.max(tr);
        }
        let draw = rng.below(1000);
        let lost = draw < p.loss_per_mille && s > recovery_until && k + 4 < n;
        let push = k % 44 == 43 || k + 1 == n; // PSH at the end of each 64 KB write
        pkts.push(data_pkt(
            s,
            seq_of(k),
            s_seq0,
            ts_c(s),
            ts_s(s.saturating_sub(half)),
            push,
        ));
        last_send = last_send.max(s);
        if lost {
            *losses += 1;
            // The first out-of-order arrival only acknowledges new data when one in-order
            // segment was waiting for its delayed ACK; the duplicate ACKs start after that.
            let first_dup = if rx.pending == 1 { k + 2 } else { k + 1 };
            let third_dup = first_dup + 2;
            let tr = send_time(third_dup) + rtt + FAST_RETX_DELAY_US;
            retx = Some((tr, k));
            recovery_until = tr;
        } else {
            receive(&mut rx, &mut pkts, k, s, ts_c(s));
        }
    }
    if let Some((tr, lost)) = retx.take() {
        resend(&mut rx, &mut pkts, lost, tr);
        last_send = last_send.max(tr);
    }
    let ts_recent = rx.ts_recent;
    debug_assert_eq!(rx.rcv_nxt, n);

    // Server closes first: FIN+ACK (acknowledging all data), client ACK, client FIN+ACK, server ACK.
    let t_fin_s = last_send + rtt + 100;
    let c_end = seq_of(n);
    let s_fin_seq = s_seq0;
    pkts.push(Pkt {
        t_us: t_fin_s,
        from_client: false,
        flags: FIN | ACK,
        seq: s_fin_seq,
        ack: c_end,
        win: srv_win,
        payload: 0,
        opts: Opts::Ts,
        tsval: ts_s(t_fin_s - half),
        tsecr: ts_recent,
    });
    let t_ack_fin = t_fin_s + 20;
    pkts.push(Pkt {
        t_us: t_ack_fin,
        from_client: true,
        flags: ACK,
        seq: c_end,
        ack: s_fin_seq.wrapping_add(1),
        win: 502,
        payload: 0,
        opts: Opts::Ts,
        tsval: ts_c(t_ack_fin),
        tsecr: ts_s(t_fin_s - half),
    });
    let t_fin_c = t_fin_s + 60;
    pkts.push(Pkt {
        t_us: t_fin_c,
        from_client: true,
        flags: FIN | ACK,
        seq: c_end,
        ack: s_fin_seq.wrapping_add(1),
        win: 502,
        payload: 0,
        opts: Opts::Ts,
        tsval: ts_c(t_fin_c),
        tsecr: ts_s(t_fin_s - half),
    });
    let t_last = t_fin_c + rtt;
    pkts.push(Pkt {
        t_us: t_last,
        from_client: false,
        flags: ACK,
        seq: s_fin_seq.wrapping_add(1),
        ack: c_end.wrapping_add(1),
        win: srv_win,
        payload: 0,
        opts: Opts::Ts,
        tsval: ts_s(t_last - half),
        tsecr: ts_c(t_fin_c),
    });

    // Stable: equal times keep generation order.
    pkts.sort_by_key(|p| p.t_us);
    Conn {
        client_ip,
        client_port,
        pkts,
        next: 0,
        ip_id_client: rng.next() as u16,
        ip_id_server: rng.next() as u16,
    }
}

fn data_pkt(t: u64, seq: u32, ack: u32, tsval: u32, tsecr: u32, push: bool) -> Pkt {
    Pkt {
        t_us: t,
        from_client: true,
        flags: if push { ACK | PSH } else { ACK },
        seq,
        ack,
        win: 502,
        payload: MSS as u16,
        opts: Opts::Ts,
        tsval,
        tsecr,
    }
}

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for ch in &mut chunks {
        sum += u16::from_be_bytes([ch[0], ch[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u32) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes one pcap record for `p` of connection `conn`; returns (record bytes, frame length).
fn write_pkt(
    out: &mut impl Write,
    conn: &mut Conn,
    p: &Pkt,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u64, u64)> {
    buf.clear();
    let (src_mac, dst_mac) = if p.from_client {
        (CLIENT_MAC, GATEWAY_MAC)
    } else {
        (GATEWAY_MAC, CLIENT_MAC)
    };
    let (src_ip, dst_ip, sport, dport) = if p.from_client {
        (conn.client_ip, SERVER_IP, conn.client_port, SERVER_PORT)
    } else {
        (SERVER_IP, conn.client_ip, SERVER_PORT, conn.client_port)
    };
    let ip_id = if p.from_client {
        conn.ip_id_client = conn.ip_id_client.wrapping_add(1);
        conn.ip_id_client
    } else {
        conn.ip_id_server = conn.ip_id_server.wrapping_add(1);
        conn.ip_id_server
    };

    // TCP options.
    let mut opts = [0u8; 24];
    let opt_len = match p.opts {
        Opts::Syn => {
            opts[..4].copy_from_slice(&[2, 4, (1460u16 >> 8) as u8, (1460u16 & 0xff) as u8]);
            opts[4..6].copy_from_slice(&[4, 2]);
            opts[6] = 8;
            opts[7] = 10;
            opts[8..12].copy_from_slice(&p.tsval.to_be_bytes());
            opts[12..16].copy_from_slice(&p.tsecr.to_be_bytes());
            opts[16..20].copy_from_slice(&[1, 3, 3, 7]);
            20
        }
        Opts::Ts | Opts::TsSack(..) => {
            opts[..4].copy_from_slice(&[1, 1, 8, 10]);
            opts[4..8].copy_from_slice(&p.tsval.to_be_bytes());
            opts[8..12].copy_from_slice(&p.tsecr.to_be_bytes());
            if let Opts::TsSack(l, r) = p.opts {
                opts[12..16].copy_from_slice(&[1, 1, 5, 10]);
                opts[16..20].copy_from_slice(&l.to_be_bytes());
                opts[20..24].copy_from_slice(&r.to_be_bytes());
                24
            } else {
                12
            }
        }
    };
    let tcp_hdr_len = 20 + opt_len;
    let tcp_len = tcp_hdr_len + p.payload as usize;
    let ip_total = 20 + tcp_len;
    let frame_len = 14 + ip_total;

    // Ethernet.
    buf.extend_from_slice(&dst_mac);
    buf.extend_from_slice(&src_mac);
    buf.extend_from_slice(&[0x08, 0x00]);
    // IPv4.
    let ip_start = buf.len();
    buf.extend_from_slice(&[0x45, 0x00]);
    buf.extend_from_slice(&(ip_total as u16).to_be_bytes());
    buf.extend_from_slice(&ip_id.to_be_bytes());
    buf.extend_from_slice(&[0x40, 0x00, 64, 6, 0, 0]); // DF, TTL 64, TCP, checksum
    buf.extend_from_slice(&src_ip);
    buf.extend_from_slice(&dst_ip);
    let ip_ck = csum_fold(csum_add(0, &buf[ip_start..ip_start + 20]));
    buf[ip_start + 10..ip_start + 12].copy_from_slice(&ip_ck.to_be_bytes());
    // TCP.
    let tcp_start = buf.len();
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&p.seq.to_be_bytes());
    buf.extend_from_slice(&p.ack.to_be_bytes());
    buf.push(((tcp_hdr_len / 4) as u8) << 4);
    buf.push(p.flags);
    buf.extend_from_slice(&p.win.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    buf.extend_from_slice(&opts[..opt_len]);
    // The payload is all zeros: it adds nothing to the checksum.
    let mut sum = csum_add(0, &src_ip);
    sum = csum_add(sum, &dst_ip);
    sum += 6 + tcp_len as u32;
    sum = csum_add(sum, &buf[tcp_start..]);
    let tcp_ck = csum_fold(sum);
    buf[tcp_start + 16..tcp_start + 18].copy_from_slice(&tcp_ck.to_be_bytes());
    let caplen = frame_len.min(SNAPLEN);
    buf.resize(caplen, 0);

    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&((EPOCH_S + p.t_us / 1_000_000) as u32).to_le_bytes());
    hdr[4..8].copy_from_slice(&((p.t_us % 1_000_000) as u32).to_le_bytes());
    hdr[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
    hdr[12..16].copy_from_slice(&(frame_len as u32).to_le_bytes());
    out.write_all(&hdr)?;
    out.write_all(buf)?;
    Ok((16 + caplen as u64, frame_len as u64))
}

fn run(args: &[String]) -> Result<Totals, String> {
    if !(6..=7).contains(&args.len()) {
        return Err(format!(
            "usage: {} OUT.pcap N_CONNECTIONS SEGMENTS_PER_CONN LOSS_PER_MILLE SEED [START_GAP_US]",
            args.first().map_or("synth_capture", |s| s.as_str())
        ));
    }
    let num = |i: usize, what: &str| -> Result<u64, String> {
        args[i]
            .parse::<u64>()
            .map_err(|e| format!("{what} {:?}: {e}", args[i]))
    };
    let n_conns = num(2, "N_CONNECTIONS")?;
    let segments = num(3, "SEGMENTS_PER_CONN")?;
    let loss = num(4, "LOSS_PER_MILLE")?;
    let seed = num(5, "SEED")?;
    let start_gap_us = if args.len() == 7 {
        num(6, "START_GAP_US")?
    } else {
        START_GAP_US
    };
    if segments == 0 || segments > 1_000_000 {
        return Err("SEGMENTS_PER_CONN must be 1..=1000000".into());
    }
    if loss > 1000 {
        return Err("LOSS_PER_MILLE must be 0..=1000".into());
    }
    if n_conns > 64512 * 250 * 250 {
        return Err("N_CONNECTIONS too large".into());
    }
    let params = Params {
        segments: segments as u32,
        loss_per_mille: loss,
    };
    let file = File::create(&args[1]).map_err(|e| format!("{}: {e}", args[1]))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| format!("{}: {e}", args[1]);

    // Global header: LE, µs, v2.4, snaplen 96, Ethernet.
    let mut gh = Vec::with_capacity(24);
    gh.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    gh.extend_from_slice(&2u16.to_le_bytes());
    gh.extend_from_slice(&4u16.to_le_bytes());
    gh.extend_from_slice(&0i32.to_le_bytes());
    gh.extend_from_slice(&0u32.to_le_bytes());
    gh.extend_from_slice(&(SNAPLEN as u32).to_le_bytes());
    gh.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&gh).map_err(io)?;

    let mut rng = Rng::new(seed);
    let mut totals = Totals {
        packets: 0,
        losses: 0,
        file_bytes: 24,
        wire_bytes: 0,
    };
    // Active connections, keyed by the time of their next packet (ties: connection order).
    let mut active: Vec<Option<Conn>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut next_conn: u64 = 0;
    let mut next_start: u64 = 0;
    let mut buf = Vec::with_capacity(128);
    loop {
        // Start every connection whose SYN comes no later than the earliest pending packet.
        while next_conn < n_conns && heap.peek().is_none_or(|Reverse((t, _))| next_start <= *t) {
            let conn = build_conn(next_conn, next_start, &params, &mut rng, &mut totals.losses);
            heap.push(Reverse((conn.pkts[0].t_us, next_conn)));
            if active.len() <= next_conn as usize {
                active.resize_with(next_conn as usize + 1, || None);
            }
            active[next_conn as usize] = Some(conn);
            next_conn += 1;
            next_start += start_gap_us + rng.below(START_JITTER_US + 1);
        }
        let Some(Reverse((_, id))) = heap.pop() else {
            break;
        };
        let slot = &mut active[id as usize];
        let conn = slot.as_mut().expect("active connection");
        let p = conn.pkts[conn.next];
        conn.next += 1;
        let (rec, wire) = write_pkt(&mut out, conn, &p, &mut buf).map_err(io)?;
        totals.packets += 1;
        totals.file_bytes += rec;
        totals.wire_bytes += wire;
        if conn.next < conn.pkts.len() {
            heap.push(Reverse((conn.pkts[conn.next].t_us, id)));
        } else {
            *slot = None;
        }
    }
    out.flush().map_err(io)?;
    Ok(totals)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(t) => {
            eprintln!(
                "synth_capture: connections={} packets={} injected_losses={} file_bytes={} wire_bytes={}",
                args[2], t.packets, t.losses, t.file_bytes, t.wire_bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synth_capture: {e}");
            ExitCode::from(2)
        }
    }
}
