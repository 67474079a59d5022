//! `SharedMemory`: bad input, permissions, cross-process visibility, resize.

mod common;

use coil_shm::{Error, MAX_NAME_LEN, SharedMemory, ShmOptions};
use common::{fork_child, unique, wait};

#[test]
fn size_zero_is_invalid_size() {
    let name = unique("zero");
    assert!(matches!(
        SharedMemory::create(&name, 0),
        Err(Error::InvalidSize { size: 0, .. })
    ));
    assert!(matches!(
        SharedMemory::anonymous(0),
        Err(Error::InvalidSize { .. })
    ));
    assert!(
        matches!(SharedMemory::open(&name), Err(Error::NotFound(_))),
        "failed create left no segment"
    );
}

#[test]
fn size_beyond_system_is_invalid_size() {
    let name = unique("huge");
    assert!(matches!(
        SharedMemory::create(&name, usize::MAX),
        Err(Error::InvalidSize { .. })
    ));
    // Larger than the 47-bit address space: the file may be sparse, the map cannot be.
    assert!(matches!(
        SharedMemory::create(&name, 1 << 60),
        Err(Error::InvalidSize { .. })
    ));
    assert!(
        matches!(SharedMemory::open(&name), Err(Error::NotFound(_))),
        "failed create left no segment"
    );
    assert!(matches!(
        SharedMemory::anonymous(1 << 60),
        Err(Error::InvalidSize { .. })
    ));
}

#[test]
fn bad_names_are_invalid_name() {
    let long = "x".repeat(MAX_NAME_LEN + 1);
    for n in [
        "",
        "/",
        "a/b",
        "/a/b",
        "..",
        ".",
        "sp ace",
        "é",
        long.as_str(),
    ] {
        assert!(
            matches!(SharedMemory::create(n, 8), Err(Error::InvalidName { .. })),
            "{n:?}"
        );
        assert!(
            matches!(SharedMemory::open(n), Err(Error::InvalidName { .. })),
            "{n:?}"
        );
    }
    let ok = "y".repeat(MAX_NAME_LEN);
    let seg = SharedMemory::create(&ok, 8).unwrap();
    seg.unlink().unwrap();
}

#[test]
fn create_is_exclusive_and_open_missing_is_not_found() {
    let name = unique("excl");
    let seg = SharedMemory::create(&name, 64).unwrap();
    assert_eq!(
        SharedMemory::create(&name, 64).unwrap_err(),
        Error::AlreadyExists(name.clone())
    );
    seg.unlink().unwrap();
    assert_eq!(
        SharedMemory::open(&name).unwrap_err(),
        Error::NotFound(name.clone())
    );
    assert_eq!(seg.unlink().unwrap_err(), Error::NotFound(name));
}

#[test]
fn view_larger_than_segment_is_invalid_size() {
    let name = unique("view");
    let seg = SharedMemory::create(&name, 4096).unwrap();
    assert!(matches!(
        SharedMemory::open_view(&name, 4097),
        Err(Error::InvalidSize { size: 4097, .. })
    ));
    assert!(matches!(
        SharedMemory::open_view(&name, 0),
        Err(Error::InvalidSize { .. })
    ));
    assert_eq!(SharedMemory::open_view(&name, 4096).unwrap().len(), 4096);
    let (small, created) = (SharedMemory::create_or_open(&name, 8192), false);
    assert!(!created && matches!(small, Err(Error::InvalidSize { .. })));
    seg.unlink().unwrap();
}

#[test]
fn out_of_bounds_copy_is_typed() {
    let seg = SharedMemory::anonymous(16).unwrap();
    assert_eq!(
        seg.write_at(10, &[0; 7]).unwrap_err(),
        Error::OutOfBounds { index: 17, len: 16 }
    );
    let mut b = [0; 1];
    assert!(matches!(
        seg.read_at(usize::MAX, &mut b),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(seg.unlink(), Err(Error::Unsupported(_))));
}

#[test]
fn created_mode_is_0600_and_options_apply() {
    let name = unique("mode");
    let seg = SharedMemory::create(&name, 8).unwrap();
    assert_eq!(seg.mode().unwrap(), 0o600);
    let meta = std::fs::metadata(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    seg.unlink().unwrap();
    let seg = SharedMemory::create_with(&name, 8, &ShmOptions::new().mode(0o644)).unwrap();
    assert_eq!(seg.mode().unwrap(), 0o644);
    seg.unlink().unwrap();
}

#[test]
fn name_is_stored_without_slash_and_slash_prefix_is_accepted() {
    let name = unique("slash");
    let seg = SharedMemory::create(&format!("/{name}"), 8).unwrap();
    assert_eq!(seg.name(), Some(name.as_str()));
    let other = SharedMemory::open(&name).unwrap();
    assert_eq!(other.len(), 8);
    coil_shm::unlink(&name).unwrap();
}

#[test]
fn unlink_on_drop_removes_name_plain_drop_does_not() {
    let name = unique("drop");
    drop(SharedMemory::create(&name, 8).unwrap());
    let mut seg = SharedMemory::open(&name).unwrap();
    seg.set_unlink_on_drop(true);
    drop(seg);
    assert!(matches!(SharedMemory::open(&name), Err(Error::NotFound(_))));
}

#[test]
fn child_writes_parent_reads_named() {
    let name = unique("xproc");
    let seg = SharedMemory::create(&name, 4096).unwrap();
    let n2 = name.clone();
    let pid = fork_child(move || {
        let s = SharedMemory::open(&n2).unwrap();
        s.write_at(100, b"from the child").unwrap();
        0
    });
    assert_eq!(wait(pid), 0);
    let mut b = [0u8; 14];
    seg.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"from the child");
    seg.unlink().unwrap();
}

#[test]
fn anonymous_is_shared_with_forked_child() {
    let seg = SharedMemory::anonymous(64).unwrap();
    let pid = fork_child(|| {
        seg.write_at(0, &[42; 8]).unwrap();
        0
    });
    assert_eq!(wait(pid), 0);
    let mut b = [0u8; 8];
    seg.read_at(0, &mut b).unwrap();
    assert_eq!(b, [42; 8]);
}

#[test]
fn resize_grows_and_keeps_data_and_openers_see_new_size() {
    let name = unique("resize");
    let mut seg = SharedMemory::create(&name, 4096).unwrap();
    seg.write_at(4000, b"tail").unwrap();
    seg.resize(1 << 20).unwrap();
    assert_eq!(seg.len(), 1 << 20);
    seg.write_at((1 << 20) - 1, b"!").unwrap();
    let other = SharedMemory::open(&name).unwrap();
    assert_eq!(other.len(), 1 << 20);
    let mut b = [0u8; 4];
    other.read_at(4000, &mut b).unwrap();
    assert_eq!(&b, b"tail");
    assert!(matches!(seg.resize(0), Err(Error::InvalidSize { .. })));
    seg.unlink().unwrap();
}
