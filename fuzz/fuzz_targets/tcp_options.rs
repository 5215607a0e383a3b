//! The TCP option parser on any bytes (a header holds at most 40, but the parser must not
//! care): no panic, at most four SACK blocks, and an end of option list (kind 0) really ends
//! it: whatever follows a list the parser read to its end changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpflow_audit::decode::parse_options;

fuzz_target!(|data: &[u8]| {
    let o = parse_options(data);
    assert!(usize::from(o.sack_count) <= o.sack.len());
    assert_eq!(o.sack_blocks().len(), usize::from(o.sack_count));
    if !o.incomplete {
        let mut longer = data.to_vec();
        longer.push(0);
        longer.extend_from_slice(data);
        longer.extend_from_slice(&[2, 4, 0xff, 0xff, 5, 10]);
        assert_eq!(parse_options(&longer), o);
    }
});
