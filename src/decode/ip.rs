//! IPv4 (with options) and IPv6 (with extension headers): the TCP segment inside, its payload
//! length always from the IP length fields; fragments and other protocols are skipped.

use etherparse::{IpNumber, LaxIpSlice, LenSource};

use crate::capture::Frame;
use crate::decode::link::gtp_u_payload;
use crate::decode::tcp::decode_tcp;
use crate::decode::{Decoded, SkipReason};

pub(super) fn decode_ip<'a>(frame: &Frame<'a>, ip: &'a [u8], open_tunnels: bool) -> Decoded {
    let (slice, _ext_err) =
        LaxIpSlice::from_slice(ip).map_err(|_| SkipReason::Malformed("bad IP header"))?;
    let payload = slice.payload();
    if payload.fragmented {
        return Err(SkipReason::IpFragment);
    }
    let (src_ip, dst_ip) = (slice.source_addr(), slice.destination_addr());
    if payload.ip_number == IpNumber::UDP {
        if open_tunnels && let Some(inner) = gtp_u_payload(payload.payload) {
            return decode_ip(frame, inner, false);
        }
        return Err(SkipReason::NonTcp(17));
    }
    if payload.ip_number != IpNumber::TCP {
        return Err(SkipReason::NonTcp(payload.ip_number.0));
    }

    // Length of the IP payload on the wire.
    let declared = if payload.incomplete {
        match &slice {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
                usize::from(h.total_len()).saturating_sub(h.slice().len() + auth)
            }
            LaxIpSlice::Ipv6(v6) => usize::from(v6.header().payload_length())
                .saturating_sub(v6.extensions().slice().len()),
        }
    } else if payload.len_source == LenSource::Slice {
        // The IP header gives no length (IPv4 total length 0, IPv6 jumbogram): use the frame's
        // original length.
        let offset = payload.payload.as_ptr() as usize - frame.data.as_ptr() as usize;
        (frame.orig_len as usize)
            .saturating_sub(offset)
            .max(payload.payload.len())
    } else {
        payload.payload.len()
    };
    decode_tcp(payload.payload, declared, src_ip, dst_ip)
}
