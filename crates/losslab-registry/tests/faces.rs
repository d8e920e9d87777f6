//! The registry and the library's framework faces name the same losses: every
//! `framework:name` of the registry is `losslab::<framework>::name` (and its
//! `NAMES`), and the crate root's unqualified names resolve as `losslab eval`
//! resolves them.

use losslab_registry::{catalog, resolve, Framework};
use std::collections::{BTreeMap, BTreeSet};

fn face(framework: Framework) -> &'static [&'static str] {
    match framework {
        Framework::Torch => losslab::torch::NAMES,
        Framework::Torchvision => losslab::torchvision::NAMES,
        Framework::Torchaudio => losslab::torchaudio::NAMES,
        Framework::Tf => losslab::tf::NAMES,
        Framework::Keras => losslab::keras::NAMES,
        Framework::Optax => losslab::optax::NAMES,
        Framework::Scipy => losslab::scipy::NAMES,
        Framework::Trl => losslab::trl::NAMES,
        Framework::OpenClip => losslab::open_clip::NAMES,
        Framework::Pml => losslab::pml::NAMES,
        Framework::Diffusers => losslab::diffusers::NAMES,
        Framework::Losslab => losslab::own::NAMES,
    }
}

#[test]
fn every_face_names_its_frameworks_registry_losses() {
    for framework in Framework::ALL {
        let registry: BTreeSet<&str> = catalog().iter().filter(|s| s.framework == framework).map(|s| s.name).collect();
        let library: BTreeSet<&str> = face(framework).iter().copied().collect();
        assert_eq!(face(framework).len(), library.len(), "{framework}: a name twice in the face");
        let only_registry: Vec<_> = registry.difference(&library).collect();
        let only_library: Vec<_> = library.difference(&registry).collect();
        assert!(
            only_registry.is_empty() && only_library.is_empty(),
            "{framework}: in the registry only {only_registry:?}; in losslab::{framework} only {only_library:?}"
        );
    }
}

#[test]
fn the_root_resolves_names_as_the_registry_does() {
    let root: BTreeMap<&str, &str> = losslab::ROOT_NAMES.iter().copied().collect();
    assert_eq!(root.len(), losslab::ROOT_NAMES.len(), "a root name twice");
    let unqualified: BTreeSet<&str> = catalog().iter().map(|s| s.name).collect();
    assert_eq!(root.keys().copied().collect::<BTreeSet<_>>(), unqualified, "the root's names against the registry's");
    for name in unqualified {
        let spec = resolve(name).unwrap();
        assert_eq!(root[name], spec.framework.name(), "losslab::{name} against `losslab eval {name}`");
    }
}
