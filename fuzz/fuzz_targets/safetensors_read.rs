//! Arbitrary bytes through the `.safetensors` reader: parsing and reading
//! every tensor must return `Ok` or `Err`, never panic, abort, or allocate
//! what the header merely declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use losslab_cli::safetensors_file;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = safetensors_file::parse(data) else { return };
    let _ = safetensors_file::names_list(&file);
    let mut read = Vec::new();
    for name in file.names() {
        if let Ok(t) = safetensors_file::tensor(&file, name) {
            // What was read has as many elements as its shape says.
            let t = t.into_owned();
            assert_eq!(t.len(), t.shape().iter().product::<usize>());
            read.push((name.to_string(), t));
        }
    }
    // What was read writes back, and reads again the same.
    let tensors: Vec<(&str, &losslab_registry::Tensor)> = read.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Vec::new();
    safetensors_file::write_to(&mut out, &tensors).expect("writing to memory");
    let again = safetensors_file::parse(&out).expect("reads what it wrote");
    for (name, t) in &read {
        let back = safetensors_file::tensor(&again, name).expect("each tensor written").into_owned();
        assert_eq!(back.shape(), t.shape());
    }
});
