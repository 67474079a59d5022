//! `ShareableList`: Python-like behaviour, cross-process, crash recovery.

mod common;

use std::time::Duration;

use coil_shm::{Error, Item, ShareableList, SharedValue};
use common::{fork_child, kill_and_reap, unique, wait};

#[test]
fn python_example_round_trip() {
    // The example from Python's docs, with our item types.
    let name = unique("sl");
    let items = [
        Item::from("howdy"),
        Item::Bytes(b"HoWdY".to_vec()),
        Item::Float(-273.154),
        Item::Int(100),
        Item::None,
        Item::Bool(true),
        Item::Int(42),
    ];
    let a = ShareableList::create(&name, &items).unwrap();
    assert_eq!(a.to_vec().unwrap(), items);
    assert_eq!(a.get(2).unwrap(), Item::Float(-273.154));
    a.set(2, Item::from("dry ice")).unwrap(); // changing type is fine when it fits
    assert!(matches!(
        a.set(2, Item::from("more than dry ice")),
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(
        a.get(2).unwrap(),
        Item::from("dry ice"),
        "a refused set leaves the old value"
    );
    assert_eq!(a.count(&Item::Int(42)).unwrap(), 1);
    assert_eq!(a.index(&Item::None).unwrap(), Some(4));
    assert_eq!(
        a.get(7).unwrap_err(),
        Error::OutOfBounds { index: 7, len: 7 }
    );
    assert!(matches!(
        a.set(7, Item::None),
        Err(Error::OutOfBounds { .. })
    ));
    let n2 = name.clone();
    let pid = fork_child(move || {
        let b = ShareableList::open(&n2).unwrap();
        b.set(0, Item::from("hi")).unwrap();
        b.set(6, Item::Int(-1)).unwrap();
        0
    });
    assert_eq!(wait(pid), 0);
    assert_eq!(a.get(0).unwrap(), Item::from("hi"));
    assert_eq!(a.get(6).unwrap(), Item::Int(-1));
    a.segment().unlink().unwrap();
}

#[test]
fn bad_input() {
    assert!(matches!(
        ShareableList::anonymous(&[]),
        Err(Error::InvalidSize { .. })
    ));
    let name = unique("slbad");
    let v = SharedValue::create(&name, 0u64).unwrap();
    assert!(matches!(
        ShareableList::open(&name),
        Err(Error::Incompatible(_))
    ));
    v.segment().unlink().unwrap();
}

#[test]
fn writer_killed_inside_the_lock_leaves_list_usable() {
    let l = ShareableList::anonymous(&[Item::from("abcdefgh"), Item::Int(1)]).unwrap();
    let ready = SharedValue::anonymous(0u32).unwrap();
    // The child takes the list's lock through `set` repeatedly; kill it at a
    // random moment, many times. The survivor must always get a valid list.
    for round in 0..20 {
        ready.set(0).unwrap();
        let pid = fork_child(|| {
            ready.atomic().store(1, std::sync::atomic::Ordering::SeqCst);
            loop {
                l.set(0, Item::from("zzzzzzzz")).unwrap();
                l.set(0, Item::Bytes(vec![0xff; 8])).unwrap();
            }
        });
        while ready.atomic().load(std::sync::atomic::Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(Duration::from_micros(100 * (round % 7)));
        kill_and_reap(pid);
        let v = l.to_vec().unwrap();
        assert!(
            matches!(&v[0], Item::Str(_) | Item::Bytes(_) | Item::None),
            "round {round}: {v:?}"
        );
        assert_eq!(v[1], Item::Int(1));
    }
}
