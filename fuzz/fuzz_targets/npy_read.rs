//! Arbitrary bytes through the `.npy` reader: it must return `Ok` or `Err`,
//! never panic, abort, or allocate what the header merely declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use losslab_cli::npy;

fuzz_target!(|data: &[u8]| {
    // The length the reader is told is the true one, as `npy::read` tells it.
    if let Ok(t) = npy::read_from(data, data.len() as u64) {
        // What was read has as many elements as its shape says, and writes back.
        assert_eq!(t.len(), t.shape().iter().product::<usize>());
        let mut out = Vec::new();
        npy::write_to(&mut out, &t).expect("writing to memory");
        let again = npy::read_from(&out[..], out.len() as u64).expect("reads what it wrote");
        assert_eq!(again.shape(), t.shape());
    }
    // A reader told a wrong length (shorter or longer than the bytes) must
    // still only error.
    let _ = npy::read_from(data, (data.len() as u64).wrapping_mul(3) / 2);
    let _ = npy::read_from(data, (data.len() as u64) / 2);
});
